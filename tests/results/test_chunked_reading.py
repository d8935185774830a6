"""A large results.json in write_results' layout is parsed in parts; every other layout, and every part that does
not validate, falls back to parsing the whole, with the same records or the same refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchsuite.results import records as records_module
from benchsuite.results.records import (
    Problem,
    Provenance,
    Record,
    Results,
    chunked_document,
    read_results,
    write_results,
)


def record(index: int, text: str = "t") -> Record:
    return Record(suite="s", design="d", vision=f"m{index % 7}", text=text, layer=f"l{index}", depth=0, n_layers=1,
                  metric="two_vs_two", value=0.5 + index / 10_000, groups=[0.5, None], p_value=0.01, n_concepts=10,
                  error=None if index % 3 else "a\nline\n  },\n  {  with the separator inside a string",
                  provenance=Provenance(seed=0, permutations=10, versions={"numpy": "2"}))


def document(n: int, problems: int = 1) -> Results:
    return Results(records=[record(i) for i in range(n)],
                   problems=[Problem(suite="s", kind="vision", name="x", status="failed", error="boom", time="t")
                             ] * problems)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(records_module, "CHUNK_BYTES", 600)


@given(st.integers(1, 60), st.integers(0, 2))
@settings(max_examples=25, deadline=None)
def test_parts_give_the_records_of_the_whole(n, problems):
    original = records_module.CHUNK_BYTES
    records_module.CHUNK_BYTES = 600
    try:
        results = document(n, problems)
        raw = json.dumps(results.model_dump(mode="json"), indent=1).encode()
        found = chunked_document(raw)
        if len(raw) < 1200:
            assert found is None  # small files are parsed whole
            return
        assert found is not None and found == Results.model_validate_json(raw) == results
    finally:
        records_module.CHUNK_BYTES = original


def test_read_results_reads_a_large_file_in_parts(tmp_path, small_chunks, monkeypatch):
    path = tmp_path / "results.json"
    write_results(path, document(40))
    calls = []
    real = records_module.RECORDS.validate_json
    monkeypatch.setattr(records_module, "RECORDS", type("Spy", (), {
        "validate_json": staticmethod(lambda raw: calls.append(len(raw)) or real(raw))}))
    assert read_results(path) == document(40)
    assert len(calls) > 3 and max(calls) < 3 * 600


@pytest.mark.parametrize("layout", ["compact", "indent 2", "records last", "two records keys"])
def test_another_layout_is_parsed_whole_with_the_same_records(small_chunks, layout):
    results = document(30)
    data = results.model_dump(mode="json")
    raw = {"compact": lambda: json.dumps(data),
           "indent 2": lambda: json.dumps(data, indent=2),
           "records last": lambda: json.dumps({k: data[k] for k in ("schema_version", "problems", "mixed_settings",
                                                                     "records")}, indent=1),
           "two records keys": lambda: json.dumps(data, indent=1).replace(
               '\n "mixed_settings": {}', '\n "mixed_settings": {"records": ["x"]}')}[layout]().encode()
    assert chunked_document(raw) is None
    found = records_module.current_document(raw)
    assert found is not None and found.records == results.records


def test_a_bad_record_in_a_later_part_is_refused_as_the_whole_file_is(tmp_path, small_chunks):
    path = tmp_path / "results.json"
    write_results(path, document(40))
    text = path.read_text()
    broken = text[:len(text) * 3 // 4] + text[len(text) * 3 // 4:].replace('"value": 0.5', '"value": "high"', 1)
    path.write_text(broken)
    assert chunked_document(broken.encode()) is None
    with pytest.raises(ValueError, match="is not a valid results file"):
        read_results(path)


def test_a_record_cut_at_a_crafted_separator_is_refused_as_the_whole_file_is(tmp_path, small_chunks):
    """The separator's bytes inside a record (objects in a list, laid out at two spaces): no record field holds a
    list of objects, so the whole file is invalid too, and the refusal is the whole's."""
    path = tmp_path / "results.json"
    write_results(path, document(30))
    text = path.read_text()
    at = text.index('"groups": [', len(text) // 2)
    crafted = text[:at] + '"groups": [{\n  },\n  {}], "old_groups": [' + text[at + len('"groups": ['):]
    path.write_text(crafted)
    assert chunked_document(crafted.encode()) is None
    with pytest.raises(ValueError, match="is not a valid results file"):
        read_results(path)


def test_the_benchmark_clones_are_written_in_the_runners_layout(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import bench_leaderboard

    path = bench_leaderboard.cloned(7, tmp_path)
    written = tmp_path / "again.json"
    write_results(written, read_results(path))
    assert written.read_bytes() == path.read_bytes()
