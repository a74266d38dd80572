"""look_at, the EX-4D reference paths, the other trajectories, spec parsing and pose-path files.

Expected eye positions are written out from the formulas in docs/method.md, independently of
the code.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from ex4d_bridge.camera import (
    TRAJECTORY_FORMS,
    CoordinateSystem,
    Intrinsics,
    Trajectory,
    convert_points,
    dolly,
    is_rigid,
    load_pose_path,
    look_at,
    parse_trajectory,
    pose_from_wire,
    reference_orbit,
    reference_surround,
    save_pose_path,
    spiral,
    yaw_arc,
)
from ex4d_bridge.errors import InputError


def assert_looks_at(poses: np.ndarray, target, skip_first: bool = False) -> None:
    """Every camera's optical axis (+z column) points from its centre straight at target."""
    start = 1 if skip_first else 0
    for m in poses[start:]:
        d = np.asarray(target, float) - m[:3, 3]
        np.testing.assert_allclose(m[:3, 2], d / np.linalg.norm(d), atol=1e-12)


def orbit_eye(r: float, a: float) -> tuple[float, float, float]:
    c = abs(math.cos(a))
    return (r * math.sin(a), 0.2 * r * (c - 1.0), r - r * c)


# --- look_at ---------------------------------------------------------------------------------


def test_look_at_straight_ahead_is_identity():
    np.testing.assert_allclose(look_at([0, 0, 0], [0, 0, 5.0]), np.eye(4), atol=1e-15)


def test_look_at_properties():
    rng = np.random.default_rng(0)
    eyes = rng.normal(size=(50, 3))
    targets = rng.normal(size=(50, 3)) + [0, 0, 4]
    poses = look_at(eyes, targets)
    assert poses.shape == (50, 4, 4) and is_rigid(poses)
    np.testing.assert_allclose(poses[:, :3, 3], eyes)
    view = (targets - eyes) / np.linalg.norm(targets - eyes, axis=1, keepdims=True)
    np.testing.assert_allclose(poses[:, :3, 2], view, atol=1e-12)
    up = np.array([0.0, -1.0, 0.0])
    # Image x stays horizontal (no roll) and image down points away from "up".
    np.testing.assert_allclose(poses[:, :3, 0] @ up, 0.0, atol=1e-12)
    assert np.all(poses[:, :3, 1] @ up < 0)


def test_look_at_custom_up_and_projection():
    # Looking down from above with world "up" = -y: target projects to the image centre.
    pose = look_at([1.0, -2.0, 0.5], [0.2, 0.3, 3.0], up=(0, -1, 0))
    w2c = np.linalg.inv(pose)
    p = w2c @ [0.2, 0.3, 3.0, 1.0]
    np.testing.assert_allclose(p[:2], 0.0, atol=1e-12)
    assert p[2] > 0


def test_look_at_degenerate_inputs():
    with pytest.raises(InputError, match="coincide"):
        look_at([1, 2, 3], [1, 2, 3])
    with pytest.raises(InputError, match="parallel"):
        look_at([0, 0, 0], [0, -5, 0])
    with pytest.raises(InputError, match="up"):
        look_at([0, 0, 0], [0, 0, 1], up=(0, 0, 0))
    with pytest.raises(InputError, match="NaN"):
        look_at([0, 0, math.nan], [0, 0, 1])


def test_is_rigid():
    assert is_rigid(np.eye(4))
    assert not is_rigid(np.diag([1.0, 1, -1, 1]))
    assert not is_rigid(np.diag([2.0, 1, 1, 1]))
    m = np.eye(4)
    m[3, 0] = 1.0
    assert not is_rigid(m)
    assert not is_rigid(np.eye(3))


# --- reference orbit -----------------------------------------------------------------------


