"""The gRPC bridge: service, scene store, jobs, auth and the ``serve`` command.

A thin layer over the library stages (``ex4d_bridge.scene``, ``geometry``, ``camera``,
``video``, ``generation``): it validates and converts wire messages and schedules work; no
geometry or model code lives here. Importing this package does not import grpc; use
``ex4d_bridge.server.app`` for the server itself.
"""
