"""Denial of service over loopback (issue 13 item 1), with raw HTTP/2 streams written by hand
(no gRPC library on the attacking side) and real clients: calls that never finish their first
message, unauthenticated calls and idle View streams must not lock out token holders or
health checks."""

import socket
import struct
import threading
import time

import grpc
import numpy as np
import pytest

from ex4d_bridge.client import BridgeClient
from ex4d_bridge.server.app import ServerThread
from ex4d_bridge.server.config import ServerConfig
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.video import write_video
from ex4d_bridge.wire import view_pb2

TOKEN = "dos-test-token-0123456789"
SLOTS = 8
STREAMS_PER_CONNECTION = 16


# -- a hand-written HTTP/2 client ---------------------------------------------------------


def _frame(ftype: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes([ftype, flags])
        + struct.pack(">I", stream)
        + payload
    )


def _literal(name: str, value: str) -> bytes:
    # HPACK "literal header field without indexing, new name", no Huffman coding.
    n, v = name.encode(), value.encode()
    assert len(n) < 127 and len(v) < 127
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v


class RawConnection:
    """One HTTP/2 connection that opens gRPC calls whose message never arrives whole."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _frame(4, 0, 0))
        self.next_id = 1
        self.port = port

    def truncated_call(self, method: str, token: str | None = None) -> None:
        """Headers, then 5 bytes of a message declaring 1000, then half-close."""
        headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", method),
            (":authority", f"127.0.0.1:{self.port}"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ]
        if token:
            headers.append(("authorization", f"Bearer {token}"))
        block = b"".join(_literal(k, v) for k, v in headers)
        sid, self.next_id = self.next_id, self.next_id + 2
        prefix = struct.pack(">BI", 0, 1000)  # uncompressed, 1000 bytes declared
        self.sock.sendall(_frame(1, 0x4, sid, block) + _frame(0, 0x1, sid, prefix))

    def server_settings(self) -> dict[int, int]:
        """The SETTINGS the server sent first."""
        buf = b""
        while True:
            while len(buf) < 9:
                buf += self.sock.recv(65536)
            length = int.from_bytes(buf[:3], "big")
            while len(buf) < 9 + length:
                buf += self.sock.recv(65536)
            ftype, flags, payload = buf[3], buf[4], buf[9 : 9 + length]
            buf = buf[9 + length :]
            if ftype == 4 and not flags & 0x1:
                return {
                    int.from_bytes(payload[i : i + 2], "big"): int.from_bytes(
                        payload[i + 2 : i + 6], "big"
                    )
                    for i in range(0, len(payload), 6)
                }

    def close(self) -> None:
        self.sock.close()


def attack(port: int, n: int, method: str, token: str | None = None) -> list[RawConnection]:
    conns = [RawConnection(port) for _ in range(-(-n // STREAMS_PER_CONNECTION))]
    for i in range(n):
        conns[i // STREAMS_PER_CONNECTION].truncated_call(method, token)
    time.sleep(0.3)  # let the server take them all in
    return conns


# -- fixtures -------------------------------------------------------------------------------


def config(tmp, **kw) -> ServerConfig:
    base = dict(
        port=0,
        data_dir=tmp,
        max_concurrent_rpcs=SLOTS,
        max_streams_per_connection=STREAMS_PER_CONNECTION,
        first_message_s=1.0,
        stream_idle_s=1.0,
        render_workers=2,
    )
    return ServerConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    with ServerThread(config(tmp_path_factory.mktemp("sec"), token=TOKEN)) as srv:
        yield srv


@pytest.fixture(scope="module")
def open_server(tmp_path_factory):
    with ServerThread(config(tmp_path_factory.mktemp("open"))) as srv:
        yield srv


@pytest.fixture(scope="module")
def scene_id(open_server, tmp_path_factory):
    s = SyntheticScene(32, 32, 3)
    d = tmp_path_factory.mktemp("media")
    video = write_video(d / "clip.mp4", s.frames(), s.fps)
    np.save(d / "depth.npy", s.depths())
    with BridgeClient(open_server.target, progress=False) as c:
        return c.upload_scene(video, depth=d / "depth.npy", intrinsics=s.intrinsics).scene_id


def code_of(fn, *args, **kwargs):
    with pytest.raises(grpc.RpcError) as err:
        r = fn(*args, **kwargs)
        if hasattr(r, "__next__"):
            list(r)
    return err.value.code(), err.value.details()


# -- tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong-token-123"])
def test_unauthenticated_truncated_streams_lock_nobody_out(secured, token):
    """5 x the slots in streams declaring 1000 bytes and sending 5 (no token or a wrong one):
    today they fill gRPC's call limit and everyone, health included, gets RESOURCE_EXHAUSTED."""
    conns = attack(secured.port, 5 * SLOTS, "/ex4d.v1.Bridge/ListScenes", token)
    conns += attack(secured.port, SLOTS, "/grpc.health.v1.Health/Check", token)
    try:
        with BridgeClient(secured.target, token=TOKEN, progress=False, timeout=5) as c:
            assert c.health() == "SERVING"
            assert c.list_scenes() == []
        assert secured.server.slots.active == 0
    finally:
        for conn in conns:
            conn.close()