@pytest.mark.parametrize("angle", [30.0, 60.0, 90.0, -45.0])
def test_reference_orbit_matches_formula(angle):
    min_depth = 1.3
    r = min_depth + 0.15
    traj = reference_orbit(min_depth, angle)
    assert len(traj) == 49 and traj.name == f"orbit:{angle:g}"
    for k, m in enumerate(traj.poses):
        a = math.radians(angle) * k / 48
        np.testing.assert_allclose(m[:3, 3], orbit_eye(r, a), atol=1e-12)
    assert_looks_at(traj.poses, [0, 0, r])
    assert is_rigid(traj.poses, 1e-12)
    # Up is world -y: the image x axis stays horizontal, image down points down.
    np.testing.assert_allclose(traj.poses[:, 1, 0], 0.0, atol=1e-12)
    assert np.all(traj.poses[:, 1, 1] > 0)


def test_reference_orbit_frame0_is_exactly_identity():
    for angle in (30, -90, 90, 0):
        assert np.array_equal(reference_orbit(0.7, angle).poses[0], np.eye(4))


def test_reference_orbit_90_endpoint():
    r = 2.0 + 0.15
    last = reference_orbit(2.0, 90).poses[-1]
    np.testing.assert_allclose(last[:3, 3], [r, -0.2 * r, r], atol=1e-12)
    view = np.array([-1.0, 0.2, 0.0]) / math.hypot(1.0, 0.2)
    np.testing.assert_allclose(last[:3, 2], view, atol=1e-12)


def test_reference_orbit_negative_mirrors():
    pos = reference_orbit(1.0, 60).poses
    neg = reference_orbit(1.0, -60).poses
    s = np.diag([-1.0, 1.0, 1.0, 1.0])
    # Mirroring the world in x and the camera in x maps one path onto the other.
    np.testing.assert_allclose(neg, s @ pos @ s, atol=1e-12)
    assert np.all(neg[1:, 0, 3] < 0) and np.all(pos[1:, 0, 3] > 0)


def test_reference_orbit_rejects_big_angles_and_bad_depth():
    with pytest.raises(InputError, match="surround"):
        reference_orbit(1.0, 120)
    with pytest.raises(InputError, match="min_depth"):
        reference_orbit(0.0, 30)
    with pytest.raises(InputError, match="min_depth"):
        reference_orbit(math.inf, 30)
    with pytest.raises(InputError, match="num_frames"):
        reference_orbit(1.0, 30, num_frames=0)


def test_reference_surround_matches_formula():
    r = 0.5 + 0.15
    traj = reference_surround(0.5, num_frames=25)
    assert len(traj) == 25
    for k, m in enumerate(traj.poses):
        a = 2 * math.pi * k / 24
        np.testing.assert_allclose(
            m[:3, 3], [r * math.sin(a), 0.2 * r * (math.cos(a) - 1), 0.0], atol=1e-12
        )
    assert_looks_at(traj.poses, [0, 0, r])
    assert np.array_equal(traj.poses[0], np.eye(4))
    np.testing.assert_allclose(traj.poses[-1], np.eye(4), atol=1e-12)


def test_w2c_opengl_is_the_reference_storage():
    r = 1.0 + 0.15
    traj = reference_orbit(1.0, 60, num_frames=7)
    w2c = traj.w2c_opengl()
    np.testing.assert_array_equal(w2c[0], np.diag([1.0, -1.0, -1.0, 1.0]))
    for m, pose in zip(w2c, traj.poses, strict=True):
        np.testing.assert_allclose(m @ np.append(pose[:3, 3], 1), [0, 0, 0, 1], atol=1e-12)
        pivot_cam = m @ [0, 0, r, 1]
        # OpenGL camera: the pivot is straight ahead, on -z.
        np.testing.assert_allclose(pivot_cam[:2], 0.0, atol=1e-12)
        assert pivot_cam[2] < 0
    back = Trajectory.from_w2c_opengl(w2c)
    np.testing.assert_allclose(back.poses, traj.poses, atol=1e-12)


# --- other paths -----------------------------------------------------------------------------


