"""The Python API: ``evaluate`` runs a suite like ``benchsuite run``; ``Results.to_pandas``, ``.leaderboard`` and
``load_results`` read what it wrote."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest
import toy_plugins
from import_checks import loaded_after
from toy_plugins import K, toy_suite

import benchsuite
from benchsuite.contract.errors import BenchsuiteError
from benchsuite.contract.manager import Registry, make_plugin_manager
from benchsuite.results.records import FRAME_COLUMNS, Record, Results, read_results, write_results

ROOT = Path(__file__).resolve().parents[1]
LEGACY = ROOT / "tests" / "data" / "results-v1.json"


@pytest.fixture(scope="module")
def plugins():
    pm = make_plugin_manager()
    pm.register(toy_plugins, name="toy_plugin")
    return Registry(pm)


@pytest.fixture(scope="module")
def toy_run(plugins, tmp_path_factory):
    """The toy suite (both designs, 2 vs 2 and RSA) through ``evaluate``, once for the module."""
    folder = tmp_path_factory.mktemp("api")
    results = benchsuite.evaluate(suite=toy_suite(), plugins=plugins, out=folder / "out", cache=folder / "cache",
                                  leaderboard=folder / "board", progress=False)
    return results, folder


def test_evaluate_returns_this_runs_records_and_writes_them(toy_run):
    results, folder = toy_run
    assert isinstance(results, Results)
    layers = {(r.design, r.layer, r.metric) for r in results.records if r.summary is None}
    assert len(layers) == 2 * 3 * 2 and all(r.status == "ok" for r in results.records)
    assert len([r for r in results.records if r.metric == "two_vs_two_heldout"]) == 2  # one per design
    assert read_results(folder / "out" / "results.json").records == results.records
    assert "| rank" in (folder / "board" / "README.md").read_text()


def test_selection_and_options_reach_the_run(plugins, tmp_path):
    results = benchsuite.evaluate("toy_net", ["toy_text_good", "toy_text_partial"], toy_suite(designs=toy_suite()
                                  .designs[:1]), plugins=plugins, out=tmp_path / "out", cache=tmp_path / "cache",
                                  permutations=3, seed=5, metrics="two_vs_two", progress=False,
                                  overrides={"toy_net": {"constant_layer": "late"}})
    assert {r.text for r in results.records} == {"toy_text_good", "toy_text_partial"}
    assert {r.metric for r in results.records} == {"two_vs_two", "two_vs_two_heldout"}
    assert {(r.provenance.seed, r.provenance.permutations) for r in results.records} == {(5, 3)}
    late = [r for r in results.records if r.layer == "late" and r.text == "toy_text_good" and r.summary is None]
    assert late[0].n_concepts == K - 1  # the override made one concept's activations constant


def test_an_absent_model_is_a_problem_not_an_exception(plugins, tmp_path):
    results = benchsuite.evaluate(vision="no_such_net", suite=toy_suite(), plugins=plugins, out=tmp_path / "out",
                                  cache=tmp_path / "cache", progress=False)
    assert results.records == [] and [(p.kind, p.name, p.status) for p in results.problems] == [
        ("vision", "no_such_net", "skipped")]


@pytest.mark.parametrize("options, message", [
    ({"permutations": -1}, "--permutations must be a whole number of at least 0, got -1"),
    ({"batch_size": 0}, "--batch-size must be a whole number of at least 1, got 0"),
    ({"device": "tpu"}, "--device 'tpu' is not supported; use cpu, cuda or cuda:N"),
    ({"memory_budget": "12XB"}, "--memory-budget: cannot read '12XB' as a memory size"),
    ({"executor": "slurm"}, "--executor 'slurm' is not known; use local or ray"),
    ({"executor": "ray"}, "plugins= works with executor='local' only"),
    ({"metrics": []}, "--metrics names no metric"),
    ({"vision": 3}, "--vision must be a name or a list of names, got 3"),
    ({"text": ["ok", None]}, "--text must be a name or a list of names"),
    ({"overrides": {"toy_net": 1}}, "--set expects {item: {option: value}}"),
    ({"overrides": {"toy_net": {"no_such_option": 1}}}, "no_such_option"),
    ({"suite": "nope"}, "no suite 'nope' in the registry; declared: offline"),
])
def test_bad_options_are_refused_before_any_work(plugins, tmp_path, options, message):
    arguments = {"suite": toy_suite(), "plugins": plugins, "out": tmp_path / "out", "cache": tmp_path / "cache",
                 "progress": False, "registry": ROOT / "registry.toml", **options}
    with pytest.raises(BenchsuiteError, match=re.escape(message)) as error:
        benchsuite.evaluate(**arguments)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "cache" / "vision").exists()


def test_an_unusable_out_folder_is_refused_naming_it(plugins, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(BenchsuiteError, match="--out .*file is a file, not a folder; pass a folder path"):
        benchsuite.evaluate(suite=toy_suite(), plugins=plugins, out=tmp_path / "file", cache=tmp_path / "cache")


def same(a, b) -> bool:
    """Equal, counting a missing value (None, NaN, <NA>) as equal to another missing value."""
    if a is None or (not isinstance(a, list) and pd.isna(a)):
        return b is None or (not isinstance(b, list) and pd.isna(b))
    return a == b


def expected_row(record: Record) -> dict:
    low, high = record.interval or (None, None)
    summary = record.summary
    return {"vision": record.vision, "role": record.role, "twin": record.twin, "cpu_drift": record.cpu_drift,
            "layer": record.layer, "depth": record.depth, "metric": record.metric,
            "value": record.value, "p_value": record.p_value, "groups": record.groups, "status": record.status,
            "interval_low": low, "interval_high": high, "n_concepts": record.n_concepts,
            "excluded": sorted(record.excluded), "provenance.seed": record.provenance.seed,
            "provenance.text_fingerprint": record.provenance.text_fingerprint,
            "summary.best_value": summary.best_value if summary else None,
            **{f"provenance.versions.{k}": v for k, v in record.provenance.versions.items()}}


def assert_frame_matches(frame: pd.DataFrame, records: list[Record]) -> None:
    assert len(frame) == len(records)
    for (_, row), record in zip(frame.iterrows(), records, strict=True):
        for column, value in expected_row(record).items():
            assert same(row[column], value), (column, row[column], value)


def test_the_frame_has_one_row_per_record_with_the_records_values(toy_run):
    results, _ = toy_run
    frame = results.to_pandas()
    assert_frame_matches(frame, results.records)
    assert list(frame.columns[:len(FRAME_COLUMNS)]) == list(FRAME_COLUMNS)
    assert list(frame.columns[len(FRAME_COLUMNS):]) == sorted(frame.columns[len(FRAME_COLUMNS):])
    summary = frame[frame.metric == "two_vs_two_heldout"]
    assert len(summary) == 2 and summary.interval_low.notna().all() and summary["summary.best_value"].notna().all()
    assert frame[frame.metric == "two_vs_two"].interval_low.isna().all()  # NaN where a record has no interval


def test_filtering_the_frame_selects_the_same_records(toy_run):
    results, _ = toy_run
    frame = results.to_pandas()
    chosen = frame[(frame.design == "two") & (frame.metric == "rsa")].sort_values("depth")
    records = sorted((r for r in results.records if r.design == "two" and r.metric == "rsa"), key=lambda r: r.depth)
    assert chosen.layer.tolist() == ["early", "middle", "late"]
    assert chosen.value.tolist() == [r.value for r in records]
    assert chosen.groups.tolist() == [r.groups for r in records] and all(len(g) == 2 for g in chosen.groups)
    best = frame[frame.metric == "two_vs_two"].groupby("design").value.max()
    assert best["one"] == max(r.value for r in results.records if r.design == "one" and r.metric == "two_vs_two")


def test_frame_dtypes_are_fixed_even_for_no_records():
    empty = Results().to_pandas()
    assert list(empty.columns) == list(FRAME_COLUMNS) and len(empty) == 0
    text = str(pd.Series([], dtype="str").dtype)  # pandas 3: "str"; pandas 2: "object"
    assert dict(empty.dtypes.astype(str)) == {column: text if dtype == "str" else dtype
                                             for column, dtype in FRAME_COLUMNS.items()}
    failed = Record(suite="s", design="d", vision="v", status="failed", error="boom").model_dump()
    frame = Results(records=[Record.model_validate(failed)]).to_pandas()
    assert math.isnan(frame.value[0]) and frame.depth.isna()[0] and frame.error[0] == "boom"
    assert frame.value.dtype == "float64" and str(frame.depth.dtype) == "Int64"


def test_load_results_reads_a_folder_a_file_and_the_pre_version_schema(tmp_path):
    committed = benchsuite.load_results(ROOT / "leaderboard")
    assert committed == benchsuite.load_results(ROOT / "leaderboard" / "results.json")
    assert len(committed.records) > 1000
    legacy = benchsuite.load_results(LEGACY)
    assert len(legacy.records) == 30 and len(legacy.problems) == 2
    assert_frame_matches(legacy.to_pandas(), legacy.records)
    frame = committed.to_pandas()
    assert_frame_matches(frame.head(50), committed.records[:50])
    heldout = frame[(frame.metric == "two_vs_two_heldout") & (frame.design == "1 photo x 1 group")]
    assert set(heldout.vision) >= {"pixels", "mobilenet_v2"} and heldout.interval_low.lt(heldout.value).all()
    assert set(heldout.role[heldout.vision == "pixels"]) == {"baseline"}
    assert set(heldout.twin[heldout.role == "untrained"]) == {"mobilenet_v2"}
    assert heldout.cpu_drift.max() == 0.004 and heldout.cpu_drift[heldout.text == "glove_6b_50d"].eq(0).all()
    assert (set(legacy.to_pandas().role), legacy.to_pandas().twin.isna().all()) == ({"model"}, True)


def test_load_results_errors_name_the_path_and_the_fix(tmp_path):
    with pytest.raises(BenchsuiteError, match="results.json not found; pass a results.json file or the folder"):
        benchsuite.load_results(tmp_path)
    (tmp_path / "results.json").write_text("[{truncated")
    with pytest.raises(BenchsuiteError, match="is not a valid results file"):
        benchsuite.load_results(tmp_path)


def test_leaderboard_markdown_and_published_page(toy_run, tmp_path):
    results, folder = toy_run
    markdown = results.leaderboard()
    assert markdown.startswith("# benchsuite leaderboard") and "## Suite `toy`, design: one" in markdown
    assert "![" not in markdown and not any(tmp_path.iterdir())  # no plots without a folder
    page = results.leaderboard(tmp_path / "board")
    assert page == (tmp_path / "board" / "README.md").read_text()
    assert page == (folder / "board" / "README.md").read_text()  # what evaluate(leaderboard=...) published
    assert (tmp_path / "board" / "plots" / "toy" / "one" / "toy_net.png").exists()
    assert read_results(tmp_path / "board" / "results.json").records == results.records
    assert results.leaderboard(tmp_path / "board") == page  # the same results again: fine


def test_leaderboard_never_overwrites_other_results(toy_run, tmp_path):
    results, _ = toy_run
    write_results(tmp_path / "results.json", Results(records=results.records[:1]))
    before = (tmp_path / "results.json").read_text()
    with pytest.raises(BenchsuiteError, match="holds other results; pass an empty folder"):
        results.leaderboard(tmp_path)
    assert (tmp_path / "results.json").read_text() == before and not (tmp_path / "README.md").exists()


def test_import_benchsuite_stays_light():
    assert loaded_after("import benchsuite") == []
    assert loaded_after("import benchsuite; benchsuite.evaluate; benchsuite.load_results") == []
    assert loaded_after("import benchsuite.metrics, benchsuite.inference.heldout, benchsuite.results.records") == []
    with pytest.raises(AttributeError, match="no attribute 'evalute'"):
        benchsuite.evalute  # noqa: B018


def test_the_cli_run_writes_what_evaluate_returns(tmp_path, plugins, monkeypatch):
    """``benchsuite run`` prints the counts of the Results that ``evaluate`` returned."""
    from typer.testing import CliRunner

    from benchsuite import api, cli

    seen = {}

    def fake(**options):
        seen.update(options)
        return Results(records=[Record(suite="s", design="d", vision="v", value=0.7)])

    monkeypatch.setattr(api, "evaluate", fake)
    result = CliRunner().invoke(cli.app, ["run", "--vision", "a,b", "--set", "a.x=1", "--memory-budget", "1GiB",
                                          "--out", str(tmp_path / "o"), "--quiet", "--permutations", "2"])
    assert result.exit_code == 0, result.output
    assert "1 ok, 0 failed, 0 skipped" in result.output
    assert seen["vision"] == ["a", "b"] and seen["overrides"] == {"a": {"x": 1}} and seen["memory_budget"] == "1GiB"
    assert seen["permutations"] == 2 and seen["progress"] is False and seen["out"] == tmp_path / "o"