def test_authenticated_truncated_streams_hold_no_slot_and_time_out(secured):
    conns = attack(secured.port, 3 * SLOTS, "/ex4d.v1.Bridge/ListScenes", TOKEN)
    try:
        with BridgeClient(secured.target, token=TOKEN, progress=False, timeout=5) as c:
            assert c.health() == "SERVING" and c.list_scenes() == []
            # A real client whose first message never comes is closed after first_message_s.
            never = threading.Event()

            def silent():
                never.wait(10)
                yield view_pb2.ViewRequest()

            t0 = time.perf_counter()
            code, details = code_of(c.stub.View, silent(), metadata=c.metadata, timeout=10)
            never.set()
            assert code == grpc.StatusCode.DEADLINE_EXCEEDED and "1 s" in details
            assert time.perf_counter() - t0 < 5
    finally:
        for conn in conns:
            conn.close()


def test_connections_advertise_a_stream_limit(secured):
    conn = RawConnection(secured.port)
    try:
        assert conn.server_settings().get(0x3) == STREAMS_PER_CONNECTION  # MAX_CONCURRENT_STREAMS
    finally:
        conn.close()


def test_idle_view_streams_are_closed_and_free_their_slots(open_server, scene_id):
    with BridgeClient(open_server.target, progress=False, timeout=5) as c:
        sessions = [c.view_session(scene_id, 32, 32) for _ in range(SLOTS)]
        for s in sessions:
            s.send(np.eye(4))
            s.receive()
        # Every slot is held by a View stream now: the next call is refused at once, health
        # is still answered.
        assert open_server.server.slots.active == SLOTS
        code, details = code_of(c.list_scenes)
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "busy" in details
        assert c.health() == "SERVING"
        # Idle for stream_idle_s (1 s): each stream is closed with DEADLINE_EXCEEDED.
        for s in sessions:
            with pytest.raises(grpc.RpcError) as err:
                s.receive()
            assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "idle" in err.value.details()
        deadline = time.time() + 5
        while open_server.server.slots.active and time.time() < deadline:
            time.sleep(0.05)
        assert open_server.server.slots.active == 0
        assert [s.scene_id for s in c.list_scenes()] == [scene_id]


def test_a_stream_that_keeps_sending_stays_open(open_server, scene_id):
    with BridgeClient(open_server.target, progress=False, timeout=5) as c:
        with c.view_session(scene_id, 32, 32) as s:
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 2.5:  # 2.5 x the idle timeout
                s.send(np.eye(4))
                s.receive()
                time.sleep(0.2)


def test_health_probes_turn_health_not_serving_and_back(open_server):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    broken = {"reason": "the test broke it"}
    with BridgeClient(open_server.target, progress=False, timeout=5) as c:
        watch = health_pb2_grpc.HealthStub(c.channel).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=20
        )
        status = health_pb2.HealthCheckResponse.ServingStatus.Name
        assert status(next(watch).status) == "SERVING"
        open_server.server.add_health_probe("test part", lambda: broken["reason"])
        assert status(next(watch).status) == "NOT_SERVING"  # watchers hear of it too
        watch.cancel()
    try:
        with BridgeClient(open_server.target, progress=False, timeout=5) as c:
            deadline = time.time() + 5
            while c.health() != "NOT_SERVING" and time.time() < deadline:
                time.sleep(0.1)
            assert c.health() == "NOT_SERVING"
            broken["reason"] = None
            deadline = time.time() + 5
            while c.health() != "SERVING" and time.time() < deadline:
                time.sleep(0.1)
            assert c.health() == "SERVING"
    finally:
        open_server.server._probes.pop("test part")
