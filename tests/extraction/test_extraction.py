"""Streaming and chunked extraction against brute force, the memory plan, sizes and the cache."""

from __future__ import annotations

import numpy as np
import pytest
from extraction_fixtures import ProjectionModel, projection_meta
from hypothesis import given, settings
from hypothesis import strategies as st
from vision_fixtures import assert_matrices_close, brute_force, sample_photos

from benchsuite.extraction import store as extraction_store
from benchsuite.extraction.cache import ArrayCache
from benchsuite.extraction.layers import cache_key, extract_group, extract_group_cached, parse_size
from benchsuite.extraction.store import LayerGram, MemoryPlan, MemoryRows, SpilledRows
from benchsuite.metrics import two_vs_two
from benchsuite.metrics.similarity import correlation_matrix


@pytest.fixture
def photos() -> list[np.ndarray]:
    black = np.zeros((30, 40, 3), dtype=np.uint8)
    return [*sample_photos(6), black]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2GiB", 2 * 2**30),
        ("512 MiB", 512 * 2**20),
        ("1.5GB", 1_500_000_000),
        ("10kib", 10240),
        ("4096", 4096),
        ("8B", 8),
        ("3KB", 3000),
    ],
)
def test_parse_size_reads_binary_and_decimal_units(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "2 GiBs", "lots", "-1GiB", "0MiB", "1.2.3GB"])
def test_parse_size_names_the_accepted_units(text):
    with pytest.raises(ValueError, match="B|zero"):
        parse_size(text)


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_streaming_equals_brute_force_for_any_batch_size(photos, batch_size):
    model = ProjectionModel()
    result = extract_group(model, photos, batch_size=batch_size)
    assert_matrices_close(result.matrices, brute_force(model, photos, model.layers))
    assert result.predictions.dtype == np.int64
    np.testing.assert_array_equal(result.predictions, model.forward(model.preprocess(photos), [], print))


def test_chunked_path_equals_brute_force_and_cleans_up(photos, tmp_path, monkeypatch):
    monkeypatch.setattr(extraction_store, "GEMM_COLUMNS", 64)
    monkeypatch.setattr(extraction_store, "SPILL_READ_BYTES", 7 * 4 * 100)
    model = ProjectionModel()
    spilled: list[MemoryPlan] = []
    original_cleanup = MemoryPlan.cleanup

    def remember(plan: MemoryPlan) -> None:
        spilled.append(plan)
        assert plan.folder is not None and plan.folder.parent == tmp_path / "spill"
        original_cleanup(plan)

    monkeypatch.setattr(MemoryPlan, "cleanup", remember)
    result = extract_group(model, photos, batch_size=2, memory_budget=1, spill_dir=tmp_path / "spill")
    assert_matrices_close(result.matrices, brute_force(model, photos, model.layers))
    assert spilled[0].spilled == list(model.layers)
    assert list((tmp_path / "spill").iterdir()) == []


@pytest.mark.parametrize("budget", [None, 1])
def test_members_correlate_each_rows_mean_activation(photos, tmp_path, budget):
    model, members = ProjectionModel(), [2, 0, 1, 0, 2, 1, 1]
    result = extract_group(model, photos, batch_size=3, members=members, memory_budget=budget, spill_dir=tmp_path)
    assert_matrices_close(result.matrices, brute_force(model, photos, model.layers, members))
    assert result.matrices["pixels"].shape == (3, 3) and np.isfinite(result.matrices["pixels"]).all()
    assert len(result.predictions) == len(photos)


def test_members_one_image_per_row_equals_the_plain_path(photos):
    plain = extract_group(ProjectionModel(), photos, batch_size=4)
    rows = extract_group(ProjectionModel(), photos, batch_size=4, members=range(len(photos)))
    assert_matrices_close(rows.matrices, plain.matrices, atol=0)


@pytest.mark.parametrize(
    ("members", "message"), [([0, 1], "2 entries for 3 images"), ([0, 2, 2], "every row used"), ([-1, 0, 1], "0..m-1")]
)
def test_bad_members_name_the_rule(photos, members, message):
    with pytest.raises(ValueError, match=message):
        extract_group(ProjectionModel(), photos[:3], members=members)


