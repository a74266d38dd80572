"""Completion layers as meshes: the DW-Mesh rules on an open crop, rendered as plain triangles.

Ground truth: analytic planes seen from the layer's own camera and from a moved one."""

import numpy as np
import pytest

from ex4d_bridge.camera import Intrinsics, look_at
from ex4d_bridge.errors import InputError
from ex4d_bridge.geometry import RenderOptions, render_triangles
from ex4d_bridge.scene.completion.layers import CompletionLayer, LayerMesh, layer_mesh

K = Intrinsics(40.0, 40.0, 32.0, 24.0, 64, 48)
TORCH = RenderOptions(backend="torch")


def plane_layer(depth=2.0, region=(10, 8, 40, 30), pose=None, hole=None):
    x0, y0, x1, y1 = region
    d = np.full((y1 - y0, x1 - x0), depth, np.float32)
    if hole is not None:
        d[hole] = np.inf
    c = np.zeros((*d.shape, 3), np.uint8)
    c[..., 0] = 200
    return CompletionLayer(3, "orbit:30", np.eye(4) if pose is None else pose, K, region, d, c)


def test_a_plane_layer_renders_back_at_its_depth():
    layer = plane_layer()
    m = layer_mesh(layer)
    out = render_triangles(m.vertices, m.faces, m.colors, layer.pose, K, TORCH)
    # Vertices sit at pixel centres, so the layer's own pixels are exactly what it covers.
    expected = np.zeros((48, 64), bool)
    expected[8:30, 10:40] = True
    np.testing.assert_array_equal(out.mask, expected)
    np.testing.assert_allclose(out.depth[out.mask], 2.0, rtol=1e-5)
    assert (out.color[out.mask] == [200, 0, 0]).all()


def test_layers_live_in_world_coordinates():
    pose = look_at(np.array([0.5, 0.0, 0.0]), np.array([0.5, 0.0, 2.0]))
    m = layer_mesh(plane_layer(pose=pose))
    np.testing.assert_allclose(m.vertices[:, 2], 2.0, rtol=1e-5)  # fronto-parallel plane
    assert m.vertices[:, 0].min() > 0.5 - 2.0 * 22 / 40  # shifted with the camera


def test_faces_touching_pixels_outside_the_layer_are_dropped():
    hole = (slice(5, 10), slice(5, 10))
    full, holed = layer_mesh(plane_layer()), layer_mesh(plane_layer(hole=hole))
    # Every triangle with a hole pixel as a corner goes: the 6x6 quads around a 5x5 hole hold
    # 72 triangles, less one each at the two corner quads whose hole pixel lies off the split
    # diagonal's far triangle ([BL, TL, TR] / [BL, TR, BR]): 70.
    assert full.num_faces - holed.num_faces == 70


def test_a_depth_edge_inside_a_layer_is_not_bridged():
    layer = plane_layer()
    layer.depth[:, 15:] = 20.0  # a step from 2 to 20
    m = layer_mesh(layer)
    z = m.vertices[m.faces][:, :, 2]
    assert (z.max(1) / z.min(1) < 1.5).all()  # no face spans the step


def test_concatenate_keeps_layer_ids():
    a, b = layer_mesh(plane_layer()), layer_mesh(plane_layer(depth=3.0))
    both = LayerMesh.concatenate([a, LayerMesh.empty(), b])
    assert both.num_faces == a.num_faces + b.num_faces
    assert set(np.unique(both.face_layer)) == {0, 1}
    np.testing.assert_allclose(both.vertices[both.faces[both.face_layer == 1]][..., 2], 3.0)


def test_empty_meshes_render_as_nothing():
    e = LayerMesh.empty()
    out = render_triangles(e.vertices, e.faces, e.colors, np.eye(4), K, TORCH)
    assert not out.mask.any() and np.isinf(out.depth).all() and (out.face_id == -1).all()


def test_bad_layers_are_refused():
    with pytest.raises(InputError, match="region"):
        plane_layer(region=(60, 0, 70, 10))
    with pytest.raises(InputError, match="depth"):
        CompletionLayer(
            0,
            "g",
            np.eye(4),
            K,
            (0, 0, 4, 4),
            np.ones((3, 4), np.float32),
            np.zeros((4, 4, 3), np.uint8),
        )
