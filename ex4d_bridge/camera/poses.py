"""Building and checking camera-to-world poses in the library frame (OpenCV axes)."""

from __future__ import annotations

import numpy as np

from ..errors import InputError

# Below this length a view direction or side vector is treated as zero: the pose is undefined.
_DEGENERATE = 1e-9


def look_at(eye, target, up=(0.0, -1.0, 0.0)) -> np.ndarray:
    """Camera-to-world OpenCV pose(s) at ``eye`` whose optical axis (+z) points at ``target``.

    The camera's y axis (image down) is as close as possible to ``-up``; the default
    ``up = (0, -1, 0)`` is "up" in the OpenCV world, so an eye at the origin looking at
    (0, 0, d) gets exactly the identity rotation. ``eye``, ``target`` and ``up`` broadcast:
    (..., 3) inputs give (..., 4, 4) poses.
    """
    e, t, u = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    for name, v in (("eye", e), ("target", t), ("up", u)):
        if v.ndim == 0 or v.shape[-1] != 3:
            raise InputError(f"look_at: {name} must have shape (..., 3), got {v.shape}")
        if not np.all(np.isfinite(v)):
            raise InputError(f"look_at: {name} contains NaN or infinite values")
    try:
        e, t, u = np.broadcast_arrays(e, t, u)
    except ValueError:
        raise InputError(
            f"look_at: eye {e.shape}, target {t.shape} and up {u.shape} do not broadcast"
        ) from None
    z = t - e
    z_len = np.linalg.norm(z, axis=-1, keepdims=True)
    if np.any(z_len < _DEGENERATE):
        raise InputError("look_at: eye and target coincide, so the view direction is undefined")
    z = z / z_len
    # With y = down and z = forward, right = forward x up (right-handed OpenCV axes).
    x = np.cross(z, u)
    x_len = np.linalg.norm(x, axis=-1, keepdims=True)
    u_len = np.linalg.norm(u, axis=-1, keepdims=True)
    # |x| = |up| sin(angle between up and view): refuse angles under ~1e-6 rad.
    if np.any(u_len < _DEGENERATE) or np.any(x_len < 1e-6 * u_len):
        raise InputError(
            "look_at: the up vector is zero or parallel to the view direction; "
            "choose an up vector that is not along eye -> target"
        )
    x = x / x_len
    y = np.cross(z, x)
    m = np.zeros(e.shape[:-1] + (4, 4))
    m[..., :3, 0] = x
    m[..., :3, 1] = y
    m[..., :3, 2] = z
    m[..., :3, 3] = e
    m[..., 3, 3] = 1.0
    return m


def is_rigid(m, tol: float = 1e-6) -> bool:
    """True when every matrix in ``m`` (..., 4, 4) is a rotation plus translation.

    Checks finite entries, bottom row (0, 0, 0, 1), orthonormal rotation block and det +1,
    each within ``tol``.
    """
    a = np.asarray(m, dtype=np.float64)
    if a.ndim < 2 or a.shape[-2:] != (4, 4) or not np.all(np.isfinite(a)):
        return False
    if np.any(np.abs(a[..., 3, :] - np.array([0.0, 0.0, 0.0, 1.0])) > tol):
        return False
    r = a[..., :3, :3]
    if np.any(np.abs(np.swapaxes(r, -1, -2) @ r - np.eye(3)) > tol):
        return False
    return bool(np.all(np.abs(np.linalg.det(r) - 1.0) <= tol * 3))


def invert_rigid(m: np.ndarray) -> np.ndarray:
    """Inverse of rigid transforms (..., 4, 4), exact up to rounding (R^T, -R^T t)."""
    a = np.asarray(m, dtype=np.float64)
    r_t = np.swapaxes(a[..., :3, :3], -1, -2)
    out = np.zeros_like(a)
    out[..., :3, :3] = r_t
    out[..., :3, 3] = -(r_t @ a[..., :3, 3:4])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def pose_distances(poses: np.ndarray, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position distance, rotation angle in degrees) from each of ``poses`` (N, 4, 4) to
    ``pose`` (4, 4); both camera-to-world in the same frame."""
    a = np.asarray(poses, dtype=np.float64).reshape(-1, 4, 4)
    b = np.asarray(pose, dtype=np.float64)
    dpos = np.linalg.norm(a[:, :3, 3] - b[:3, 3], axis=1)
    # trace(R_a^T R_b) = 1 + 2 cos(angle between them)
    rel = np.einsum("nji,jk->nik", a[:, :3, :3], b[:3, :3])
    cos = np.clip((np.trace(rel, axis1=1, axis2=2) - 1.0) / 2.0, -1.0, 1.0)
    return dpos, np.degrees(np.arccos(cos))
