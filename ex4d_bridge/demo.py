"""``ex4d-bridge demo``: the whole geometry path on an embedded synthetic scene.

Synthetic scene (known depth) -> DW-Mesh per frame -> reference orbits -> colour and mask
videos -> fast classical completion of the masked pixels -> videos, the frame-0 mesh as GLB and
a contact sheet. Because the scene is analytic, the demo also reports how far the rendered
novel views are from the true views where the mask says the pixels are copied, not generated.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .camera import reference_orbit
from .depth import KnownDepth
from .generation.fallback import complete_frames
from .geometry import GENERATION_RENDER, RenderOptions, export_mesh
from .scene import TrajectoryRender, iter_trajectory_frames, reconstruct, save_trajectory_render
from .synthetic import SyntheticScene
from .video import write_video


def _tile(img: np.ndarray, size: int) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat((img.astype(np.uint8) * 255)[..., None], 3, axis=2)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def contact_sheet(rows: list[list[np.ndarray]], tile: int = 160) -> np.ndarray:
    """Rows of images (RGB uint8 or bool masks) -> one RGB image, 4 px gutters."""
    gap = 4
    n_cols = max(len(r) for r in rows)
    sheet = np.full((len(rows) * (tile + gap) + gap, n_cols * (tile + gap) + gap, 3), 24, np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            y, x = gap + i * (tile + gap), gap + j * (tile + gap)
            sheet[y : y + tile, x : x + tile] = _tile(img, tile)
    return sheet


def run_demo(
    out: Path,
    *,
    size: int = 512,
    num_frames: int = 49,
    angles: tuple[float, ...] | list[float] = (90.0, -90.0),
    options: RenderOptions = GENERATION_RENDER,
    progress: bool = True,
    say=print,
) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    synthetic = SyntheticScene(width=size, height=size, num_frames=num_frames)
    say(f"synthetic scene: {num_frames} frames of {size}x{size}, known depth")
    scene = reconstruct(
        synthetic.frames(),
        KnownDepth(synthetic.depths()),
        intrinsics=synthetic.intrinsics,
        fps=synthetic.fps,
        source="synthetic",
        progress=progress,
    )
    paths: dict[str, Path] = {"input": write_video(out / "input.mp4", scene.frames, scene.fps)}
    paths["mesh"] = export_mesh(scene.mesh(0), out / "dw_mesh_frame0.glb")

    picks = sorted({0, num_frames // 3, (2 * num_frames) // 3, num_frames - 1})
    sheet_rows: list[list[np.ndarray]] = [[scene.frames[t] for t in picks]]
    for angle in angles:
        traj = reference_orbit(scene.min_depth(), angle, num_frames, scene.intrinsics)
        n = len(traj)
        colors = np.zeros((n, size, size, 3), np.uint8)
        masks = np.zeros((n, size, size), bool)
        idx = np.zeros(n, np.int64)
        errors = []
        frames = iter_trajectory_frames(scene, traj, options, progress=progress)
        for i, (t, color, mask) in enumerate(frames):
            idx[i], colors[i], masks[i] = t, color, mask
            truth, _ = synthetic.render_view(t, traj.poses[i], scene.intrinsics)
            if mask.any():
                errors.append(np.abs(color[mask].astype(np.int16) - truth[mask]).mean())
        result = TrajectoryRender(colors, masks, traj, scene.intrinsics, idx)
        tag = result.tag
        for kind, p in save_trajectory_render(result, out, scene.fps).items():
            paths[f"{kind}_{tag}"] = p
        completed = complete_frames(colors, masks, progress=progress)
        paths[f"completed_{tag}"] = write_video(out / f"completed_{tag}.mp4", completed, scene.fps)
        say(
            f"orbit {angle:+g} deg: {100 * (1 - masks.mean()):.1f}% of pixels to generate; "
            f"visible pixels differ from the analytic views by {np.mean(errors):.1f}/255 on average"
        )
        sheet_rows += [
            [colors[t] for t in picks],
            [masks[t] for t in picks],
            [completed[t] for t in picks],
        ]
    sheet = contact_sheet(sheet_rows)
    sheet_path = out / "contact_sheet.png"
    cv2.imwrite(str(sheet_path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    paths["contact_sheet"] = sheet_path
    for kind, p in paths.items():
        say(f"{kind:>18}: {p}")
    return paths
