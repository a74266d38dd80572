"""Export a DW-Mesh as GLB or PLY with occluded faces distinguishable.

* GLB: a scene with two nodes, ``visible`` and ``occluded``, each with the vertices its faces
  use and their vertex colours; viewers hide the occluded part by its node name.
* PLY (binary little-endian): vertices ``x y z red green blue`` and faces ``vertex_indices``
  plus a ``uchar occluded`` property (1 = occluded), readable by any PLY reader.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from .dwmesh import DWMesh


def _write_ply(mesh: DWMesh, path: Path) -> None:
    m = mesh.numpy()
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment ex4d-bridge DW-Mesh\n"
        f"element vertex {len(m.vertices)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        f"element face {len(m.faces)}\n"
        "property list uchar int vertex_indices\nproperty uchar occluded\nend_header\n"
    )
    vert = np.empty(len(m.vertices), dtype=[("p", "<f4", 3), ("c", "u1", 3)])
    vert["p"], vert["c"] = m.vertices, m.colors
    face = np.empty(len(m.faces), dtype=[("n", "u1"), ("i", "<i4", 3), ("o", "u1")])
    face["n"], face["i"], face["o"] = 3, m.faces, m.occluded
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(vert.tobytes())
        f.write(face.tobytes())


def _write_glb(mesh: DWMesh, path: Path) -> None:
    import trimesh

    m = mesh.numpy()
    rgba = np.concatenate([m.colors, np.full((len(m.colors), 1), 255, np.uint8)], 1)
    scene = trimesh.Scene()
    for name, sel in (("visible", ~m.occluded), ("occluded", m.occluded)):
        if not sel.any():
            continue
        part = trimesh.Trimesh(
            vertices=m.vertices,
            faces=m.faces[sel],
            vertex_colors=rgba,
            process=False,
            validate=False,
        )
        part.remove_unreferenced_vertices()
        scene.add_geometry(part, node_name=name, geom_name=name)
    data = scene.export(file_type="glb")
    path.write_bytes(data)


def export_mesh(mesh: DWMesh, path: str | os.PathLike) -> Path:
    """Write ``mesh`` to ``path`` (.glb or .ply), atomically (temp file, then rename)."""
    path = Path(path)
    writers = {".glb": _write_glb, ".ply": _write_ply}
    writer = writers.get(path.suffix.lower())
    if writer is None:
        raise InputError(
            f"cannot export a mesh as {path.suffix or 'no suffix'!r}; use .glb or .ply"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    writer(mesh, tmp)
    os.replace(tmp, path)
    return path
