"""Recorded camera paths on disk: the pose-path format (JSON or CSV).

This is the format a client (the Unity package, a script, another language) writes to send a
camera path. Both encodings carry the same content:

- a **coordinate system** (``opencv``, ``opengl``/``openxr``, ``unity``, ``unreal``; see
  :mod:`ex4d_bridge.camera.conventions`) in which every position and rotation is given. When a
  file names none, the reader's default applies (``opencv`` unless the caller says otherwise);
- per pose the camera **position** (x, y, z) in scene units and its **rotation** as a quaternion
  (qx, qy, qz, qw), scalar last, camera-to-world (it turns camera axes into world axes, like a
  Unity ``Transform.rotation``). Quaternions need not be exactly unit length (they are
  normalised) but must not be (nearly) zero;
- optionally per pose a time stamp **t** in seconds, finite and non-decreasing; either every
  pose has one or none has;
- optionally ``fps`` (positive), ``name`` (string), ``intrinsics`` (fx, fy, cx, cy in pixels with
  pixel centres at half-integers, width and height in pixels) and ``fov_y_deg`` (vertical field
  of view in degrees, in (0, 180), for clients that know the lens but not the render size).

JSON (UTF-8), any file whose name does not end in ``.csv``::

    {
      "coordinate_system": "unity",
      "fps": 30,
      "name": "walk-left",
      "fov_y_deg": 60.0,
      "intrinsics": {"fx": 500, "fy": 500, "cx": 256, "cy": 256, "width": 512, "height": 512},
      "poses": [
        {"t": 0.0, "position": [0.0, 0.0, 0.0], "rotation": [0.0, 0.0, 0.0, 1.0]},
        {"t": 0.033, "position": [0.01, 0.0, 0.0], "rotation": [0.0, 0.0087, 0.0, 1.0]}
      ]
    }

Only ``poses`` is required, a non-empty array; ``position`` is an array of 3 numbers and
``rotation`` of 4. Keys not listed here are ignored, so files may carry extra data.

CSV (UTF-8), a file whose name ends in ``.csv``::

    # coordinate_system=unity
    # fps=30
    t,px,py,pz,qx,qy,qz,qw
    0.0,0.0,0.0,0.0,0.0,0.0,0.0,1.0
    0.033,0.01,0.0,0.0,0.0,0.0087,0.0,1.0

- Before the header, lines starting with ``#`` hold metadata, one ``key=value`` per line
  (spaces around key and value are ignored). Keys: ``coordinate_system``, ``fps``, ``name``,
  ``fov_y_deg`` and ``intrinsics`` (six numbers separated by spaces: fx fy cx cy width height).
  Unknown keys and ``#`` lines without ``=`` are ignored.
- The header is exactly the eight names ``t,px,py,pz,qx,qy,qz,qw`` in this order (case and
  spaces around names are ignored).
- Each following line is one pose: eight comma-separated fields, all numbers except that ``t``
  may be empty (then it must be empty on every line). Blank lines and ``#`` lines after the
  header are ignored.

Readers raise :class:`~ex4d_bridge.errors.InputError` naming the file and the line (CSV) or the
field (JSON) that is wrong. Writers emit exactly these forms, floats with full precision.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InputError
from .conventions import QUAT_MIN_NORM, CoordinateSystem, pose_from_wire, pose_to_wire
from .intrinsics import Intrinsics
from .trajectory import Trajectory

CSV_HEADER = ("t", "px", "py", "pz", "qx", "qy", "qz", "qw")
_INTRINSICS_FIELDS = ("fx", "fy", "cx", "cy", "width", "height")


def load_pose_path(
    path: str | os.PathLike,
    *,
    default_system: str | CoordinateSystem = CoordinateSystem.OPENCV,
) -> Trajectory:
    """Read a pose-path file (CSV if the name ends in .csv, JSON otherwise) as OpenCV poses.

    ``default_system`` applies only when the file does not name its coordinate system.
    """
    p = Path(path)
    default = CoordinateSystem.parse(default_system)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"pose path file not found: {p}") from None
    except IsADirectoryError:
        raise InputError(f"pose path {p} is a directory; give a .json or .csv file") from None
    except UnicodeDecodeError:
        raise InputError(f"{p}: not UTF-8 text; pose paths are JSON or CSV text") from None
    except OSError as exc:
        raise InputError(f"cannot read pose path {p}: {exc.strerror or exc}") from None
    if p.suffix.lower() == ".csv":
        return _parse_csv(text, str(p), default, p.stem)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{p}: not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from None
    return pose_path_from_dict(data, source=str(p), default_system=default, default_name=p.stem)


def save_pose_path(
    path: str | os.PathLike,
    trajectory: Trajectory,
    system: str | CoordinateSystem = CoordinateSystem.OPENCV,
) -> None:
    """Write ``trajectory`` with poses in ``system`` (CSV if the name ends in .csv, else JSON).

    The file is replaced atomically, so a failed write never leaves half a file.
    """
    p = Path(path)
    if p.suffix.lower() == ".csv":
        text = _format_csv(trajectory, CoordinateSystem.parse(system))
    else:
        text = json.dumps(pose_path_to_dict(trajectory, system), indent=1) + "\n"
    write_text_atomic(p, text)


def pose_path_to_dict(trajectory: Trajectory, system: str | CoordinateSystem) -> dict:
    """The JSON object of the pose-path format for ``trajectory``, poses in ``system``."""
    sys_ = CoordinateSystem.parse(system)
    pos, quat = pose_to_wire(trajectory.poses, sys_)
    out: dict = {"coordinate_system": sys_.value, "name": trajectory.name}
    if trajectory.fps is not None:
        out["fps"] = trajectory.fps
    if trajectory.intrinsics is not None:
        out["intrinsics"] = trajectory.intrinsics.to_dict()
    if trajectory.fov_y_deg is not None:
        out["fov_y_deg"] = trajectory.fov_y_deg
    poses = []
    for i in range(len(trajectory)):
        entry: dict = {}
        if trajectory.times is not None:
            entry["t"] = float(trajectory.times[i])
        entry["position"] = pos[i].tolist()
        entry["rotation"] = quat[i].tolist()
        poses.append(entry)
    out["poses"] = poses
    return out


def pose_path_from_dict(
    data,
    *,
    source: str = "pose path",
    default_system: str | CoordinateSystem = CoordinateSystem.OPENCV,
    default_name: str = "custom",
) -> Trajectory:
    """Parse the JSON object of the pose-path format; ``source`` prefixes every error."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: the top level must be a JSON object with a 'poses' array")
    system = _system(data.get("coordinate_system"), default_system, f"{source}: coordinate_system")
    poses = data.get("poses")
    if not isinstance(poses, list) or not poses:
        raise InputError(f"{source}: 'poses' must be a non-empty array of pose objects")
    positions = np.empty((len(poses), 3))
    quats = np.empty((len(poses), 4))
    times: list[float] = []
    has_t = isinstance(poses[0], dict) and "t" in poses[0]
    for i, entry in enumerate(poses):
        where = f"{source}: poses[{i}]"
        if not isinstance(entry, dict):
            raise InputError(f"{where} must be an object with 'position' and 'rotation'")
        positions[i] = _numbers(entry.get("position"), 3, f"{where}.position", "[x, y, z]")
        quats[i] = _numbers(entry.get("rotation"), 4, f"{where}.rotation", "[qx, qy, qz, qw]")
        _check_quat(quats[i], f"{where}.rotation")
        if ("t" in entry) != has_t:
            raise InputError(f"{where}.t: give a time stamp on every pose or on none")
        if has_t:
            times.append(_number(entry["t"], f"{where}.t"))
            _check_time_order(times, f"{where}.t")
    name = data.get("name", default_name)
    if not isinstance(name, str):
        raise InputError(f"{source}: name must be a string")
    fps = data.get("fps")
    if fps is not None:
        fps = _number(fps, f"{source}: fps")
    fov = data.get("fov_y_deg")
    if fov is not None:
        fov = _number(fov, f"{source}: fov_y_deg")
    intrinsics = None
    if data.get("intrinsics") is not None:
        intrinsics = _intrinsics_from_json(data["intrinsics"], f"{source}: intrinsics")
    return _build(source, positions, quats, system, times or None, name, fps, fov, intrinsics)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"cannot write {path}: the folder {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _build(
    source: str,
    positions: np.ndarray,
    quats: np.ndarray,
    system: CoordinateSystem,
    times: list[float] | None,
    name: str,
    fps: float | None,
    fov: float | None,
    intrinsics: Intrinsics | None,
) -> Trajectory:
    try:
        return Trajectory(
            pose_from_wire(positions, quats, system),
            intrinsics,
            name=name,
            fps=fps,
            times=None if times is None else np.asarray(times),
            fov_y_deg=fov,
        )
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


