#!/usr/bin/env sh
# Installs ex4d-bridge from this checkout (editable, every extra: [all,dev]) and the right torch:
#  - a torch that is already installed (for example your CUDA build) is kept;
#  - with an NVIDIA GPU and no torch, pip's default (CUDA) build is installed;
#  - without an NVIDIA GPU, the CPU build is installed, so no nvidia-* wheels are downloaded.
# Use PYTHON=/path/to/python to choose the interpreter (default: python3).
set -eu
PY=${PYTHON:-python3}
cd "$(dirname "$0")"

if "$PY" -c "import torch" 2>/dev/null; then
    echo "install.sh: keeping torch $("$PY" -c 'import torch; print(torch.__version__)')"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "install.sh: NVIDIA GPU found, installing torch with CUDA"
    "$PY" -m pip install torch
else
    echo "install.sh: no NVIDIA GPU, installing the CPU build of torch"
    # A local wheel or mirror carrying the +cpu build first, then PyTorch's CPU index.
    "$PY" -m pip install "torch==2.13.0+cpu" \
        || "$PY" -m pip install torch --index-url https://download.pytorch.org/whl/cpu
fi
# [all] = [server] + [generate] + [train]; a client-only install is `pip install .` (no torch).
"$PY" -m pip install -e ".[all,dev]"
