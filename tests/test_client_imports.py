"""The Python client and the wire package stay within the base install: importing them loads
no model stack (torch, diffusers, transformers), no server extra (OpenCV, PyAV, trimesh) and
no server or geometry code. Checked in a fresh interpreter, where nothing was imported before."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "diffusers", "transformers", "cv2", "av", "trimesh", "scipy", "safetensors")
OURS = ("ex4d_bridge.server", "ex4d_bridge.geometry", "ex4d_bridge.scene", "ex4d_bridge.depth")


def loaded_after(statement: str) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return set(json.loads(r.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "statement", ["import ex4d_bridge.client", "from ex4d_bridge import wire", "import ex4d_bridge"]
)
def test_the_client_imports_no_model_or_server_stack(statement):
    modules = loaded_after(statement)
    assert not {m for m in modules if m.split(".")[0] in HEAVY}
    assert not {m for m in modules if m.startswith(OURS)}


def test_the_issue_check_verbatim():
    code = (
        "import ex4d_bridge.client, sys; "
        "assert not {'torch','diffusers','transformers'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
