from ex4d.v1 import common_pb2 as _common_pb2
from ex4d.v1 import geometry_pb2 as _geometry_pb2
from ex4d.v1 import jobs_pb2 as _jobs_pb2
from ex4d.v1 import scenes_pb2 as _scenes_pb2
from ex4d.v1 import view_pb2 as _view_pb2
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
