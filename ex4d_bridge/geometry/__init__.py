"""Scene geometry: DW-Mesh construction, rasterization and rendering, export."""

from .dwmesh import DWMesh, build_dw_mesh, sanitize_depth, unproject
from .export import export_mesh
from .options import GENERATION_RENDER, DWMeshOptions, RenderOptions
from .rendering import RenderResult, render, render_triangles
from .topology import GridTopology, grid_topology

__all__ = [
    "DWMesh",
    "DWMeshOptions",
    "GENERATION_RENDER",
    "GridTopology",
    "RenderOptions",
    "RenderResult",
    "build_dw_mesh",
    "export_mesh",
    "grid_topology",
    "render",
    "render_triangles",
    "sanitize_depth",
    "unproject",
]
