"""Token authentication on every call, TLS, and the refusal to listen openly."""

import datetime
import ipaddress

import grpc
import pytest

from ex4d_bridge.client import BridgeClient
from ex4d_bridge.errors import Ex4dError
from ex4d_bridge.server.app import BridgeServer, ServerThread
from ex4d_bridge.server.config import ServerConfig

TOKEN = "test-token-0123456789"


def _code(fn, *args):
    with pytest.raises(grpc.RpcError) as err:
        fn(*args)
    return err.value.code()


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    config = ServerConfig(port=0, data_dir=tmp_path_factory.mktemp("d"), token=TOKEN)
    with ServerThread(config) as srv:
        yield srv


def test_every_call_needs_the_token(secured):
    with BridgeClient(secured.target, progress=False) as anon:
        assert _code(anon.list_scenes) == grpc.StatusCode.UNAUTHENTICATED
        assert _code(anon.health) == grpc.StatusCode.UNAUTHENTICATED  # health too, by default
        assert _code(anon.get_scene, "0" * 32) == grpc.StatusCode.UNAUTHENTICATED
    with BridgeClient(secured.target, token="wrong-token-123", progress=False) as wrong:
        assert _code(wrong.list_scenes) == grpc.StatusCode.UNAUTHENTICATED
    with BridgeClient(secured.target, token=TOKEN, progress=False) as ok:
        assert ok.health() == "SERVING" and ok.list_scenes() == []


def test_unauthenticated_garbage_is_never_parsed(secured):
    with grpc.insecure_channel(secured.target) as ch:
        call = ch.stream_stream("/ex4d.v1.Bridge/View")
        with pytest.raises(grpc.RpcError) as err:
            list(call(iter([b"\xff\xff\xff"]), timeout=10))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_open_health_leaves_only_health_open(tmp_path):
    config = ServerConfig(port=0, data_dir=tmp_path, token=TOKEN, open_health=True)
    with ServerThread(config) as srv, BridgeClient(srv.target, progress=False) as anon:
        assert anon.health() == "SERVING"
        assert _code(anon.list_scenes) == grpc.StatusCode.UNAUTHENTICATED


def test_non_loopback_without_token_is_refused_at_start(tmp_path):
    with pytest.raises(Ex4dError, match="without a token"):
        BridgeServer(ServerConfig(host="0.0.0.0", port=0, data_dir=tmp_path))


def _self_signed(tmp_path):
    crypto = pytest.importorskip("cryptography")  # noqa: F841 - needed to make the test cert
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_with_token(tmp_path):
    cert, key = _self_signed(tmp_path)
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "d",
        token=TOKEN,
        tls_cert=cert,
        tls_key=key,
    )
    with ServerThread(config) as srv:
        target = f"localhost:{srv.port}"
        with BridgeClient(target, token=TOKEN, root_certificates=cert, progress=False) as c:
            assert c.health() == "SERVING" and c.list_scenes() == []
        with BridgeClient(target, token=TOKEN, progress=False, timeout=5) as plain:
            assert _code(plain.list_scenes) == grpc.StatusCode.UNAVAILABLE  # no plaintext
