"""The gRPC-Web gateway over real HTTP on loopback, in front of a real Bridge server: the same
messages as native gRPC, the server's token, status codes in trailers, size limits, loopback
Host names only, static files; and ``ex4d-bridge view``'s argument handling."""

from __future__ import annotations

import http.client
import json

import grpc
import pytest

pytest.importorskip("aiohttp")

from ex4d_bridge.depth import KnownDepth  # noqa: E402
from ex4d_bridge.errors import Ex4dError  # noqa: E402
from ex4d_bridge.scene import reconstruct  # noqa: E402
from ex4d_bridge.synthetic import SyntheticScene  # noqa: E402
from ex4d_bridge.web import grpcweb  # noqa: E402
from ex4d_bridge.web.command import LocalScene, page_url  # noqa: E402
from ex4d_bridge.web.descriptor import contract_json  # noqa: E402
from ex4d_bridge.web.gateway import GatewayThread, WebConfig  # noqa: E402
from ex4d_bridge.wire import bridge_pb2_grpc, geometry_pb2, scenes_pb2  # noqa: E402

TOKEN = "gateway-test-token"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    s = SyntheticScene(48, 32, 3)
    scene = reconstruct(
        s.frames(), KnownDepth(s.depths()), intrinsics=s.intrinsics, fps=s.fps, progress=False
    )
    d = tmp_path_factory.mktemp("scene") / "scene"
    scene.save(d)
    local = LocalScene(d, None, TOKEN).start()
    config = WebConfig(target=local.target, port=0, token=TOKEN, max_request_bytes=64 * 1024)
    try:
        with GatewayThread(config) as gw:
            yield {"gw": gw, "local": local}
    finally:
        local.stop()


