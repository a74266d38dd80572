"""Completion layers: generated views lifted back into 3D, stored with the scene, and rendered
from any pose composited with the source DW-Mesh.

``layers`` (the data model and a layer's mesh), ``lift`` (generated frames -> layers, with a
depth fill from ``depth_fill``), ``store`` (completions stored per generation beside the scene),
``compose`` (``CompletedScene``: source + completions by depth, with nearby frames filling what
is left).
"""

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
    "DEPTH_FILLS",
    "CompletedRender",
    "CompletedScene",
    "CompletedTrajectoryRender",
    "CompletionInfo",
    "CompletionLayer",
    "Completions",
    "CompositeOptions",
    "LayerMesh",
    "LiftOptions",
    "Provenance",
    "layer_mesh",
    "lift_frame",
    "lift_generation",
    "list_completions",
    "load_completions",
    "remove_completions",
    "render_completed_trajectory",
    "save_completions",
]
