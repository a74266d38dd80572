"""ex4d-bridge: monocular video to explorable 4D scenes (EX-4D) for engines and XR headsets."""

import os as _os
import sys as _sys

__version__ = "0.1.0"

# libgomp, torch's OpenMP runtime, reads its wait policy once, when torch is imported. Its
# default spins a waiting thread, which beside other work slows multi-threaded torch ops by up to
# 60x (see ex4d_bridge.runtime); passive waiting sleeps instead. This must run before torch
# loads, so it lives here, and it keeps any choice already in the environment.
if "torch" not in _sys.modules and not {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"} & set(_os.environ):
    _os.environ["OMP_WAIT_POLICY"] = "passive"