def test_yaw_arc_turns_right_in_place():
    traj = yaw_arc(30, num_frames=4)
    np.testing.assert_allclose(traj.poses[:, :3, 3], 0.0)
    for k, m in enumerate(traj.poses):
        a = math.radians(30) * k / 3
        np.testing.assert_allclose(m[:3, 2], [math.sin(a), 0, math.cos(a)], atol=1e-12)
        np.testing.assert_allclose(m[:3, 1], [0, 1, 0], atol=1e-12)
    assert is_rigid(traj.poses, 1e-12)


def test_dolly_moves_forward():
    traj = dolly(0.5, num_frames=6)
    np.testing.assert_allclose(traj.poses[:, :3, :3], np.tile(np.eye(3), (6, 1, 1)))
    np.testing.assert_allclose(traj.poses[:, :3, 3], [[0, 0, 0.1 * k] for k in range(6)])
    assert dolly(-0.2, 3).poses[-1, 2, 3] == pytest.approx(-0.2)


def test_spiral_formula_and_start():
    traj = spiral(0.1, num_frames=33, turns=2, depth=0.2, pivot_depth=1.5)
    assert np.array_equal(traj.poses[0], np.eye(4))
    for k, m in enumerate(traj.poses):
        t = k / 32
        rho, phi = 0.1 * t, 4 * math.pi * t
        np.testing.assert_allclose(
            m[:3, 3], [rho * math.cos(phi), -rho * math.sin(phi), 0.2 * t], atol=1e-12
        )
    assert_looks_at(traj.poses, [0, 0, 1.5])
    with pytest.raises(InputError, match="pivot"):
        spiral(0.1, depth=2.0, pivot_depth=1.0)


# --- parse_trajectory ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("orbit:90", lambda: reference_orbit(1.0, 90, 9)),
        ("orbit:-45", lambda: reference_orbit(1.0, -45, 9)),
        (" ORBIT : 30 ", lambda: reference_orbit(1.0, 30, 9)),
        ("surround", lambda: reference_surround(1.0, 9)),
        ("yaw:30", lambda: yaw_arc(30, 9)),
        ("dolly:0.5", lambda: dolly(0.5, 9)),
        ("spiral:0.1", lambda: spiral(0.1, 9, pivot_depth=1.15)),
    ],
)
def test_parse_trajectory_forms(spec, expected):
    k = Intrinsics.reference(64, 48)
    traj = parse_trajectory(spec, min_depth=1.0, num_frames=9, intrinsics=k)
    ref = expected()
    assert len(traj) == 9 and traj.name == ref.name
    np.testing.assert_allclose(traj.poses, ref.poses, atol=1e-15)
    assert traj.intrinsics == k


@pytest.mark.parametrize(
    "spec",
    ["", "orbit", "orbit:", "orbit:abc", "orbit:nan", "surround:3", "wobble:1", "file:", "90"],
)
def test_parse_trajectory_bad_specs(spec):
    with pytest.raises(InputError) as err:
        parse_trajectory(spec, min_depth=1.0)
    msg = str(err.value)
    assert TRAJECTORY_FORMS in msg and "\n" not in msg


def test_parse_trajectory_out_of_range_and_type():
    with pytest.raises(InputError, match="surround"):
        parse_trajectory("orbit:180", min_depth=1.0)
    with pytest.raises(InputError, match="string"):
        parse_trajectory(90, min_depth=1.0)


def test_parse_trajectory_files(tmp_path: Path):
    src = reference_orbit(1.0, 45, num_frames=5)
    k = Intrinsics.reference(32, 32)
    for name in ("path.json", "path.csv"):
        save_pose_path(tmp_path / name, src, "unity")
        for spec in (f"file:{tmp_path / name}", str(tmp_path / name), tmp_path / name):
            traj = parse_trajectory(spec, min_depth=9.0, num_frames=49, intrinsics=k)
            assert len(traj) == 5  # a file keeps its own pose count
            np.testing.assert_allclose(traj.poses, src.poses, atol=1e-12)
            assert traj.intrinsics == k  # filled in: the file has none
    own = Trajectory(src.poses, Intrinsics.reference(8, 8))
    save_pose_path(tmp_path / "own.json", own)
    assert parse_trajectory(tmp_path / "own.json", min_depth=1, intrinsics=k).intrinsics == (
        own.intrinsics
    )
    with pytest.raises(InputError, match="not found"):
        parse_trajectory(f"file:{tmp_path / 'missing.json'}", min_depth=1.0)


