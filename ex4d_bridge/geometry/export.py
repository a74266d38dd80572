"""Export a DW-Mesh as GLB or PLY with occluded faces distinguishable.

* GLB, in glTF's axes (x right, y up, the camera looking down -z): every vertex ``(x, y, z)``
  of the mesh's OpenCV camera frame (x right, y down, z forward) is written as ``(x, -y, -z)``,
  a 180-degree rotation about x, which keeps handedness. The DW-Mesh's faces wind clockwise
  seen from the camera, so the GLB lists each face's corners in reverse order: front faces
  (counter-clockwise, glTF's convention) face the camera and single-sided viewers show them. Two
  nodes, ``visible`` and
  ``occluded``, each with the vertices its faces use, their vertex colours (``COLOR_0``) and a
  matte material of the node's name (white base colour, metallic 0, roughness 1, so viewers
  show the vertex colours); viewers hide the occluded part by its node or material name.
* PLY (binary little-endian), in the OpenCV camera frame as the mesh is (x right, y down, z
  forward), the frame the rest of the package and the depth maps use: vertices ``x y z red
  green blue`` and faces ``vertex_indices`` plus a ``uchar occluded`` property (1 = occluded),
  readable by any PLY reader.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
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


#: OpenCV camera axes (x right, y down, z forward) to glTF's (x right, y up, -z forward): a
#: 180-degree rotation about x (determinant +1, so faces keep their winding).
OPENCV_TO_GLTF = np.diag([1.0, -1.0, -1.0]).astype(np.float32)


def glb_bytes(parts: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> bytes:
    """A GLB of one node per ``name: (vertices, faces, rgb colours)`` part, vertices given in
    OpenCV axes and written in glTF's, faces given as the DW-Mesh winds them (clockwise from
    the camera) and written counter-clockwise; each node keeps its vertex colours (``COLOR_0``)
    and gets a matte material of its name. Parts without faces are left out."""
    import trimesh
    from trimesh.visual.material import PBRMaterial

    scene = trimesh.Scene()
    for name, (vertices, faces, colors) in parts.items():
        faces = np.asarray(faces)
        if not len(faces):
            continue
        used, inverse = np.unique(faces, return_inverse=True)
        colors = np.asarray(colors, np.uint8)[used]
        rgba = np.concatenate([colors, np.full((len(used), 1), 255, np.uint8)], 1)
        part = trimesh.Trimesh(
            vertices=np.asarray(vertices, np.float32)[used] @ OPENCV_TO_GLTF,
            faces=inverse.reshape(-1, 3)[:, ::-1],  # counter-clockwise from the camera
            vertex_colors=rgba,
            process=False,
            validate=False,
        )
        # on the ColorVisuals, so the exporter writes the material beside COLOR_0 (a
        # TextureVisuals with a material would drop the vertex colours)
        part.visual.material = PBRMaterial(
            name=name,
            baseColorFactor=[255, 255, 255, 255],
            metallicFactor=0.0,
            roughnessFactor=1.0,
        )
        scene.add_geometry(part, node_name=name, geom_name=name)
    return scene.export(file_type="glb")


def _write_glb(mesh: DWMesh, path: Path) -> None:
    m = mesh.numpy()
    parts = {
        name: (m.vertices, m.faces[sel], m.colors)
        for name, sel in (("visible", ~m.occluded), ("occluded", m.occluded))
    }
    path.write_bytes(glb_bytes(parts))


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
