#!/bin/bash
# Run here, before a GPU run: the wheels of benchmarks/gpu_requirements.txt for the GPU
# machine's Python (3.12, Linux x86-64) into .gpu/wheels, which git ignores and the device
# tool carries (`carry: [".gpu"]`, about 9 MB). No dependencies are resolved: the machine's
# image has the rest (see benchmarks/gpu_run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=${PIP:-.venv/bin/pip}
VERSION=${GPU_PYTHON_VERSION:-3.12}
ABI="cp${VERSION/./}"
mkdir -p .gpu/wheels
"$PIP" download --quiet --only-binary=:all: --no-deps --dest .gpu/wheels \
    --python-version "$VERSION" --implementation cp --abi "$ABI" --abi abi3 --abi none \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any \
    -r benchmarks/gpu_requirements.txt
ls -l .gpu/wheels
