"""Coordinate systems, pose conversions and quaternions, checked against hand-computed cases
and scipy's rotation code as an independent reference."""

import itertools
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ex4d_bridge.camera import (
    CoordinateSystem,
    convert_points,
    convert_pose,
    matrix_to_quaternion,
    pose_from_position_quaternion,
    pose_from_wire,
    pose_to_wire,
    position_quaternion_from_pose,
    quaternion_to_matrix,
)
from ex4d_bridge.errors import InputError

SYSTEMS = list(CoordinateSystem)
PAIRS = list(itertools.product(SYSTEMS, SYSTEMS))


def random_poses(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = np.tile(np.eye(4), (n, 1, 1))
    m[:, :3, :3] = Rotation.random(n, random_state=seed).as_matrix()
    m[:, :3, 3] = rng.normal(size=(n, 3)) * 3.0
    return m


# Hand-written axis facts, one per system: (right, up, forward) of the camera/world, and
# handedness. These are the definitions of the conventions, not derived from the code.
AXES = {
    "opencv": ((1, 0, 0), (0, -1, 0), (0, 0, 1), True),
    "opengl": ((1, 0, 0), (0, 1, 0), (0, 0, -1), True),
    "unity": ((1, 0, 0), (0, 1, 0), (0, 0, 1), False),
    "unreal": ((0, 1, 0), (0, 0, 1), (1, 0, 0), False),
}


# --- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("opencv", CoordinateSystem.OPENCV),
        ("CV", CoordinateSystem.OPENCV),
        ("OpenGL", CoordinateSystem.OPENGL),
        ("openxr", CoordinateSystem.OPENGL),
        ("OpenXR", CoordinateSystem.OPENGL),
        (" Unity ", CoordinateSystem.UNITY),
        ("ue", CoordinateSystem.UNREAL),
        ("UNREAL", CoordinateSystem.UNREAL),
        (CoordinateSystem.UNITY, CoordinateSystem.UNITY),
    ],
)
def test_parse_names_and_aliases(name, expected):
    assert CoordinateSystem.parse(name) is expected


def test_parse_unknown_lists_valid_names():
    with pytest.raises(InputError) as err:
        CoordinateSystem.parse("blender")
    msg = str(err.value)
    assert "blender" in msg
    for name in ("opencv", "opengl", "openxr", "unity", "unreal"):
        assert name in msg


def test_enum_is_a_string():
    assert CoordinateSystem.UNITY == "unity"
    assert f"{CoordinateSystem.UNREAL}" == "unreal"


@pytest.mark.parametrize("name", list(AXES))
def test_axes_match_definitions(name):
    right, up, forward, right_handed = AXES[name]
    s = CoordinateSystem.parse(name)
    np.testing.assert_array_equal(s.right, right)
    np.testing.assert_array_equal(s.up, up)
    np.testing.assert_array_equal(s.forward, forward)
    assert s.right_handed is right_handed
    # In numbers, right x up = backward in a right-handed system and forward in a left-handed one.
    expected = -np.asarray(forward) if right_handed else np.asarray(forward)
    np.testing.assert_array_equal(np.cross(right, up), expected)


# --- conversions --------------------------------------------------------------------------


@pytest.mark.parametrize("src, dst", PAIRS)
def test_pose_round_trip_every_pair(src, dst):
    poses = random_poses(16, seed=1)
    there = convert_pose(poses, src, dst)
    np.testing.assert_allclose(convert_pose(there, dst, src), poses, atol=1e-12)
    # A proper rotation in every system, even across handedness.
    np.testing.assert_allclose(np.linalg.det(there[:, :3, :3]), 1.0, atol=1e-12)
    np.testing.assert_allclose(there[:, 3], np.tile([0, 0, 0, 1.0], (16, 1)))
    # Going through OpenCV gives the same answer as going directly.
    via = convert_pose(convert_pose(poses, src, "opencv"), "opencv", dst)
    np.testing.assert_allclose(via, there, atol=1e-12)


@pytest.mark.parametrize("src, dst", PAIRS)
def test_points_follow_poses(src, dst):
    """A camera's position converts like a world point, and a camera-frame point maps to the
    same physical world point whichever system describes it."""
    poses = random_poses(8, seed=2)
    there = convert_pose(poses, src, dst)
    np.testing.assert_allclose(there[:, :3, 3], convert_points(poses[:, :3, 3], src, dst))
    # The point one unit ahead of the camera, expressed in each system's camera axes.
    fwd_src = CoordinateSystem.parse(src).forward
    fwd_dst = CoordinateSystem.parse(dst).forward
    ahead_src = poses[:, :3, :3] @ fwd_src + poses[:, :3, 3]
    ahead_dst = there[:, :3, :3] @ fwd_dst + there[:, :3, 3]
    np.testing.assert_allclose(convert_points(ahead_src, src, dst), ahead_dst, atol=1e-12)