# --- Trajectory ------------------------------------------------------------------------------


def test_trajectory_validation():
    with pytest.raises(InputError, match="shape"):
        Trajectory(np.eye(4))
    with pytest.raises(InputError, match="rigid"):
        Trajectory(np.diag([1.0, 1, 2, 1])[None])
    with pytest.raises(InputError, match="times"):
        Trajectory(np.tile(np.eye(4), (3, 1, 1)), times=[0.0, 1.0])
    with pytest.raises(InputError, match="non-decreasing"):
        Trajectory(np.tile(np.eye(4), (3, 1, 1)), times=[0.0, 2.0, 1.0])
    with pytest.raises(InputError, match="fps"):
        Trajectory(np.eye(4)[None], fps=0)
    with pytest.raises(InputError, match="fov"):
        Trajectory(np.eye(4)[None], fov_y_deg=180)


def test_trajectory_resampled_slerps():
    coarse = yaw_arc(90, num_frames=3)
    fine = coarse.resampled(9)
    np.testing.assert_allclose(fine.poses, yaw_arc(90, num_frames=9).poses, atol=1e-12)
    np.testing.assert_allclose(dolly(1.0, 3).resampled(5).poses, dolly(1.0, 5).poses, atol=1e-12)
    timed = Trajectory(coarse.poses, times=[0.0, 1.0, 4.0])
    np.testing.assert_allclose(timed.resampled(5).times, [0.0, 0.5, 1.0, 2.5, 4.0])
    assert np.array_equal(coarse.resampled(1).poses[0], coarse.poses[0])


def test_intrinsics_for():
    poses = np.eye(4)[None]
    assert Trajectory(poses).intrinsics_for(64, 64) is None
    k = Intrinsics.reference(100, 50)
    assert Trajectory(poses, k).intrinsics_for(100, 50) == k
    assert Trajectory(poses, k).intrinsics_for(200, 100).fx == pytest.approx(1000)
    got = Trajectory(poses, fov_y_deg=90).intrinsics_for(64, 32)
    assert got.fy == pytest.approx(16.0) and got.cx == pytest.approx(32.0)


def test_trajectory_json_save_load(tmp_path: Path):
    traj = Trajectory(
        reference_orbit(0.8, -60, 11).poses,
        Intrinsics.reference(512, 512),
        name="mine",
        fps=24.0,
        times=np.arange(11) / 24.0,
    )
    traj.save(tmp_path / "t.json")
    data = json.loads((tmp_path / "t.json").read_text())
    assert data["coordinate_system"] == "opencv" and len(data["poses"]) == 11
    back = Trajectory.load(tmp_path / "t.json")
    np.testing.assert_allclose(back.poses, traj.poses, atol=1e-12)
    assert (back.name, back.fps, back.intrinsics) == ("mine", 24.0, traj.intrinsics)
    np.testing.assert_array_equal(back.times, traj.times)
    again = Trajectory.from_json_dict(traj.to_json_dict("unreal"))
    np.testing.assert_allclose(again.poses, traj.poses, atol=1e-12)


# --- pose-path files ---------------------------------------------------------------------------


@pytest.mark.parametrize("system", list(CoordinateSystem))
@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_pose_path_round_trip(tmp_path: Path, system, suffix):
    traj = Trajectory(
        spiral(0.2, num_frames=13, depth=0.3, pivot_depth=2.0).poses,
        Intrinsics(410.5, 420.25, 255.5, 250.0, 512, 500),
        name="spiral path",
        fps=30.0,
        times=np.linspace(0.0, 0.4, 13),
        fov_y_deg=55.0,
    )
    path = tmp_path / f"p{suffix}"
    save_pose_path(path, traj, system)
    back = load_pose_path(path, default_system="opencv")
    np.testing.assert_allclose(back.poses, traj.poses, atol=1e-12)
    np.testing.assert_array_equal(back.times, traj.times)
    assert (back.name, back.fps, back.fov_y_deg) == ("spiral path", 30.0, 55.0)
    assert back.intrinsics == traj.intrinsics