def _check_time_order(times: list[float], where: str) -> None:
    if len(times) > 1 and times[-1] < times[-2]:
        raise InputError(
            f"{where}: time {times[-1]:g} is before the previous pose's {times[-2]:g}; "
            "time stamps must not decrease"
        )


def _system(value, default, where: str) -> CoordinateSystem:
    if value is None:
        return CoordinateSystem.parse(default)
    try:
        return CoordinateSystem.parse(value)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where} must be a number, got {_short(value)}")
    v = float(value)
    if not math.isfinite(v):
        raise InputError(f"{where} must be finite, got {_short(value)}")
    return v


def _numbers(value, count: int, where: str, form: str) -> list[float]:
    if not isinstance(value, list) or len(value) != count:
        raise InputError(f"{where} must be a list of {count} numbers {form}, got {_short(value)}")
    return [_number(v, where) for v in value]


def _check_quat(q: np.ndarray, where: str) -> None:
    if np.linalg.norm(q) < QUAT_MIN_NORM:
        raise InputError(f"{where} has zero length; give a unit quaternion [qx, qy, qz, qw]")


def _intrinsics_from_json(value, where: str) -> Intrinsics:
    if not isinstance(value, dict):
        raise InputError(f"{where} must be an object with {', '.join(_INTRINSICS_FIELDS)}")
    missing = [k for k in _INTRINSICS_FIELDS if k not in value]
    if missing:
        raise InputError(f"{where} is missing {', '.join(missing)}")
    nums = [_number(value[k], f"{where}.{k}") for k in _INTRINSICS_FIELDS]
    return _make_intrinsics(nums, where)


