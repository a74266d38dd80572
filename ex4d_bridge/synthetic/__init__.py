"""An analytic synthetic scene with known depth, for tests and the demo."""

from .scene import OBJECT_NAMES, SceneRender, Sphere, SyntheticScene

__all__ = ["OBJECT_NAMES", "SceneRender", "Sphere", "SyntheticScene"]
