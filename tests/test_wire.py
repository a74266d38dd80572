"""Wire conversions: depth codecs against their stated error bounds, bits, images, poses."""

import math

import numpy as np
import pytest

from ex4d_bridge import wire
from ex4d_bridge.camera import CoordinateSystem, Intrinsics, convert_pose, look_at
from ex4d_bridge.errors import InputError
from ex4d_bridge.geometry import build_dw_mesh
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.wire import common_pb2 as pb


@pytest.fixture(scope="module")
def mesh():
    s = SyntheticScene(64, 48, 3)
    return build_dw_mesh(s.depths()[1], s.frames()[1], s.intrinsics)


def test_uint16_depth_stays_within_the_stated_bound(mesh):
    msg = wire.encode_depth(mesh.depth, pb.DEPTH_ENCODING_UINT16_INVERSE, mesh.far_depth)
    back = wire.decode_depth(msg)
    far_px = mesh.depth == np.float32(mesh.far_depth)
    assert far_px.any() and np.array_equal(back[far_px], mesh.depth[far_px])  # exact far codes
    valid = ~far_px
    assert msg.near == mesh.depth[valid].min() and msg.far == mesh.depth[valid].max()
    rel = np.abs(back[valid].astype(np.float64) - mesh.depth[valid]) / mesh.depth[valid]
    bound = wire.uint16_error_bound(msg.near, msg.far)
    assert bound == pytest.approx((msg.far / msg.near - 1) / 131068)
    assert rel.max() <= bound + 2**-23
    assert rel.max() > bound / 4  # the bound is tight, not a loose guess


def test_float_depth_encodings(mesh):
    d = mesh.depth
    exact = wire.decode_depth(wire.encode_depth(d, pb.DEPTH_ENCODING_FLOAT32, mesh.far_depth))
    assert np.array_equal(exact, d)
    half = wire.decode_depth(wire.encode_depth(d, pb.DEPTH_ENCODING_FLOAT16, mesh.far_depth))
    assert np.max(np.abs(half - d) / d) <= 2**-11
    too_deep = np.full((4, 4), 1e6, np.float32)
    with pytest.raises(InputError, match="float16"):
        wire.encode_depth(too_deep, pb.DEPTH_ENCODING_FLOAT16)


def test_gradient_predictor_round_trips_any_codes_and_flattens_planes():
    rng = np.random.default_rng(0)
    q = rng.integers(0, 65536, (37, 53), dtype=np.int64).astype(np.uint16)
    assert np.array_equal(wire.gradient_restore(wire.gradient_residual(q)), q)
    i, j = np.mgrid[0:40, 0:50]
    plane = (1000 + 7 * i + 3 * j).astype(np.uint16)
    r = wire.gradient_residual(plane)
    assert np.count_nonzero(r[1:, 1:]) == 0


def test_view_depth_uses_inf_for_empty_pixels():
    d = np.array([[1.0, np.inf], [2.0, 3.0]], np.float32)
    back = wire.decode_depth(wire.encode_depth(d))
    assert np.isinf(back[0, 1]) and np.allclose(back[np.isfinite(d)], d[np.isfinite(d)], rtol=1e-4)


def test_bits_and_images_round_trip():
    rng = np.random.default_rng(1)
    bits = rng.random(1001) < 0.3
    for compress in (True, False):
        assert np.array_equal(wire.unpack_bits(wire.pack_bits(bits, compress)), bits)
    # Bit order is numpy.packbits' (most significant bit first), as the contract says.
    raw = wire.pack_bits(np.array([1, 0, 0, 0, 0, 0, 0, 1, 1], bool), compress=False)
    assert raw.data == bytes([0b10000001, 0b10000000])
    img = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert np.array_equal(wire.decode_image(wire.encode_image(img, pb.IMAGE_ENCODING_RAW_RGB)), img)
    assert np.array_equal(wire.decode_image(wire.encode_image(img, pb.IMAGE_ENCODING_PNG)), img)
    smooth = np.repeat(np.linspace(0, 255, 30, dtype=np.uint8)[None, :, None], 20, 0).repeat(3, 2)
    jpeg = wire.decode_image(wire.encode_image(smooth, pb.IMAGE_ENCODING_JPEG, 95))
    assert np.abs(jpeg.astype(int) - smooth).mean() < 2


def test_corrupt_payloads_are_input_errors():
    with pytest.raises(InputError):
        wire.unpack_bits(pb.PackedBits(count=100, data=b"garbage", compression=pb.COMPRESSION_ZLIB))
    with pytest.raises(InputError):
        wire.decode_image(pb.Image(encoding=pb.IMAGE_ENCODING_JPEG, width=4, height=4, data=b"x"))
    with pytest.raises(InputError):
        wire.decode_depth(pb.DepthMap(encoding=pb.DEPTH_ENCODING_FLOAT32, width=9, height=9))


