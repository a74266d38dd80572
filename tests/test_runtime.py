import sys

import numpy as np
import pytest

from ex4d_bridge.geometry import build_dw_mesh, render
from ex4d_bridge.runtime import tune_allocator


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tuning is Linux-only")
def test_tuning_the_allocator_changes_no_result():
    d = np.random.default_rng(0).uniform(2, 3, (40, 50)).astype(np.float32)
    before = render(build_dw_mesh(d, None), np.eye(4))
    assert tune_allocator() is True
    assert tune_allocator() is True  # idempotent
    after = render(build_dw_mesh(d, None), np.eye(4))
    np.testing.assert_array_equal(before.face_id, after.face_id)
    np.testing.assert_array_equal(before.depth, after.depth)
