"""GLB/PLY export of a DW-Mesh: glTF axes and materials in the GLB, OpenCV axes in the PLY."""

import json
import struct

import numpy as np
import trimesh

from ex4d_bridge.geometry import build_dw_mesh, export_mesh
from ex4d_bridge.geometry.export import OPENCV_TO_GLTF


def smooth_depth(h=24, w=32):
    ys, xs = np.mgrid[0:h, 0:w]
    d = (3.0 + 0.3 * np.sin(xs / 5.0) + 0.2 * np.cos(ys / 4.0)).astype(np.float32)
    d[8:16, 8:16] = 6.0  # a step, so some faces are occluded
    return d


def colors(h=24, w=32):
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def glb_json(path) -> dict:
    data = path.read_bytes()
    magic, version, _ = struct.unpack("<4sII", data[:12])
    assert (magic, version) == (b"glTF", 2)
    length, kind = struct.unpack("<I4s", data[12:20])
    assert kind == b"JSON"
    return json.loads(data[20 : 20 + length])


def faces_toward_origin(vertices, faces) -> float:
    """Share of faces whose counter-clockwise normal points to the camera at the origin."""
    tri = np.asarray(vertices, np.float64)[np.asarray(faces)]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    return float(np.mean(np.einsum("ij,ij->i", normal, -tri.mean(1)) > 0))


def test_glb_is_in_gltf_axes_with_named_materials_and_vertex_colours(tmp_path):
    m = build_dw_mesh(smooth_depth(), colors())
    path = export_mesh(m, tmp_path / "m.glb")
    loaded = trimesh.load(path)
    assert set(loaded.geometry) == {"visible", "occluded"}
    vis = loaded.geometry["visible"]
    # y up, the camera looking down -z: the surface (3..6 m in front) is at negative z, and
    # the top image row (OpenCV y < 0) is at positive y
    interior = np.abs(vis.vertices[:, 2]) < 50  # not the far border
    assert (vis.vertices[interior, 2] < -2.5).all()
    top = m.vertices[: 32 * 1][:, 1]  # the first row, y down in OpenCV
    assert (top < 0).all() and vis.vertices[:, 1].max() > 0
    want = m.vertices[np.unique(m.faces[~m.occluded])] @ OPENCV_TO_GLTF
    np.testing.assert_allclose(np.sort(vis.vertices, 0), np.sort(want, 0), rtol=1e-6)
    # the DW-Mesh winds its faces clockwise from the camera; the GLB's face it, counter-clockwise
    assert faces_toward_origin(m.vertices, m.faces[~m.occluded]) == 0.0
    assert faces_toward_origin(vis.vertices, vis.faces) == 1.0
    # the materials survive beside the vertex colours, in trimesh and in the file itself
    for name, g in loaded.geometry.items():
        assert g.visual.material.name == name
        assert len(g.visual.vertex_attributes["color"]) == len(g.vertices)
    doc = glb_json(path)
    assert {n["name"] for n in doc["nodes"]} >= {"visible", "occluded"}
    materials = [mat["name"] for mat in doc["materials"]]
    assert sorted(materials) == ["occluded", "visible"]
    for mesh in doc["meshes"]:
        (prim,) = mesh["primitives"]
        assert "COLOR_0" in prim["attributes"]
        assert materials[prim["material"]] == mesh["name"]
        pbr = doc["materials"][prim["material"]]["pbrMetallicRoughness"]
        assert pbr["metallicFactor"] == 0.0 and pbr["baseColorFactor"] == [1.0] * 4


def test_glb_vertex_colours_follow_their_vertices(tmp_path):
    m = build_dw_mesh(smooth_depth(), colors())
    occ = trimesh.load(export_mesh(m, tmp_path / "m.glb")).geometry["occluded"]
    used = np.unique(m.faces[m.occluded])
    order_file = np.lexsort(occ.vertices.T)
    order_mesh = np.lexsort((m.vertices[used] @ OPENCV_TO_GLTF).T)
    np.testing.assert_array_equal(
        occ.visual.vertex_attributes["color"][order_file, :3], m.colors[used][order_mesh]
    )


def test_ply_stays_in_opencv_axes(tmp_path):
    m = build_dw_mesh(smooth_depth(), colors())
    ply = trimesh.load(export_mesh(m, tmp_path / "m.ply"), process=False)
    np.testing.assert_allclose(ply.vertices, m.vertices)