def post(gw, method: str, body: bytes, *, token=TOKEN, host=None, ctype=None):
    """(HTTP status, headers, messages, trailers) of one gRPC-Web call."""
    conn = http.client.HTTPConnection("127.0.0.1", gw.gateway.port, timeout=30)
    headers = {"Content-Type": ctype or "application/grpc-web+proto"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if host:
        headers["Host"] = host
    conn.request("POST", f"/ex4d.v1.Bridge/{method}", body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    if resp.status != 200:
        return resp.status, dict(resp.getheaders()), [], {}
    messages, trailers = grpcweb.parse_frames(data)
    return resp.status, dict(resp.getheaders()), messages, trailers


def native(served):
    channel = grpc.insecure_channel(served["local"].target)
    return channel, bridge_pb2_grpc.BridgeStub(channel), [("authorization", f"Bearer {TOKEN}")]


def test_unary_and_streaming_calls_carry_the_servers_messages(served):
    gw, scene_id = served["gw"], served["local"].scene_id
    req = scenes_pb2.GetSceneRequest(scene_id=scene_id).SerializeToString()
    status, headers, messages, trailers = post(gw, "GetScene", grpcweb.frame(req))
    assert status == 200 and headers["Content-Type"].startswith("application/grpc-web")
    assert trailers["grpc-status"] == "0" and len(messages) == 1
    channel, stub, md = native(served)
    with channel:
        want = stub.GetScene(scenes_pb2.GetSceneRequest(scene_id=scene_id), metadata=md)
        assert scenes_pb2.SceneInfo.FromString(messages[0]) == want
        req = geometry_pb2.StreamGeometryRequest(scene_id=scene_id)
        want_frames = list(stub.StreamGeometry(req, metadata=md))
    _, _, messages, trailers = post(gw, "StreamGeometry", grpcweb.frame(req.SerializeToString()))
    assert trailers["grpc-status"] == "0" and len(messages) == len(want_frames) == 3
    for got, want in zip(messages, want_frames, strict=True):
        g = geometry_pb2.MeshFrame.FromString(got)
        g.ClearField("timings")
        want.ClearField("timings")
        assert g == want


def test_errors_arrive_as_grpc_status_trailers(served):
    gw = served["gw"]
    ok = grpcweb.frame(scenes_pb2.ListScenesRequest().SerializeToString())
    assert post(gw, "ListScenes", ok)[3]["grpc-status"] == "0"
    # No token, a wrong token: UNAUTHENTICATED, before anything is forwarded.
    for token in (None, "wrong-token-123"):
        trailers = post(gw, "ListScenes", ok, token=token)[3]
        assert trailers["grpc-status"] == str(grpc.StatusCode.UNAUTHENTICATED.value[0])
    # The server's own validation, status and message passed through.
    bad = grpcweb.frame(scenes_pb2.GetSceneRequest(scene_id="nope").SerializeToString())
    trailers = post(gw, "GetScene", bad)[3]
    assert trailers["grpc-status"] == str(grpc.StatusCode.INVALID_ARGUMENT.value[0])
    assert "scene id" in trailers["grpc-message"]
    # Streaming requests cannot come from a browser; unknown methods are unknown.
    for method in ("UploadScene", "View", "Nope"):
        trailers = post(gw, method, ok)[3]
        assert trailers["grpc-status"] == str(grpc.StatusCode.UNIMPLEMENTED.value[0]), method
    # Not one well-formed frame.
    for body in (b"", b"\x00\x00\x00\x00\x09abc", ok + ok, b"\x01" + ok[1:]):
        trailers = post(gw, "ListScenes", body)[3]
        assert trailers["grpc-status"] == str(grpc.StatusCode.INVALID_ARGUMENT.value[0]), body
    # Over the request limit (64 KiB here): RESOURCE_EXHAUSTED or a refused body, never parsed.
    big = grpcweb.frame(scenes_pb2.GetSceneRequest(scene_id="a" * 100_000).SerializeToString())
    status, _, _, trailers = post(gw, "GetScene", big)
    assert status == 413 or trailers["grpc-status"] == str(
        grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    )
    assert post(gw, "ListScenes", ok, ctype="application/json")[0] == 415


def test_loopback_names_only_and_static_files(served):
    gw = served["gw"]
    port = gw.gateway.port
    ok = grpcweb.frame(scenes_pb2.ListScenesRequest().SerializeToString())
    # A rebinding attacker's page sends its own host name.
    assert post(gw, "ListScenes", ok, host=f"evil.example:{port}")[0] == 421
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        assert post(gw, "ListScenes", ok, host=host)[3]["grpc-status"] == "0"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for path, ctype in (("/", "text/html"), ("/worker.js", "text/javascript")):
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200 and resp.getheader("Content-Type").startswith(ctype), path
    for path in ("/../gateway.py", "/%2e%2e/gateway.py", "/nope.js"):
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 404, path
    conn.request("GET", "/contract.json")
    resp = conn.getresponse()
    assert json.loads(resp.read()) == json.loads(json.dumps(contract_json()))
    conn.close()


def test_contract_json_names_every_message_field():
    from ex4d_bridge.wire import geometry_pb2

    v1 = contract_json()["nested"]["ex4d"]["nested"]["v1"]["nested"]
    fields = v1["MeshFrame"]["fields"]
    for f in geometry_pb2.MeshFrame.DESCRIPTOR.fields:
        camel = "".join(p.capitalize() if i else p for i, p in enumerate(f.name.split("_")))
        assert fields[camel]["id"] == f.number
    assert fields["layers"] == {
        "type": ".ex4d.v1.CompletionLayerFrame",
        "id": 14,
        "rule": "repeated",
    }
    assert v1["Bridge"]["methods"]["StreamGeometry"]["responseStream"] is True


def test_config_and_command_refusals(tmp_path):
    with pytest.raises(Ex4dError, match="without a token"):
        WebConfig(target="127.0.0.1:1", host="0.0.0.0").validate()
    with pytest.raises(Ex4dError, match="go together"):
        WebConfig(target="x:1", tls_cert=tmp_path / "c.pem").validate()
    from ex4d_bridge.cli import main

    assert main(["view", str(tmp_path)]) == 2  # a folder without scene.json
    assert main(["view", "not a path or address"]) == 2
    url = page_url("http://127.0.0.1:8080/", "ab" * 16, "tok", "color=png")
    assert url == f"http://127.0.0.1:8080/?color=png#scene={'ab' * 16}&token=tok"