def _make_intrinsics(nums: list[float], where: str) -> Intrinsics:
    fx, fy, cx, cy, w, h = nums
    if w != int(w) or h != int(h):
        raise InputError(f"{where}: width and height must be whole numbers of pixels")
    try:
        return Intrinsics(fx, fy, cx, cy, int(w), int(h))
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def _format_csv(trajectory: Trajectory, system: CoordinateSystem) -> str:
    pos, quat = pose_to_wire(trajectory.poses, system)
    lines = [f"# coordinate_system={system.value}"]
    name = " ".join(trajectory.name.split())
    if name:
        lines.append(f"# name={name}")
    if trajectory.fps is not None:
        lines.append(f"# fps={trajectory.fps!r}")
    if trajectory.fov_y_deg is not None:
        lines.append(f"# fov_y_deg={trajectory.fov_y_deg!r}")
    if trajectory.intrinsics is not None:
        k = trajectory.intrinsics
        values = [float(k.fx), float(k.fy), float(k.cx), float(k.cy)]
        lines.append("# intrinsics=" + " ".join([*map(repr, values), str(k.width), str(k.height)]))
    lines.append(",".join(CSV_HEADER))
    rows = np.concatenate([pos, quat], axis=1)
    for i, row in enumerate(rows):
        t = "" if trajectory.times is None else repr(float(trajectory.times[i]))
        lines.append(",".join([t, *(repr(float(v)) for v in row)]))
    return "\n".join(lines) + "\n"


def _parse_csv(text: str, source: str, default, default_name: str) -> Trajectory:
    meta: dict[str, tuple[str, int]] = {}
    header_seen = False
    rows: list[list[float]] = []
    times: list[float | None] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        where = f"{source}: line {lineno}"
        if line.startswith("#"):
            if not header_seen and "=" in line:
                key, _, value = line[1:].partition("=")
                meta[key.strip().lower()] = (value.strip(), lineno)
            continue
        fields = [f.strip() for f in line.split(",")]
        if not header_seen:
            if tuple(f.lower() for f in fields) != CSV_HEADER:
                raise InputError(
                    f"{where}: expected the header {','.join(CSV_HEADER)}, got {_short(line)}"
                )
            header_seen = True
            continue
        if len(fields) != len(CSV_HEADER):
            raise InputError(
                f"{where}: expected {len(CSV_HEADER)} comma-separated fields "
                f"({','.join(CSV_HEADER)}), got {len(fields)}"
            )
        t = None if fields[0] == "" else _csv_number(fields[0], f"{where}, column t")
        values = [
            _csv_number(f, f"{where}, column {name}")
            for f, name in zip(fields[1:], CSV_HEADER[1:], strict=True)
        ]
        if rows and (t is None) != (times[0] is None):
            raise InputError(f"{where}: give t on every line or leave it empty on every line")
        _check_quat(np.asarray(values[3:]), f"{where}, columns qx..qw")
        rows.append(values)
        times.append(t)
        if t is not None:
            _check_time_order([x for x in times[-2:] if x is not None], f"{where}, column t")
    if not header_seen:
        raise InputError(f"{source}: no header line {','.join(CSV_HEADER)} found")
    if not rows:
        raise InputError(f"{source}: no poses after the header")

    def meta_where(key: str) -> str:
        return f"{source}: line {meta[key][1]} ({key})"

    system = default
    if "coordinate_system" in meta:
        system = _system(meta["coordinate_system"][0], default, meta_where("coordinate_system"))
    fps = fov = intrinsics = None
    if "fps" in meta:
        fps = _csv_number(meta["fps"][0], meta_where("fps"))
    if "fov_y_deg" in meta:
        fov = _csv_number(meta["fov_y_deg"][0], meta_where("fov_y_deg"))
    if "intrinsics" in meta:
        parts = meta["intrinsics"][0].split()
        if len(parts) != 6:
            raise InputError(
                f"{meta_where('intrinsics')}: expected six numbers fx fy cx cy width height"
            )
        nums = [_csv_number(v, meta_where("intrinsics")) for v in parts]
        intrinsics = _make_intrinsics(nums, meta_where("intrinsics"))
    name = meta["name"][0] if "name" in meta else default_name
    arr = np.asarray(rows)
    has_t = times[0] is not None
    return _build(
        source,
        arr[:, :3],
        arr[:, 3:],
        system,
        [float(t) for t in times if t is not None] if has_t else None,
        name,
        fps,
        fov,
        intrinsics,
    )


def _csv_number(text: str, where: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise InputError(f"{where}: {_short(text)} is not a number") from None
    if not math.isfinite(v):
        raise InputError(f"{where}: {_short(text)} is not finite")
    return v