@pytest.mark.parametrize("system", list(CoordinateSystem))
def test_poses_round_trip_through_every_system(system):
    c2w = look_at((0.3, -0.2, 0.5), (0.0, 0.1, 2.0))
    msg = wire.pose_to_msg(c2w, system)
    assert msg.coordinate_system == wire.system_to_wire(system)
    assert np.allclose(wire.pose_from_msg(msg), c2w, atol=1e-12)
    # The message holds the pose as that system sees it.
    native = convert_pose(c2w, "opencv", system)
    assert np.allclose([msg.position.x, msg.position.y, msg.position.z], native[:3, 3])


def test_bad_poses_are_refused():
    good = wire.pose_to_msg(np.eye(4), "unity")
    for mutate, match in (
        (lambda m: setattr(m.rotation, "x", math.nan), "NaN"),
        (lambda m: m.rotation.Clear(), "zero length"),
        (lambda m: setattr(m, "coordinate_system", 0), "unspecified"),
        (lambda m: setattr(m, "coordinate_system", 9), "unknown coordinate_system"),
    ):
        bad = pb.Pose()
        bad.CopyFrom(good)
        mutate(bad)
        with pytest.raises(InputError, match=match):
            wire.pose_from_msg(bad)


def test_view_lenses():
    scene_k = Intrinsics.reference(64, 48)
    assert wire.view_intrinsics(128, 96, scene_k) == scene_k.scaled(128, 96)
    sq = wire.view_intrinsics(100, 100, scene_k)
    assert sq.fx == sq.fy == pytest.approx(scene_k.fy * 100 / 48) and sq.cx == 50
    fov = wire.view_intrinsics(80, 60, scene_k, fov_y_deg=70)
    assert fov.fov_y_deg == pytest.approx(70)
    # Symmetric OpenXR angles give the centred pinhole with that field of view.
    a = math.radians(35)
    xr = wire.view_intrinsics(
        80,
        80,
        scene_k,
        fov_angles=pb.FovAngles(angle_left=-a, angle_right=a, angle_up=a, angle_down=-a),
    )
    assert xr.fov_y_deg == pytest.approx(70) and xr.cx == pytest.approx(40)
    # Looking further up than down moves the principal point down the image.
    up = wire.view_intrinsics(
        80,
        80,
        scene_k,
        fov_angles=pb.FovAngles(angle_left=-a, angle_right=a, angle_up=0.8, angle_down=-0.3),
    )
    assert up.cy > 40
    for w, h in ((0, 10), (10, 0), (4097, 10)):
        with pytest.raises(InputError, match="out of range"):
            wire.view_intrinsics(w, h, scene_k)


def test_images_go_through_pillow_with_checked_formats():
    import io

    from PIL import Image

    grey = np.tile(np.arange(0, 240, 8, dtype=np.uint8), (10, 1))
    buf = io.BytesIO()
    Image.fromarray(grey, "L").save(buf, "PNG")
    msg = pb.Image(encoding=pb.IMAGE_ENCODING_PNG, width=30, height=10, data=buf.getvalue())
    rgb = wire.decode_image(msg)  # a greyscale file still decodes to RGB
    assert rgb.shape == (10, 30, 3) and np.array_equal(rgb[..., 1], grey)
    # The stated encoding is the only format tried: PNG bytes labelled JPEG are refused.
    with pytest.raises(InputError, match="stated size"):
        wire.decode_image(
            pb.Image(encoding=pb.IMAGE_ENCODING_JPEG, width=30, height=10, data=msg.data)
        )
    with pytest.raises(InputError, match="stated size"):
        wire.decode_image(
            pb.Image(encoding=pb.IMAGE_ENCODING_PNG, width=31, height=10, data=msg.data)
        )
    with pytest.raises(InputError, match="unknown image encoding"):
        wire.decode_image(pb.Image(encoding=9, width=30, height=10, data=msg.data))
    with pytest.raises(InputError, match="uint8"):
        wire.encode_image(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(InputError, match="jpeg_quality"):
        wire.encode_image(np.zeros((4, 4, 3), np.uint8), pb.IMAGE_ENCODING_JPEG, 101)


def test_byte_chunks_cover_the_data_in_order():
    data = bytes(range(256)) * 5
    chunks = list(wire.byte_chunks(data, "a.bin", "application/octet-stream", 300))
    assert b"".join(c.data for c in chunks) == data
    assert [c.offset for c in chunks] == [0, 300, 600, 900, 1200]
    assert [c.last for c in chunks] == [False] * 4 + [True]
    assert all(c.total_size == len(data) and c.name == "a.bin" for c in chunks)
    empty = list(wire.byte_chunks(b"", "e", "x"))
    assert len(empty) == 1 and empty[0].last and empty[0].data == b""
