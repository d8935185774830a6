"""The Ray executor gives records identical to the local executor's on a small real suite."""

import pytest

from benchsuite.contract.manager import Registry
from benchsuite.extraction.cache import ArrayCache
from benchsuite.inputs.suites import Design, Suite
from benchsuite.run.options import RunOptions
from benchsuite.run.suite_run import run_suite

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.ray]  # slow: a Ray cluster


def tiny_suite() -> Suite:
    return Suite(
        name="ray-check",
        vision=["pixels", "mobilenet_v2_untrained"],
        text=["glove_6b_50d"],
        images="pypi_photos",
        concepts="imagenet1k",
        metrics=["two_vs_two", "rsa", "cka_debiased"],
        permutations=30,
        seed=3,
        designs=[Design(name="two groups", groups=2)],
    )


def comparable(records):
    return sorted(
        (r.vision, r.layer, r.text, r.metric, r.value, tuple(r.groups), r.p_value, r.n_concepts)
        for r in records
        if r.status == "ok"
    )


def test_ray_matches_local(tmp_path):
    from benchsuite.run.ray_executor import run_suite_on_ray

    local = run_suite(
        Registry(), tiny_suite(),
        RunOptions(out=tmp_path / "local", cache=ArrayCache(tmp_path / "cache-local"), progress=False),
    )
    distributed = run_suite_on_ray(
        tiny_suite(),
        RunOptions(out=tmp_path / "ray", cache=ArrayCache(tmp_path / "cache-ray"), progress=False),
        num_cpus=2,
    )
    assert len(comparable(local.records)) > 10
    assert comparable(distributed.records) == comparable(local.records)
    assert not ray.is_initialized()


def test_missing_ray_is_a_clear_error(monkeypatch):
    import builtins

    from benchsuite.contract.errors import BenchsuiteError
    from benchsuite.run.ray_executor import import_ray

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("no ray here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(BenchsuiteError, match=r"pip install 'benchsuite\[ray\]'"):
        import_ray()
