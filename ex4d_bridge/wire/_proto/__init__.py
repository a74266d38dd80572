"""Generated code of the wire contract (``proto/ex4d/v1``), regenerated with
``python -m ex4d_bridge.wire.protogen``.

protoc writes bare imports (``from ex4d.v1 import common_pb2``), so the generated tree sits here
laid out by proto package and this folder goes on ``sys.path``. Import the modules only through
``ex4d_bridge.wire._proto`` (or as ``ex4d.v1.*`` after importing it), never as
``ex4d_bridge.wire._proto.ex4d.v1.*``: a second import name would register the descriptors
twice.
"""

from __future__ import annotations

import os
import sys

_ROOT = os.path.dirname(os.path.abspath(__file__))
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

from ex4d.v1 import (  # noqa: E402
    bridge_pb2,
    bridge_pb2_grpc,
    common_pb2,
    geometry_pb2,
    jobs_pb2,
    scenes_pb2,
    view_pb2,
)

__all__ = [
    "bridge_pb2",
    "bridge_pb2_grpc",
    "common_pb2",
    "geometry_pb2",
    "jobs_pb2",
    "scenes_pb2",
    "view_pb2",
]
