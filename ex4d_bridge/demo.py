"""``ex4d-bridge demo``: the whole path on an embedded synthetic scene.

Synthetic scene (known depth) -> DW-Mesh per frame -> reference orbits -> colour and mask
videos -> fast classical completion of the masked pixels -> ``generated_<tag>.mp4`` (the name
``ex4d-bridge generate`` gives its output), the frame-0 mesh as GLB.
The reconstructed scene is kept in ``OUT/scene/`` and completed (``ex4d-bridge complete``
with the classical generator along a small coverage set), so every command can be tried on
it; the contact sheet compares raw and completed renders at poses *off* the generation paths
with the true views. Because the scene is analytic, the demo also reports how far the
rendered views are from the true views.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from .camera import Trajectory, reference_orbit
from .camera.coverage import orbit_pose, pivot_radius
from .depth import KnownDepth
from .generation.fallback import complete_frames
from .geometry import GENERATION_RENDER, RenderOptions, export_mesh, render
from .scene import TrajectoryRender, iter_trajectory_frames, reconstruct, save_trajectory_render
from .synthetic import SyntheticScene
from .video import write_video

# Poses off every coverage path, one per contact-sheet column: (yaw, pitch) in degrees around
# the pivot, distance as a multiple of the pivot radius, and a look-away (yaw, pitch) offset.
OFF_PATH_VIEWS = (
    (-50.0, 8.0, 0.9, (3.0, 0.0)),
    (42.0, -12.0, 1.1, (0.0, 2.0)),
    (-28.0, -18.0, 1.0, (-2.0, 2.0)),
    (55.0, 10.0, 1.0, (0.0, -3.0)),
)
LABEL_WIDTH = 150
# The demo completes every 4th frame of its paths (the frames between borrow from them when
# rendered), which keeps it well under two minutes on a 2-core CPU at 512x512x49.
DEMO_STRIDE = 4


def _tile(img: np.ndarray, size: int) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat((img.astype(np.uint8) * 255)[..., None], 3, axis=2)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def _label(text: str, height: int, width: int) -> np.ndarray:
    """A dark tile with ``text`` (lines split on newlines), left-aligned, vertically centred."""
    tile = np.full((height, width, 3), 24, np.uint8)
    lines = text.split("\n")
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.42, 1
    line_h = 16
    y = height // 2 - (len(lines) * line_h) // 2 + 11
    for line in lines:
        cv2.putText(tile, line, (6, y), font, scale, (235, 235, 235), thick, cv2.LINE_AA)
        y += line_h
    return tile


def contact_sheet(
    rows: list[list[np.ndarray]], tile: int = 160, labels: list[str] | None = None
) -> np.ndarray:
    """Rows of images (RGB uint8 or bool masks) -> one RGB image, 4 px gutters; with
    ``labels``, a column of row labels on the left."""
    gap = 4
    n_cols = max(len(r) for r in rows)
    left = LABEL_WIDTH + gap if labels else 0
    sheet = np.full(
        (len(rows) * (tile + gap) + gap, left + n_cols * (tile + gap) + gap, 3), 24, np.uint8
    )
    for i, row in enumerate(rows):
        y = gap + i * (tile + gap)
        if labels:
            sheet[y : y + tile, gap : gap + LABEL_WIDTH] = _label(labels[i], tile, LABEL_WIDTH)
        for j, img in enumerate(row):
            x = left + gap + j * (tile + gap)
            sheet[y : y + tile, x : x + tile] = _tile(img, tile)
    return sheet


def _psnr(img: np.ndarray, truth: np.ndarray) -> float:
    mse = np.mean((img.astype(np.float64) - truth.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def run_demo(
    out: Path,
    *,
    size: int = 512,
    num_frames: int = 49,
    angles: tuple[float, ...] | list[float] = (90.0, -90.0),
    coverage: str | None = "walk-small",
    stride: int = DEMO_STRIDE,
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
    scene_dir = out / "scene"
    paths: dict[str, Path] = {"scene": scene.save(scene_dir)}
    paths["input"] = write_video(out / "input.mp4", scene.frames, scene.fps)
    paths["mesh"] = export_mesh(scene.mesh(0), out / "dw_mesh_frame0.glb")

    picks = sorted({0, num_frames // 3, (2 * num_frames) // 3, num_frames - 1})
    sheet_rows: list[list[np.ndarray]] = [[scene.frames[t] for t in picks]]
    labels = ["source video\n(frames " + ", ".join(str(t) for t in picks) + ")"]
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
        # named as `generate` names its output: the classical generation of the same inputs
        paths[f"generated_{tag}"] = write_video(out / f"generated_{tag}.mp4", completed, scene.fps)
        say(
            f"orbit {angle:+g} deg: {100 * (1 - masks.mean()):.1f}% of pixels to generate; "
            f"visible pixels differ from the analytic views by {np.mean(errors):.1f}/255 on average"
        )
        sheet_rows += [
            [colors[t] for t in picks],
            [masks[t] for t in picks],
            [completed[t] for t in picks],
        ]
        labels += [
            f"orbit {angle:+g} deg\nDW-Mesh render",
            f"orbit {angle:+g} deg\nmask (white = copy)",
            f"orbit {angle:+g} deg\nclassical fill\n(2D, this path only)",
        ]

    if coverage:
        rows, more_labels = _complete(
            out, scene, scene_dir, synthetic, picks, coverage, stride, options, progress, say, paths
        )
        sheet_rows += rows
        labels += more_labels

    sheet = contact_sheet(sheet_rows, labels=labels)
    sheet_path = out / "contact_sheet.png"
    cv2.imwrite(str(sheet_path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    paths["contact_sheet"] = sheet_path
    for kind, p in paths.items():
        say(f"{kind:>18}: {p}")
    if coverage:
        say(
            f"try: ex4d-bridge completions {scene_dir}; ex4d-bridge render {scene_dir} "
            f"--completed --trajectory {out / 'walk.json'}"
        )
    return paths


def _complete(
    out, scene, scene_dir, synthetic, picks, coverage, stride, options, progress, say, paths
):
    """Complete the scene along ``coverage`` with the classical generator, then render it
    completed at poses off the paths and along a walk; returns contact-sheet rows + labels."""
    from .generation.interface import FallbackCompleter
    from .scene.completion import CompletedScene, CompositeOptions, load_completions
    from .scene.completion.complete import complete_scene, render_completed_files
    from .scene.completion.lift import LiftOptions

    geometry = RenderOptions(backend=options.backend, device=options.device)
    report = complete_scene(
        scene,
        [coverage],
        FallbackCompleter(),
        scene_dir=scene_dir,
        lift_options=LiftOptions(render=geometry),
        render_options=replace(geometry, mask_style="reference"),
        progress=progress,
        stride=stride,
    )
    stored = sum(p.pixels for p in report.paths)
    say(
        f"complete: {len(report.paths)} paths of the {coverage!r} coverage set"
        + (f" (every {stride}th frame)" if stride > 1 else "")
        + f" generated with the classical fallback and lifted into {stored} completion pixels "
        f"in {report.seconds:.1f} s ({scene_dir / 'completions'})"
    )

    composite = CompositeOptions(render=geometry)
    completed = CompletedScene(scene, load_completions(scene_dir), composite)
    r = pivot_radius(scene.min_depth())
    raw_row, done_row, truth_row = [], [], []
    raw_holes, done_holes, raw_psnr, done_psnr = [], [], [], []
    face = replace(geometry, mask_style="face")
    for t, (yaw, pitch, dist, look) in zip(picks, OFF_PATH_VIEWS, strict=False):
        pose = orbit_pose(r, yaw, pitch, dist * r, look)
        raw = render(scene.mesh(t), pose, scene.intrinsics, face)
        raw_color = np.asarray(raw.color) * np.asarray(raw.mask)[..., None]
        done = completed.render(t, pose, scene.intrinsics)
        truth, truth_depth = synthetic.render_view(t, pose, scene.intrinsics)
        surface = np.isfinite(truth_depth)
        raw_holes.append(float((~np.asarray(raw.mask) & surface).mean()))
        done_holes.append(float((done.holes & surface).mean()))
        raw_psnr.append(_psnr(raw_color, truth))
        done_psnr.append(_psnr(done.color, truth))
        raw_row.append(raw_color.astype(np.uint8))
        done_row.append(done.color)
        truth_row.append(truth)
    say(
        f"off-path views: holes {100 * np.mean(raw_holes):.1f}% raw -> "
        f"{100 * np.mean(done_holes):.1f}% completed; PSNR against the true views "
        f"{np.mean(raw_psnr):.1f} -> {np.mean(done_psnr):.1f} dB"
    )

    # A walk that sways left and right, up and down: none of its poses is on a coverage path.
    n = scene.num_frames
    s = np.linspace(0.0, 1.0, n)
    yaw = 45.0 * np.sin(2.0 * np.pi * s) * np.minimum(1.0, 4.0 * s)
    pitch = 12.0 * np.sin(4.0 * np.pi * s)
    poses = orbit_pose(r, yaw, pitch, r * (1.0 - 0.1 * np.sin(np.pi * s)))
    poses[0] = np.eye(4)
    walk = Trajectory(poses, scene.intrinsics, name="walk", fps=scene.fps)
    walk.save(out / "walk.json")
    paths["walk_path"] = out / "walk.json"
    for kind, p in render_completed_files(
        scene, scene_dir, walk, out, render=geometry, progress=progress
    ).items():
        paths[f"{kind}_walk"] = p

    rows = [raw_row, done_row, truth_row]
    labels = [
        "off-path poses\nraw DW-Mesh\n(black = hole)",
        f"off-path poses\ncompleted\n({coverage}, classical)",
        "off-path poses\nground truth",
    ]
    return rows, labels