def test_pose_path_positions_are_in_the_named_system(tmp_path: Path):
    pose = np.eye(4)
    pose[:3, 3] = [1.0, -2.0, 3.0]
    save_pose_path(tmp_path / "u.json", Trajectory(pose[None]), "unity")
    data = json.loads((tmp_path / "u.json").read_text())
    assert data["coordinate_system"] == "unity"
    np.testing.assert_allclose(data["poses"][0]["position"], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(data["poses"][0]["rotation"], [0, 0, 0, 1])
    assert "t" not in data["poses"][0]
    save_pose_path(tmp_path / "u.csv", Trajectory(pose[None]), "unreal")
    lines = (tmp_path / "u.csv").read_text().splitlines()
    assert lines[0] == "# coordinate_system=unreal"
    assert "t,px,py,pz,qx,qy,qz,qw" in lines
    row = lines[-1].split(",")
    assert row[0] == ""
    np.testing.assert_allclose([float(v) for v in row[1:4]], [3.0, 1.0, 2.0])


def test_pose_path_written_by_a_unity_client(tmp_path: Path):
    h = math.sqrt(0.5)
    text = json.dumps(
        {
            "coordinate_system": "unity",
            "fps": 30,
            "fov_y_deg": 60,
            "poses": [
                {"t": 0.0, "position": [1, 2, 3], "rotation": [0, 0, 0, 1]},
                {"t": 0.5, "position": [0, 0, 0], "rotation": [0, h * 2, 0, h * 2]},
            ],
        }
    )
    (tmp_path / "unity.json").write_text(text)
    traj = load_pose_path(tmp_path / "unity.json")
    assert traj.name == "unity" and traj.fps == 30.0 and traj.fov_y_deg == 60.0
    np.testing.assert_allclose(traj.poses[0, :3, 3], [1, -2, 3])
    np.testing.assert_allclose(traj.poses[0, :3, :3], np.eye(3), atol=1e-15)
    # Non-unit quaternion accepted and normalised: yaw +90 looks to the right.
    np.testing.assert_allclose(traj.poses[1, :3, 2], [1, 0, 0], atol=1e-12)


def test_pose_path_csv_comment_and_default_system(tmp_path: Path):
    body = "t,px,py,pz,qx,qy,qz,qw\n0,1,2,3,0,0,0,1\n0.1,1,2,4,0,0,0,1\n"
    (tmp_path / "a.csv").write_text("# coordinate_system=OpenXR\n" + body)
    (tmp_path / "b.csv").write_text(body)
    a = load_pose_path(tmp_path / "a.csv")
    np.testing.assert_allclose(a.poses[:, :3, 3], [[1, -2, -3], [1, -2, -4]])
    b = load_pose_path(tmp_path / "b.csv", default_system="unity")
    expected = convert_points([[1, 2, 3], [1, 2, 4]], "unity", "cv")
    np.testing.assert_allclose(b.poses[:, :3, 3], expected)
    np.testing.assert_allclose(b.times, [0.0, 0.1])
    np.testing.assert_allclose(
        load_pose_path(tmp_path / "b.csv").poses[0],
        pose_from_wire([1, 2, 3], [0, 0, 0, 1], "opencv"),
    )


POSE = {"position": [0, 0, 0], "rotation": [0, 0, 0, 1]}


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("{not json", "line 1"),
        ("[1, 2]", "JSON object"),
        ("{}", "'poses'"),
        ('{"poses": []}', "'poses'"),
        (
            json.dumps({"poses": [POSE, {"position": [0, 0], "rotation": [0, 0, 0, 1]}]}),
            "poses[1].position",
        ),
        (
            json.dumps({"poses": [{"position": [0, 0, 0], "rotation": [0, 0, 1]}]}),
            "poses[0].rotation",
        ),
        (
            json.dumps({"poses": [{"position": [0, 0, 0], "rotation": [0, 0, 0, 0]}]}),
            "poses[0].rotation has zero length",
        ),
        (
            json.dumps({"poses": [{"position": [0, "a", 0], "rotation": [0, 0, 0, 1]}]}),
            "poses[0].position",
        ),
        (
            json.dumps({"poses": [{"position": [0, True, 0], "rotation": [0, 0, 0, 1]}]}),
            "poses[0].position",
        ),
        (json.dumps({"poses": [dict(POSE, t=0.0), POSE]}), "poses[1].t"),
        (json.dumps({"poses": [dict(POSE, t=1.0), dict(POSE, t=0.5)]}), "poses[1].t"),
        (json.dumps({"coordinate_system": "maya", "poses": [POSE]}), "coordinate_system"),
        (json.dumps({"fps": -1, "poses": [POSE]}), "fps"),
        (json.dumps({"intrinsics": {"fx": 1}, "poses": [POSE]}), "intrinsics is missing"),
        (
            json.dumps(
                {
                    "intrinsics": {"fx": 1, "fy": 1, "cx": 0, "cy": 0, "width": 0, "height": 4},
                    "poses": [POSE],
                }
            ),
            "intrinsics",
        ),
    ],
)
def test_bad_json_pose_paths(tmp_path: Path, content, fragment):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InputError) as err:
        load_pose_path(path)
    msg = str(err.value)
    assert str(path) in msg and fragment in msg


