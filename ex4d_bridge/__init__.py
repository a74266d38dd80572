"""ex4d-bridge: monocular video to explorable 4D scenes (EX-4D) for engines and XR headsets."""

__version__ = "0.1.0"