@pytest.mark.parametrize("system", SYSTEMS)
def test_wire_round_trip_every_system(system):
    poses = random_poses(32, seed=3)
    pos, quat = pose_to_wire(poses, system)
    assert pos.shape == (32, 3) and quat.shape == (32, 4)
    np.testing.assert_allclose(np.linalg.norm(quat, axis=-1), 1.0, atol=1e-12)
    assert np.all(quat[:, 3] >= 0)
    np.testing.assert_allclose(pose_from_wire(pos, quat, system), poses, atol=1e-12)


@pytest.mark.parametrize("src, dst", PAIRS)
def test_wire_across_systems(src, dst):
    """A pose sent in one system and re-expressed in another describes the same camera."""
    poses = random_poses(8, seed=4)
    p_src, q_src = pose_to_wire(poses, src)
    c2w = pose_from_wire(p_src, q_src, src)
    p_dst, q_dst = pose_to_wire(c2w, dst)
    np.testing.assert_allclose(pose_from_wire(p_dst, q_dst, dst), poses, atol=1e-12)
    np.testing.assert_allclose(p_dst, convert_points(p_src, src, dst), atol=1e-12)


def test_unity_camera_hand_computed():
    # A Unity camera at (1, 2, 3) with no rotation looks along Unity +z (forward); in OpenCV
    # it sits at (1, -2, 3) (y flips: up becomes down) and still has the identity rotation.
    c2w = pose_from_wire([1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 1.0], "unity")
    expected = np.eye(4)
    expected[:3, 3] = [1.0, -2.0, 3.0]
    np.testing.assert_allclose(c2w, expected, atol=1e-15)
    unity = convert_pose(c2w, "opencv", "unity")
    np.testing.assert_allclose(unity[:3, :3] @ [0, 0, 1], [0, 0, 1])


def test_unity_yaw_right_hand_computed():
    # Unity: +90 degrees about y turns the forward axis from +z to +x (to the right).
    h = math.sqrt(0.5)
    c2w = pose_from_wire([0, 0, 0], [0.0, h, 0.0, h], "unity")
    np.testing.assert_allclose(c2w[:3, 2], [1, 0, 0], atol=1e-15)  # optical axis: right
    np.testing.assert_allclose(c2w[:3, 1], [0, 1, 0], atol=1e-15)  # image down: world down


def test_unreal_hand_computed():
    # Unreal (x forward, y right, z up) point (1, 2, 3) is 1 ahead, 2 right, 3 up.
    np.testing.assert_allclose(convert_points([1.0, 2.0, 3.0], "unreal", "opencv"), [2, -3, 1])
    # Yaw +90 about z turns forward (+x) to the right (+y) in Unreal.
    h = math.sqrt(0.5)
    c2w = pose_from_wire([1.0, 2.0, 3.0], [0.0, 0.0, h, h], "unreal")
    np.testing.assert_allclose(c2w[:3, 2], [1, 0, 0], atol=1e-15)
    np.testing.assert_allclose(c2w[:3, 3], [2, -3, 1])


def test_opengl_hand_computed():
    # OpenGL/OpenXR: y up, z backward. An unrotated camera looks along -z = OpenCV +z.
    c2w = pose_from_wire([1.0, 2.0, 3.0], [0, 0, 0, 1], "openxr")
    expected = np.eye(4)
    expected[:3, 3] = [1.0, -2.0, -3.0]
    np.testing.assert_allclose(c2w, expected, atol=1e-15)
    # Pitch up by 90 degrees about x (right-handed, counter-clockwise seen from +x): the view
    # turns from -z to +y, which is OpenCV -y.
    h = math.sqrt(0.5)
    c2w = pose_from_wire([0, 0, 0], [h, 0, 0, h], "opengl")
    np.testing.assert_allclose(c2w[:3, 2], [0, -1, 0], atol=1e-15)


def test_source_camera_is_identity_everywhere():
    for system in SYSTEMS:
        pos, quat = pose_to_wire(np.eye(4), system)
        np.testing.assert_allclose(pos, 0.0)
        np.testing.assert_allclose(quat, [0, 0, 0, 1])


def test_batched_shapes():
    poses = random_poses(6, seed=5).reshape(2, 3, 4, 4)
    out = convert_pose(poses, "unity", "unreal")
    assert out.shape == (2, 3, 4, 4)
    pos, quat = position_quaternion_from_pose(out)
    assert pos.shape == (2, 3, 3) and quat.shape == (2, 3, 4)
    np.testing.assert_allclose(pose_from_position_quaternion(pos, quat), out, atol=1e-12)
    assert convert_points(np.zeros((5, 7, 3)), "opencv", "opengl").shape == (5, 7, 3)


