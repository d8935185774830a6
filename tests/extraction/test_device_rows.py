"""Layer matrices centred and multiplied out where torch tensors live: on the CPU through the same code a GPU runs
(``device_rows=True``), and on a GPU where torch sees one."""

from __future__ import annotations

import numpy as np
import pytest
from extraction_fixtures import ProjectionModel
from hypothesis import given, settings
from hypothesis import strategies as st
from vision_fixtures import assert_matrices_close, brute_force, sample_photos

from benchsuite.extraction import store as extraction_store
from benchsuite.extraction.device_rows import arrival_ranks
from benchsuite.extraction.layers import GroupPlan, extract_group, extract_groups
from benchsuite.extraction.store import LayerGram, MemoryPlan

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.needs("torch")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


class TorchProjection(ProjectionModel):
    """``ProjectionModel`` reporting its layers as torch tensors (on ``device``; made under ``torch.inference_mode``
    with ``inference``, as the torch built-ins run)."""

    def __init__(self, device: str = "cpu", inference: bool = False) -> None:
        super().__init__()
        self.device = device
        self.inference = inference

    def forward(self, batch, layers, on_layer):
        with torch.inference_mode(self.inference):
            return super().forward(batch, layers, lambda name, values: on_layer(name, torch.from_numpy(
                np.ascontiguousarray(values)).to(self.device)))


def member_means(values: np.ndarray, members: np.ndarray | None) -> np.ndarray:
    """Each row's mean activation in float64 (the rows themselves without members), each image centred first: the
    same correlations, without the rounding of a mean of huge offsets (1e8 + 1e-3 keeps 8 digits of the 1e-3)."""
    flat = values.astype(np.float64)
    if members is None:
        return flat
    flat -= flat.mean(axis=1, keepdims=True)
    return np.stack([flat[members == row].mean(axis=0) for row in range(members.max() + 1)])