def test_cached_members_are_their_own_entries(photos, tmp_path):
    cache, meta, model = ArrayCache(tmp_path), projection_meta(), ProjectionModel()
    ids = [f"img{i}" for i in range(len(photos))]
    members = [0, 0, 1, 1, 2, 2, 2]
    plain = extract_group_cached(cache, meta, model, ids, CountingLoader(photos), image_digests=ids)
    means = extract_group_cached(cache, meta, model, ids, CountingLoader(photos), members=members, image_digests=ids)
    again = extract_group_cached(cache, meta, model, ids, CountingLoader([]), members=members, image_digests=ids)
    assert plain.matrices["projection"].shape == (7, 7) and means.matrices["projection"].shape == (3, 3)
    assert_matrices_close(again.matrices, brute_force(model, photos, model.layers, members))
    np.testing.assert_array_equal(means.predictions, plain.predictions)


def test_constant_activations_give_nan_rows_and_columns(photos):
    result = extract_group(ProjectionModel(), photos)
    pixels = result.matrices["pixels"]
    black = len(photos) - 1
    assert np.isnan(pixels[black]).all() and np.isnan(pixels[:, black]).all()
    assert np.isfinite(pixels[:black, :black]).all()
    np.testing.assert_array_equal(np.diag(pixels)[:black], 1.0)
    assert np.isnan(result.matrices["dead"]).all()


def test_layers_come_back_in_network_order_whatever_order_is_asked(photos):
    result = extract_group(ProjectionModel(), photos[:3], ["dead", "pixels"])
    assert list(result.matrices) == ["pixels", "dead"]
    assert all(matrix.shape == (3, 3) for matrix in result.matrices.values())


def test_progress_reports_images_done(photos):
    done: list[int] = []
    extract_group(ProjectionModel(), photos, batch_size=3, progress=done.append)
    assert done == [3, 6, 7]


