"""The generated code in the package is what grpcio-tools makes of proto/ex4d/v1 today."""

import filecmp
import importlib.metadata
from pathlib import Path

from google.protobuf import descriptor_pb2

from ex4d_bridge.wire import bridge_pb2, common_pb2, protogen


def test_regenerating_the_contract_changes_nothing(tmp_path):
    written = protogen.generate(tmp_path)
    assert {p.name for p in written} >= {"bridge_pb2.py", "bridge_pb2_grpc.py", "view_pb2.pyi"}
    for rel in written:
        ours = protogen.PACKAGE_ROOT / rel
        assert ours.is_file(), f"{rel} is missing from the package: run protogen"
        assert filecmp.cmp(tmp_path / rel, ours, shallow=False), (
            f"{rel} differs from a fresh generation with grpcio-tools "
            f"{importlib.metadata.version('grpcio-tools')}: run `python -m "
            "ex4d_bridge.wire.protogen` and commit the result"
        )
    present = {
        p.relative_to(protogen.PACKAGE_ROOT)
        for p in (protogen.PACKAGE_ROOT / protogen.PROTO_PACKAGE_DIR).iterdir()
        if p.name.endswith(protogen.GENERATED_SUFFIXES)
    }
    assert present == set(written), "stale generated files in the package"
    assert protogen.stale_files() == []


def test_the_loaded_descriptors_are_the_proto_files(tmp_path):
    # Independent of the generator's version: the descriptor the package registers equals the
    # one protoc builds from the .proto sources.
    from grpc_tools import protoc

    out = tmp_path / "set.pb"
    root = protogen.PROTO_ROOT
    files = [str(p.relative_to(root)) for p in protogen.proto_files()]
    assert protoc.main(["protoc", f"-I{root}", f"--descriptor_set_out={out}", *files]) == 0
    fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    by_name = {f.name: _without_json_names(f) for f in fds.file}
    for module in (bridge_pb2, common_pb2):
        loaded = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(loaded)
        assert loaded == by_name[module.DESCRIPTOR.name]


def _without_json_names(f):
    # protoc fills json_name; descriptors copied out of the runtime leave it empty.
    def clear(messages):
        for m in messages:
            for fld in m.field:
                fld.ClearField("json_name")
            clear(m.nested_type)

    clear(f.message_type)
    return f


def test_contract_lives_in_package_ex4d_v1():
    assert bridge_pb2.DESCRIPTOR.package == "ex4d.v1"
    methods = set(bridge_pb2.DESCRIPTOR.services_by_name["Bridge"].methods_by_name)
    assert {
        "UploadScene",
        "ListScenes",
        "GetScene",
        "DeleteScene",
        "StreamGeometry",
        "ExportMesh",
        "View",
        "SubmitGeneration",
        "WatchJob",
        "CancelJob",
        "RecordWalkthrough",
    } <= methods
    assert Path(protogen.PROTO_ROOT / "ex4d" / "v1" / "bridge.proto").is_file()
