"""The CUDA paths give the CPU's numbers; skipped where torch sees no GPU.

Run on a GPU machine with ``.venv/bin/python -m pytest -q tests/test_cuda.py``.
"""

import numpy as np
import pytest
from metric_fixtures import mixed_layers, related_pair

from benchsuite.inference.pooled import score_layers
from benchsuite.metrics import STATISTICS, permutation_tests, two_vs_two

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def test_two_vs_two_on_the_gpu_equals_the_cpu():
    A, B = related_pair(120, 3)
    cpu, gpu = two_vs_two(A, B), two_vs_two(A, B, device="cuda")
    assert gpu.accuracy == cpu.accuracy
    np.testing.assert_allclose(gpu.margin, cpu.margin, atol=1e-12)


@pytest.mark.parametrize("statistic", list(STATISTICS))
def test_stacked_nulls_on_the_gpu_equal_the_cpu(statistic):
    layers, B = mixed_layers(40, 5)
    cpu = permutation_tests(layers, B, statistic=statistic, n_permutations=200, seed=2)
    gpu = permutation_tests(layers, B, statistic=statistic, n_permutations=200, seed=2, device="cuda")
    for c, g in zip(cpu, gpu, strict=True):
        np.testing.assert_allclose(g.null, c.null, atol=1e-9)
        assert g.p_value == c.p_value


def test_layer_scores_on_the_gpu_equal_the_cpu_at_paper_size():
    k = 166
    layers = [[related_pair(k, seed, noise=2.0)[0]] for seed in range(6)]
    B = related_pair(k, 0, noise=2.0)[1]
    options = dict(metric="two_vs_two", statistic=STATISTICS["two_vs_two"], n_permutations=300, seed=0)
    cpu = score_layers(layers, B, **options)
    gpu = score_layers(layers, B, device="cuda", **options)
    assert [s.value for s in gpu] == [s.value for s in cpu]
    assert [s.p_value for s in gpu] == [s.p_value for s in cpu]
    # the same pass counts; CUDA divides by k(k - 1) through its reciprocal, which may differ in the last bit
    np.testing.assert_allclose(np.stack([s.null for s in gpu]), np.stack([s.null for s in cpu]), rtol=0, atol=1e-15)


def test_extraction_on_the_gpu_matches_the_cpu():
    from skimage import data

    from benchsuite.contract.manager import Registry
    from benchsuite.extraction.layers import extract_group

    images = [data.chelsea()[:256, :256], data.coffee()[:256, :256], data.astronaut()[:256, :256],
              data.rocket()[:256, :256]]
    meta = Registry().vision["mobilenet_v2"]
    cpu = extract_group(meta.load(device="cpu"), images)
    gpu = extract_group(meta.load(device="cuda"), images)
    assert list(gpu.matrices) == list(cpu.matrices)
    for layer, matrix in cpu.matrices.items():
        np.testing.assert_allclose(gpu.matrices[layer], matrix, atol=1e-5, err_msg=layer)  # float32, never TF32
    np.testing.assert_array_equal(gpu.predictions, cpu.predictions)