@pytest.mark.parametrize(
    ("images", "kwargs", "message"),
    [
        ([np.zeros((8, 8), np.uint8)], {}, "convert greyscale"),
        ([np.zeros((8, 8, 4), np.uint8)], {}, "convert greyscale or RGBA"),
        ([np.zeros((8, 8, 3), np.float64)], {}, "img_as_ubyte"),
        ([], {}, "at least one image"),
        ([np.zeros((8, 8, 3), np.uint8)], {"batch_size": 0}, "batch_size"),
        ([np.zeros((8, 8, 3), np.uint8)], {"layers": ["fc9"]}, "exposes: pixels, projection, dead"),
    ],
)
def test_bad_input_names_the_fix(images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        extract_group(ProjectionModel(), images, **kwargs)


def test_memory_plan_keeps_layers_in_memory_greedily_until_the_budget_is_spent(tmp_path):
    plan = MemoryPlan(budget=10_000, batch_size=1, spill_dir=tmp_path)
    plan.baseline = 0
    first = plan.store_for("big", 10, 200)  # 8000 bytes + reserve 6 * 200 * 4 > 10000
    second = plan.store_for("small", 10, 20)  # 800 + the same reserve fits
    third = plan.store_for("small2", 10, 120)  # 800 + 4800 + reserve > 10000
    assert isinstance(first, SpilledRows) and isinstance(second, MemoryRows) and isinstance(third, SpilledRows)
    assert plan.spilled == ["big", "small2"]
    for store in (first, third):
        store.close()
    plan.cleanup()
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(1, 9),
    width=st.integers(2, 300),
    budget=st.sampled_from([None, 1]),
    batch=st.integers(1, 4),
    block=st.sampled_from([7, 64, 1 << 14]),
    staging=st.sampled_from([40, 1 << 24]),
    seed=st.integers(0, 2**16),
)
def test_layer_gram_equals_correlation_matrix(rows, width, budget, batch, block, staging, seed):
    generator = np.random.default_rng(seed)
    values = (generator.normal(size=(rows, width)) * generator.uniform(0.01, 1000)).astype(np.float32)
    values[:, : width // 2] += np.float32(generator.normal() * 1e4)
    values[generator.random(rows) < 0.2] = 3.0
    plan = MemoryPlan(budget, batch)
    gram = LayerGram("layer", rows, plan)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(extraction_store, "GEMM_COLUMNS", block)
        patch.setattr(extraction_store, "STAGING_BYTES", staging)
        for start in range(0, rows, batch):
            gram.add(values[start : start + batch])
        try:
            np.testing.assert_allclose(gram.matrix(), correlation_matrix(values), atol=1e-9, rtol=0)
        finally:
            plan.cleanup()


def shared_mean_probe(n_images: int = 100, width: int = 30000, seed: int = 0) -> np.ndarray:
    """float32 ReLU activations whose images correlate at about 0.999: a large shared pattern, a little of their own."""
    generator = np.random.default_rng(seed)
    shared = np.maximum(generator.normal(size=width), 0.0) * 10.0 + 5.0
    own = generator.normal(size=(n_images, width)) * 0.0307 * shared.std()
    return np.maximum(shared + own, 0.0).astype(np.float32)


def streamed_matrix(values: np.ndarray, budget: int | None, batch: int, spill_dir) -> np.ndarray:
    """The layer matrix of ``values`` (images × values) through LayerGram, in batches."""
    plan = MemoryPlan(budget, batch, spill_dir)
    gram = LayerGram("probe", len(values), plan)
    try:
        for start in range(0, len(values), batch):
            gram.add(values[start : start + batch])
        return gram.matrix()
    finally:
        plan.cleanup()


@pytest.mark.parametrize("budget", [None, 1])
def test_highly_correlated_images_give_the_float64_matrix_and_2_vs_2(budget, tmp_path):
    values = shared_mean_probe()
    exact = np.corrcoef(values.astype(np.float64))
    assert 0.999 < exact[np.triu_indices(len(values), 1)].min() < 0.9991
    streamed = streamed_matrix(values, budget, 8, tmp_path)
    np.testing.assert_allclose(streamed, exact, atol=1e-9, rtol=0)
    text = correlation_matrix(np.random.default_rng(5).normal(size=(len(values), 20)))
    assert two_vs_two(streamed, text).accuracy == two_vs_two(exact, text).accuracy


def test_spilled_and_in_memory_matrices_are_bit_identical(tmp_path, monkeypatch):
    monkeypatch.setattr(extraction_store, "GEMM_COLUMNS", 1000)
    monkeypatch.setattr(extraction_store, "STAGING_BYTES", 8 * 30 * 2500)
    values = shared_mean_probe(30, 7001)
    in_memory = streamed_matrix(values, None, 4, tmp_path)
    np.testing.assert_array_equal(streamed_matrix(values, 1, 4, tmp_path), in_memory)


@pytest.mark.parametrize(
    "values",
    [
        np.array([[1e4, 1e4 + 0.01, 0.0, 0.0123, 7.0], [1e4 - 0.5, 1e4, 0.0, 0.01, 7.5], [3.0, 2.0, 1.0, 2.0, 2.0]]),
        np.array([[-1e-3, 5.0, 5.0 + 1e-4, 4.999], [2.0, 2.0 + 2**-20, 2.0, 2.0 + 3 * 2**-21], [-1.0, 1.0, 0.0, 0.5]]),
    ],
)
def test_rows_are_centred_without_rounding(values, tmp_path):
    values = values.astype(np.float32)
    np.testing.assert_allclose(
        streamed_matrix(values, None, 2, tmp_path), np.corrcoef(values.astype(np.float64)), atol=1e-12, rtol=0
    )


def test_a_layer_missing_from_a_batch_fails_that_layer_alone(photos):
    class Forgetful(ProjectionModel):
        def forward(self, batch, layers, on_layer):
            return super().forward(batch, [layer for layer in layers if layer != "dead"], on_layer)

    result = extract_group(Forgetful(), photos)
    assert "dead" not in result.matrices and "'dead' saw 0 of 7" in result.failures["dead"].reason
    assert set(result.matrices) == set(ProjectionModel().layers) - {"dead"}


def test_non_finite_activations_fail_that_layer_naming_the_image(photos):
    class Poisoned(ProjectionModel):
        def forward(self, batch, layers, on_layer):
            def poison(name, values):
                values = np.array(values, dtype=np.float32)
                if name == "dead" and len(values) > 2:
                    values[2, 0] = np.inf
                on_layer(name, values)

            return super().forward(batch, layers, poison)

    result = extract_group(Poisoned(), photos, batch_size=4)
    failure = result.failures["dead"]
    assert failure.reason == "non-finite activations (inf)" and failure.image == 2
    assert "dead" not in result.matrices and len(result.matrices) == len(ProjectionModel().layers) - 1


class CountingLoader:
    def __init__(self, images):
        self.images = images
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.images


def test_second_cached_run_reads_no_image_and_runs_no_forward(photos, tmp_path):
    cache, meta, model = ArrayCache(tmp_path), projection_meta(), ProjectionModel()
    ids = [f"img{i}" for i in range(len(photos))]
    loader = CountingLoader(photos)
    first = extract_group_cached(cache, meta, model, ids, loader, batch_size=4, image_digests=ids)
    forwards = len(model.forward_layers)
    second = extract_group_cached(cache, meta, model, ids, loader, batch_size=4, image_digests=ids)
    assert loader.calls == 1 and len(model.forward_layers) == forwards
    assert_matrices_close(second.matrices, first.matrices, atol=0)
    np.testing.assert_array_equal(second.predictions, first.predictions)
    assert second.predictions.dtype == np.int64


def test_cache_runs_only_the_missing_layers(photos, tmp_path):
    cache, meta, model = ArrayCache(tmp_path), projection_meta(), ProjectionModel()
    ids = [f"img{i}" for i in range(len(photos))]
    extract_group_cached(cache, meta, model, ids, CountingLoader(photos), layers=["pixels"])
    model.forward_layers.clear()
    both = extract_group_cached(cache, meta, model, ids, CountingLoader(photos), layers=["pixels", "projection"])
    assert {tuple(layers) for layers in model.forward_layers} == {("projection",)}
    assert list(both.matrices) == ["pixels", "projection"]


def test_corrupt_cache_entry_is_recomputed(photos, tmp_path):
    cache, meta, model = ArrayCache(tmp_path), projection_meta(), ProjectionModel()
    ids = [f"img{i}" for i in range(len(photos))]
    first = extract_group_cached(cache, meta, model, ids, CountingLoader(photos))
    for entry in tmp_path.rglob("*.npz"):
        entry.write_bytes(entry.read_bytes()[:-10] + b"0123456789")
    loader = CountingLoader(photos)
    again = extract_group_cached(cache, meta, model, ids, loader)
    assert loader.calls == 1
    assert_matrices_close(again.matrices, first.matrices)


def test_cache_key_changes_with_everything_that_changes_a_matrix():
    meta, ids = projection_meta(), ["a", "b", "c"]
    base = cache_key(meta, "hash1", ids, "pixels")
    assert cache_key(meta, "hash1", list(ids), "pixels") == base
    variants = [
        cache_key(meta, "hash1", ["b", "a", "c"], "pixels"),
        cache_key(meta, "hash2", ids, "pixels"),
        cache_key(meta, "hash1", ids, "projection"),
        cache_key(meta, "hash1", ids, None),
        cache_key(projection_meta(version="2"), "hash1", ids, "pixels"),
        cache_key(projection_meta(preprocessing="16 px crop"), "hash1", ids, "pixels"),
        cache_key(meta, "hash1", ids, "pixels", members=[0, 0, 1]),
    ]
    assert cache_key(meta, "hash1", ids, None, members=[0, 0, 1]) == cache_key(meta, "hash1", ids, None)
    assert all(variant != base for variant in variants)
    assert {"numpy", "pillow"} <= set(base["versions"])


def test_cache_refuses_mismatched_ids(photos, tmp_path):
    with pytest.raises(ValueError, match="unique"):
        extract_group_cached(ArrayCache(tmp_path), projection_meta(), ProjectionModel(), ["a", "a"], list)
    with pytest.raises(ValueError, match="2 images for 3 image ids"):
        extract_group_cached(
            ArrayCache(tmp_path), projection_meta(), ProjectionModel(), ["a", "b", "c"], lambda: photos[:2]
        )