def reference(values: np.ndarray, members: np.ndarray | None = None) -> np.ndarray:
    """float64 ``numpy.corrcoef`` of the rows; a constant row's row and column NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.corrcoef(member_means(values, members))


def streamed(values: np.ndarray, members: np.ndarray | None, batch: int, kind: str,
             budget: int | None = None) -> tuple[np.ndarray, LayerGram]:
    """The layer matrix of ``values`` (images x values) through LayerGram, in batches: numpy arrays (``kind``
    "numpy"), CPU tensors on the tensor path ("cpu") or tensors on a GPU ("cuda")."""
    n_rows = len(values) if members is None else int(members.max()) + 1
    plan = MemoryPlan(budget, batch, device_rows=kind == "cpu")
    gram = LayerGram("layer", n_rows, plan, members)
    try:
        for start in range(0, len(values), batch):
            part = values[start : start + batch]
            gram.add(part if kind == "numpy" else torch.from_numpy(part).to(kind))
        return gram.matrix(), gram
    finally:
        plan.cleanup()


@st.composite
def activations(draw) -> tuple[np.ndarray, np.ndarray | None]:
    """float32 activations with what breaks naive centring: huge shared offsets, constant rows, shared rows."""
    n_images = draw(st.integers(1, 10))
    width = draw(st.integers(2, 300))
    generator = np.random.default_rng(draw(st.integers(0, 2**16)))
    values = generator.normal(size=(n_images, width)) * draw(st.sampled_from([1e-3, 1.0, 1e3]))
    offset = draw(st.sampled_from([0.0, 1e4, -3e6, 1e8]))
    values[:, : draw(st.integers(0, width))] += offset
    values[generator.random(n_images) < 0.2] = draw(st.sampled_from([3.0, offset, 0.0]))
    members = None
    if draw(st.booleans()):
        _, members = np.unique(generator.integers(0, 4, size=n_images), return_inverse=True)
    return values.astype(np.float32), members


@settings(max_examples=100, deadline=None)
@given(case=activations(), batch=st.integers(1, 4))
def test_tensor_path_is_within_1e_9_of_float64_corrcoef(case, batch):
    values, members = case
    matrix, gram = streamed(values, members, batch, kind="cpu")
    assert gram.device is not None and gram.store is None
    np.testing.assert_allclose(matrix, reference(values, members), atol=1e-9, rtol=0)
    if members is None:  # the host path rounds shared rows' float32 sums; the device adds them in float64
        np.testing.assert_allclose(matrix, streamed(values, None, batch, kind="numpy")[0], atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    "values",
    [
        np.array([[1e4, 1e4 + 0.01, 0.0, 0.0123, 7.0], [1e4 - 0.5, 1e4, 0.0, 0.01, 7.5], [3.0, 2.0, 1.0, 2.0, 2.0]]),
        np.array([[-1e-3, 5.0, 5.0 + 1e-4, 4.999], [2.0, 2.0 + 2**-20, 2.0, 2.0 + 3 * 2**-21], [-1.0, 1.0, 0.0, 0.5]]),
        np.array([[1e30, 2e30, 3e30], [1e-30, 3e-30, 2e-30], [5.0, 5.0, 5.0]]),
    ],
)
def test_tensor_rows_are_centred_without_rounding(values):
    values = values.astype(np.float32)
    np.testing.assert_allclose(streamed(values, None, 2, kind="cpu")[0], reference(values), atol=1e-12, rtol=0)


def test_float64_and_integer_tensors_are_taken_as_they_come():
    generator = np.random.default_rng(3)
    wide = generator.normal(size=(5, 40)) * 1e35  # float32 rows hold it; their squares would overflow unscaled
    matrix = streamed(wide, None, 2, kind="cpu")[0]
    assert np.isfinite(matrix).all()  # float64 activations are rounded to float32 rows, as on the host
    np.testing.assert_allclose(matrix, reference(wide), atol=1e-6, rtol=0)
    np.testing.assert_allclose(matrix, streamed(wide, None, 2, kind="numpy")[0], atol=1e-6, rtol=0)
    counts = generator.integers(0, 9, size=(4, 30))
    np.testing.assert_allclose(streamed(counts, None, 3, kind="cpu")[0], reference(counts), atol=1e-12, rtol=0)


def test_arrival_ranks_count_earlier_images_of_the_same_row():
    np.testing.assert_array_equal(arrival_ranks(np.array([2, 0, 2, 2, 1, 0])), [0, 0, 1, 2, 0, 1])


@pytest.fixture
def photos() -> list[np.ndarray]:
    return [*sample_photos(6), np.zeros((30, 40, 3), dtype=np.uint8)]


@pytest.mark.parametrize("inference", [False, True])
@pytest.mark.parametrize("members", [None, [2, 0, 1, 0, 2, 1, 1]])
def test_extraction_of_tensors_equals_brute_force(photos, members, inference):
    model = TorchProjection(inference=inference)
    result = extract_group(model, photos, batch_size=3, members=members, device_rows=True)
    assert_matrices_close(result.matrices, brute_force(ProjectionModel(), photos, model.layers, members), atol=1e-9)
    if members is None:
        assert_matrices_close(result.matrices, extract_group(ProjectionModel(), photos, batch_size=3).matrices,
                              atol=1e-12)


def test_rows_that_do_not_fit_the_budget_take_the_host_path_and_spill(photos, tmp_path):
    model = TorchProjection()
    plans: list[MemoryPlan] = []
    original = MemoryPlan.cleanup

    def remember(plan: MemoryPlan) -> None:
        plans.append(plan)
        original(plan)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MemoryPlan, "cleanup", remember)
        result = extract_group(model, photos, batch_size=2, memory_budget=1, spill_dir=tmp_path, device_rows=True)
    assert plans[0].on_host == list(model.layers) and plans[0].spilled == list(model.layers)
    assert_matrices_close(result.matrices, brute_force(ProjectionModel(), photos, model.layers), atol=1e-9)


def test_groups_sharing_a_pass_take_their_own_tensor_rows(photos):
    plans = [GroupPlan([0, 2, 5], None, ["projection"]), GroupPlan([1, 2, 3, 4, 6], [0, 1, 0, 2, 1], ["pixels"])]
    together = extract_groups(TorchProjection(), photos, plans, batch_size=4, device_rows=True)
    for plan, result in zip(plans, together, strict=True):
        chosen = [photos[position] for position in plan.positions]
        assert_matrices_close(result.matrices, brute_force(ProjectionModel(), chosen, plan.layers, plan.members),
                              atol=1e-9)


def test_non_finite_tensor_activations_fail_that_layer_naming_the_image(photos):
    class Poisoned(TorchProjection):
        def forward(self, batch, layers, on_layer):
            def poison(name, values):
                if name == "dead" and len(values) > 2:
                    values = values.clone()
                    values[2, 0] = torch.nan
                on_layer(name, values)

            return super().forward(batch, layers, poison)

    result = extract_group(Poisoned(), photos, batch_size=4, device_rows=True)
    assert result.failures["dead"].reason == "non-finite activations (NaN)" and result.failures["dead"].image == 2
    assert set(result.matrices) == {"pixels", "projection"}


def test_numpy_activations_keep_the_host_path_even_when_tensors_would_not():
    values = np.random.default_rng(0).normal(size=(4, 20)).astype(np.float32)
    _, gram = streamed(values, None, 2, kind="numpy")
    assert gram.device is None and gram.store is not None
    assert not MemoryPlan(None, 1).on_device(torch.zeros(2, 3))  # CPU tensors: the host path unless asked


def test_gpu_rows_are_kept_while_they_fit_the_free_memory_the_plan_saw():
    plan = MemoryPlan(None, 2)
    plan.device_free["cuda:0"] = 10_000 + extraction_store.DEVICE_STAGING_BYTES + 6 * 2 * 100 * 4
    gpu = torch.device("cuda:0")
    assert plan.device_store_for("wide", 30, 100, gpu, shared=False) is None  # 12000 bytes of rows
    assert plan.device_store_for("shared", 20, 100, gpu, shared=True) is None  # float64 rows: 16000 bytes
    assert plan.device_store_for("other", 1, 10, torch.device("meta"), shared=False) is None
    assert plan.on_host == ["wide", "shared", "other"] and plan.device_committed == {"cuda:0": 0}


@cuda
@settings(max_examples=50, deadline=None)
@given(case=activations(), batch=st.integers(1, 4))
def test_gpu_path_is_within_1e_9_of_float64_corrcoef(case, batch):
    values, members = case
    matrix, gram = streamed(values, members, batch, kind="cuda")
    assert gram.device is not None and gram.device.rows.device.type == "cuda"
    np.testing.assert_allclose(matrix, reference(values, members), atol=1e-9, rtol=0)
    if members is None:
        np.testing.assert_allclose(matrix, streamed(values, None, batch, kind="cpu")[0], atol=1e-12, rtol=0)


@cuda
def test_gpu_rows_that_do_not_fit_the_device_take_the_host_path(photos, monkeypatch):
    monkeypatch.setattr(extraction_store, "DEVICE_STAGING_BYTES", 1 << 60)
    plans: list[MemoryPlan] = []
    original = MemoryPlan.cleanup
    monkeypatch.setattr(MemoryPlan, "cleanup", lambda plan: (plans.append(plan), original(plan)))
    model = TorchProjection("cuda")
    result = extract_group(model, photos, batch_size=3)
    assert plans[0].on_host == list(model.layers)
    assert_matrices_close(result.matrices, brute_force(ProjectionModel(), photos, model.layers), atol=1e-9)


@cuda
def test_a_torch_network_on_the_gpu_hands_over_device_tensors_whose_matrices_are_exact(photos):
    from benchsuite_builtins._shared.torch_hooks import HookedTorchModel

    from benchsuite.extraction.batches import resized_batch

    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(inplace=True), torch.nn.Flatten(),
                                  torch.nn.Linear(8 * 14 * 14, 10))
    model = HookedTorchModel(network, [("conv", "0"), ("relu", "1"), ("logits", "3")],
                             lambda images: resized_batch(images, 16).transpose(0, 3, 1, 2).copy(), "seed0",
                             predicts=False, device="cuda")
    seen: dict[str, list] = {layer: [] for layer in model.layers}

    class Watched:
        """The model, each report kept (copied: the ReLU after the convolution changes its output in place)."""

        layers, weights_hash, preprocess = model.layers, model.weights_hash, model.preprocess

        def forward(self, batch, layers, on_layer):
            def watched(name, values):
                seen[name].append(values.clone())
                on_layer(name, values)

            return model.forward(batch, layers, watched)

    result = extract_group(Watched(), photos, batch_size=3)
    assert all(parts[0].device.type == "cuda" for parts in seen.values())
    assert (torch.cat(seen["conv"]) < 0).any()
    for layer, parts in seen.items():
        flat = torch.cat(parts).reshape(len(photos), -1).cpu().numpy()
        np.testing.assert_allclose(result.matrices[layer], reference(flat), atol=1e-9, rtol=0, err_msg=layer)
