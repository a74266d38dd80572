"""Completion layers: generated views lifted back into 3D, stored with the scene, and rendered
from any pose composited with the source DW-Mesh.

``layers`` (the data model and a layer's mesh), ``lift`` (generated frames -> layers, with a
depth fill from ``depth_fill``), ``store`` (completions stored per generation beside the scene),
``compose`` (``CompletedScene``: source + completions by depth, with nearby frames filling what
is left), ``complete`` (generate along a coverage set of paths, from ``camera.coverage``, lift
and store: ``complete_scene``).
"""

from ...camera.coverage import COVERAGE_SETS, coverage_paths, coverage_set
from .complete import (
    GENERATORS,
    CompletionReport,
    PathReport,
    PoseAwareCompleter,
    ViewCompleter,
    complete_scene,
    export_completions,
    generation_id,
    generator_name,
    poses_digest,
    render_completed_files,
    source_frames_for,
)
from .compose import (
    CompletedRender,
    CompletedScene,
    CompletedTrajectoryRender,
    CompositeOptions,
    render_completed_trajectory,
)
from .layers import CompletionLayer, LayerMesh, Provenance, layer_mesh
from .lift import DEPTH_FILLS, LiftOptions, lift_frame, lift_generation
from .store import (
    CompletionInfo,
    Completions,
    list_completions,
    load_completions,
    remove_completions,
    save_completions,
)

__all__ = [
    "COVERAGE_SETS",
    "DEPTH_FILLS",
    "GENERATORS",
    "CompletedRender",
    "CompletedScene",
    "CompletedTrajectoryRender",
    "CompletionInfo",
    "CompletionLayer",
    "CompletionReport",
    "Completions",
    "CompositeOptions",
    "LayerMesh",
    "LiftOptions",
    "PathReport",
    "PoseAwareCompleter",
    "Provenance",
    "ViewCompleter",
    "complete_scene",
    "coverage_paths",
    "coverage_set",
    "export_completions",
    "generation_id",
    "generator_name",
    "layer_mesh",
    "lift_frame",
    "lift_generation",
    "list_completions",
    "load_completions",
    "poses_digest",
    "remove_completions",
    "render_completed_files",
    "render_completed_trajectory",
    "save_completions",
    "source_frames_for",
]