HEADER = "t,px,py,pz,qx,qy,qz,qw\n"


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("", "no header"),
        ("t,x,y,z,qx,qy,qz,qw\n0,0,0,0,0,0,0,1\n", "line 1"),
        (HEADER, "no poses"),
        (HEADER + "0,0,0,0,0,0,1\n", "line 2"),
        (HEADER + "0,0,0,0,0,0,0,1\n0,0,x,0,0,0,0,1\n", "line 3, column py"),
        (HEADER + "0,0,0,0,0,0,0,1\n0,0,nan,0,0,0,0,1\n", "line 3"),
        (HEADER + "0,0,0,0,0,0,0,0\n", "line 2, columns qx..qw"),
        (HEADER + "0,0,0,0,0,0,0,1\n,0,0,0,0,0,0,1\n", "line 3"),
        (HEADER + "1,0,0,0,0,0,0,1\n\n0.5,0,0,0,0,0,0,1\n", "line 4"),
        ("# coordinate_system=maya\n" + HEADER + "0,0,0,0,0,0,0,1\n", "line 1"),
        ("# fps=fast\n" + HEADER + "0,0,0,0,0,0,0,1\n", "line 1 (fps)"),
        ("#\n# intrinsics=1 2 3\n" + HEADER + "0,0,0,0,0,0,0,1\n", "line 2 (intrinsics)"),
    ],
)
def test_bad_csv_pose_paths(tmp_path: Path, content, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(InputError) as err:
        load_pose_path(path)
    msg = str(err.value)
    assert str(path) in msg and fragment in msg


def test_unreadable_pose_paths(tmp_path: Path):
    with pytest.raises(InputError, match="not found"):
        load_pose_path(tmp_path / "nope.json")
    with pytest.raises(InputError, match="directory"):
        load_pose_path(tmp_path)
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputError, match="UTF-8"):
        load_pose_path(tmp_path / "bin.json")
    with pytest.raises(InputError, match="does not exist"):
        save_pose_path(tmp_path / "no" / "dir.json", dolly(1.0, 2))


def test_save_replaces_atomically(tmp_path: Path):
    path = tmp_path / "p.json"
    save_pose_path(path, dolly(1.0, 3))
    save_pose_path(path, dolly(2.0, 4))
    assert len(load_pose_path(path)) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json"]
