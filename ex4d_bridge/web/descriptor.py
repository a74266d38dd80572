"""The ``ex4d.v1`` contract as protobufjs JSON, made from the installed generated code, so the
page decodes exactly the messages this package speaks (no second copy of the schema to drift)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor, FileDescriptor

from ..wire import bridge_pb2

_SCALARS = {
    FieldDescriptor.TYPE_DOUBLE: "double",
    FieldDescriptor.TYPE_FLOAT: "float",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_UINT64: "uint64",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_FIXED64: "fixed64",
    FieldDescriptor.TYPE_FIXED32: "fixed32",
    FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_SFIXED32: "sfixed32",
    FieldDescriptor.TYPE_SFIXED64: "sfixed64",
    FieldDescriptor.TYPE_SINT32: "sint32",
    FieldDescriptor.TYPE_SINT64: "sint64",
}


def _type_name(f: FieldDescriptor) -> str:
    if f.message_type is not None:
        return "." + f.message_type.full_name
    if f.enum_type is not None:
        return "." + f.enum_type.full_name
    return _SCALARS[f.type]


def js_name(name: str) -> str:
    """protobufjs's field naming (``scene_id`` -> ``sceneId``), as its .proto parser uses."""
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def _enum(e: EnumDescriptor) -> dict[str, Any]:
    return {"values": {v.name: v.number for v in e.values}}


def _message(m: Descriptor) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for f in m.fields:
        entry: dict[str, Any] = {"type": _type_name(f), "id": f.number}
        if f.is_repeated:
            entry["rule"] = "repeated"
        fields[js_name(f.name)] = entry
    out: dict[str, Any] = {"fields": fields}
    nested = {e.name: _enum(e) for e in m.enum_types}
    nested.update({n.name: _message(n) for n in m.nested_types})
    if nested:
        out["nested"] = nested
    oneofs = {o.name: {"oneof": [js_name(f.name) for f in o.fields]} for o in m.oneofs}
    if oneofs:
        out["oneofs"] = oneofs
    return out


def _files(root: FileDescriptor) -> list[FileDescriptor]:
    seen: dict[str, FileDescriptor] = {}
    stack = [root]
    while stack:
        f = stack.pop()
        if f.name not in seen:
            seen[f.name] = f
            stack.extend(f.dependencies)
    return [f for f in seen.values() if f.package == "ex4d.v1"]


@lru_cache(maxsize=1)
def contract_json() -> dict[str, Any]:
    """``{"nested": {"ex4d": {"nested": {"v1": {"nested": {...}}}}}}`` (camelCase field names) for
    ``protobuf.Root.fromJSON``: every message and enum of package ``ex4d.v1`` and the Bridge
    service's methods."""
    types: dict[str, Any] = {}
    for f in _files(bridge_pb2.DESCRIPTOR):
        types.update({e.name: _enum(e) for e in f.enum_types_by_name.values()})
        types.update({m.name: _message(m) for m in f.message_types_by_name.values()})
        for s in f.services_by_name.values():
            methods = {
                m.name: {
                    "requestType": "." + m.input_type.full_name,
                    "responseType": "." + m.output_type.full_name,
                    **({"requestStream": True} if m.client_streaming else {}),
                    **({"responseStream": True} if m.server_streaming else {}),
                }
                for m in s.methods
            }
            types[s.name] = {"methods": methods}
    return {"nested": {"ex4d": {"nested": {"v1": {"nested": types}}}}}