# --- quaternions ----------------------------------------------------------------------------


def test_quaternion_to_matrix_matches_scipy():
    quats = Rotation.random(200, random_state=7).as_quat()  # xyzw
    np.testing.assert_allclose(
        quaternion_to_matrix(quats), Rotation.from_quat(quats).as_matrix(), atol=1e-12
    )


def test_matrix_to_quaternion_matches_scipy_including_half_turns():
    rots = [Rotation.random(200, random_state=8).as_matrix()]
    # Half turns (trace -1) and near-half turns defeat the naive trace formula.
    axes = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, -2, 3], [0, 1, -1]], float)
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    for angle in (math.pi, math.pi - 1e-7, 1e-9, 0.0):
        rots.append(Rotation.from_rotvec(axes * angle).as_matrix())
    r = np.concatenate(rots)
    q = matrix_to_quaternion(r)
    ref = Rotation.from_matrix(r).as_quat()
    ref = np.where(ref[:, 3:4] < 0, -ref, ref)
    # At exactly w = 0 the sign is free: compare up to sign there.
    same = np.minimum(np.abs(q - ref).max(axis=1), np.abs(q + ref).max(axis=1))
    assert same.max() < 1e-7
    np.testing.assert_allclose(quaternion_to_matrix(q), r, atol=1e-12)
    assert np.all(q[:, 3] >= 0)


def test_canonical_sign_w_nonnegative():
    q = np.array([0.1, -0.2, 0.3, -0.9])
    q /= np.linalg.norm(q)
    _, out = position_quaternion_from_pose(pose_from_position_quaternion([0, 0, 0], q))
    np.testing.assert_allclose(out, -q, atol=1e-12)


def test_non_unit_quaternion_is_normalised():
    q = np.array([0.2, 0.4, -0.1, 0.8])
    a = pose_from_position_quaternion([1, 2, 3], q)
    b = pose_from_position_quaternion([1, 2, 3], q * 7.5)
    np.testing.assert_allclose(a, b, atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(a[:3, :3]), 1.0)


@pytest.mark.parametrize(
    "quat", [[0, 0, 0, 0], [1e-9, 0, 0, 0], [math.nan, 0, 0, 1], [0, math.inf, 0, 1]]
)
def test_bad_quaternions_rejected(quat):
    with pytest.raises(InputError):
        pose_from_wire([0, 0, 0], quat, "unity")


def test_bad_shapes_and_values_rejected():
    with pytest.raises(InputError, match="shape"):
        convert_pose(np.eye(3), "opencv", "unity")
    with pytest.raises(InputError, match="shape"):
        pose_from_position_quaternion([0, 0], [0, 0, 0, 1])
    with pytest.raises(InputError, match="NaN"):
        convert_pose(np.full((4, 4), np.nan), "opencv", "unity")
    with pytest.raises(InputError, match="NaN"):
        convert_points([0, np.inf, 0], "opencv", "unity")
    with pytest.raises(InputError):
        convert_pose(np.eye(4), "opencv", "maya")


@pytest.mark.parametrize(
    "rotation",
    [np.diag([1.0, 1.0, -1.0]), np.eye(3) * 2.0, np.array([[1, 0.1, 0], [0, 1, 0], [0, 0, 1.0]])],
)
def test_non_rotation_cannot_become_a_quaternion(rotation):
    m = np.eye(4)
    m[:3, :3] = rotation
    with pytest.raises(InputError, match="rotation"):
        position_quaternion_from_pose(m)


def test_pose_distances_against_axis_angle():
    from ex4d_bridge.camera.poses import pose_distances

    rng = np.random.default_rng(3)
    ref = np.eye(4)
    ref[:3, 3] = rng.normal(size=3)
    poses = np.repeat(ref[None], 5, 0)
    angles = np.array([0.0, 0.05, 10.0, 90.0, 179.0])
    for i, deg in enumerate(angles):
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        a = np.radians(deg)
        rot = np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * k @ k  # Rodrigues
        poses[i, :3, :3] = ref[:3, :3] @ rot
        poses[i, :3, 3] += i * 0.1
    dpos, angle = pose_distances(poses, ref)
    np.testing.assert_allclose(dpos, np.arange(5) * 0.1 * np.sqrt(3), atol=1e-12)
    np.testing.assert_allclose(angle, angles, atol=1e-5)


def test_same_lens_is_scale_free():
    from ex4d_bridge.camera import Intrinsics

    k = Intrinsics(500.0, 500.0, 256.0, 256.0, 512, 512)
    assert k.same_lens(k.scaled(128, 128))
    assert not k.same_lens(Intrinsics(400.0, 400.0, 256.0, 256.0, 512, 512))
