"""results.json: versioned, upgraded on read, merged under a lock, never lost or blocking when corrupt."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchsuite.results.records import (
    SCHEMA_VERSION,
    Problem,
    Provenance,
    Record,
    Results,
    merge_results,
    read_results,
    read_results_or_move_aside,
)

COMMITTED = Path(__file__).resolve().parents[2] / "leaderboard" / "results.json"
LEGACY = Path(__file__).resolve().parents[1] / "data" / "results-v1.json"


def record(suite: str, vision: str = "m", seed: int = 0, permutations: int = 1000) -> Record:
    return Record(suite=suite, design="d", vision=vision, text="t", layer="l", depth=0, n_layers=1,
                  metric="two_vs_two", value=0.7, groups=[0.7], p_value=0.01, n_concepts=10,
                  provenance=Provenance(seed=seed, permutations=permutations))


def test_the_committed_leaderboard_results_read():
    assert json.loads(COMMITTED.read_text())["schema_version"] == SCHEMA_VERSION == 4  # stored current, not upgraded
    results = read_results(COMMITTED)
    assert results.schema_version == SCHEMA_VERSION
    assert len(results.records) > 4000 and all(r.status == "ok" for r in results.records)
    assert all(r.provenance.permutations == 1000 for r in results.records)


def test_the_committed_records_carry_their_items_roles_and_drift():
    """What the runner records from the metadata: the leaderboard's gains and † marks depend on it."""
    from benchsuite.contract.manager import Registry

    registry = Registry()
    records = read_results(COMMITTED).records
    for record in records:
        vision, text = registry.vision[record.vision], registry.text[record.text]
        assert (record.role, record.twin) == (vision.role, vision.twin), record.vision
        assert record.cpu_drift == text.cpu_drift.get(record.metric, 0.0), (record.text, record.metric)
    roles = {(r.vision, r.role, r.twin) for r in records}
    assert {("pixels", "baseline", None), ("mobilenet_v2_untrained", "untrained", "mobilenet_v2"),
            ("mobilenet_v2", "model", None)} <= roles
    assert {r.cpu_drift for r in records if r.text == "e5_multilingual" and r.metric == "one_vs_two"} == {0.031}


def v2_record() -> dict:
    """A record as schema 2 wrote it: without role, twin and cpu_drift."""
    data = record("a").model_dump(mode="json")
    for field in ("role", "twin", "cpu_drift"):
        del data[field]
    return data


def test_a_version_2_file_is_upgraded_with_the_new_fields_defaulted(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"schema_version": 2, "records": [v2_record()], "problems": [],
                                "mixed_settings": {}}))
    results = read_results(path)
    assert results.schema_version == SCHEMA_VERSION == 4
    (upgraded,) = results.records
    assert (upgraded.role, upgraded.twin, upgraded.cpu_drift) == ("model", None, 0.0)
    assert upgraded == record("a") and upgraded.value == 0.7 and upgraded.provenance.seed == 0


def test_the_new_fields_round_trip(tmp_path):
    path = tmp_path / "results.json"
    control = record("a", "m_random").model_copy(update={"role": "untrained", "twin": "m", "cpu_drift": 0.004})
    merge_results(path, "a", [control, record("a", "p").model_copy(update={"role": "baseline"})], [])
    stored = json.loads(path.read_text())["records"]
    assert [(r["role"], r["twin"], r["cpu_drift"]) for r in stored] == [("untrained", "m", 0.004),
                                                                        ("baseline", None, 0.0)]
    assert read_results(path).records[0] == control
    with pytest.raises(ValueError, match="role"):
        Record.model_validate({**v2_record(), "role": "teacher"})


def test_a_results_file_from_before_schema_versions_is_upgraded():
    """30 records of the leaderboard published before schema_version, and two problems in the old "*" form."""
    results = read_results(LEGACY)
    assert results.schema_version == SCHEMA_VERSION and len(results.records) == 30
    assert results.records[0].provenance.permutations == 1000 and results.records[0].metric == "two_vs_two"
    skipped, failed = results.problems
    assert (skipped.kind, skipped.name, skipped.status, skipped.design) == ("vision", "vgg16", "skipped", None)
    assert (failed.kind, failed.name, failed.error) == ("text", "skipgram", "RuntimeError: bad second line")


def test_a_written_file_carries_its_schema_version(tmp_path):
    path = tmp_path / "results.json"
    merge_results(path, "a", [record("a")], [Problem(suite="a", kind="text", name="t2", status="skipped",
                                                       error="no file")])
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION and data["problems"][0]["name"] == "t2"
    assert read_results(path).records == [record("a")]


def test_a_newer_schema_is_refused_with_the_file_named(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"schema_version": 99, "records": []}))
    with pytest.raises(ValueError, match=r"results.json is not a valid results file: schema_version 99"):
        read_results(path)


@pytest.mark.parametrize("content", ["", "[{", "{\"schema_version\": 3, \"records\": [{\"suite\": 1}]}",
                                     "{\"schema_version\": 2, \"records\": [{\"suite\": 1}]}", "\x00\xff"])
def test_a_corrupt_results_file_is_moved_aside_and_rebuilt(tmp_path, content, caplog):
    path = tmp_path / "results.json"
    path.write_text(content, encoding="latin-1")
    merged = merge_results(path, "a", [record("a")], [])
    assert merged.records == [record("a")] and read_results(path).records == [record("a")]
    (aside,) = tmp_path.glob("results.json.corrupt-*")
    assert aside.read_text(encoding="latin-1") == content
    assert str(aside) in caplog.text and "rebuilding" in caplog.text


def test_other_suites_are_kept_and_mixed_settings_are_flagged(tmp_path):
    path = tmp_path / "results.json"
    merge_results(path, "a", [record("a")], [])
    merge_results(path, "b", [record("b")], [])
    merged = merge_results(path, "a", [record("a", "m2", seed=7, permutations=100), record("a")], [])
    assert {r.suite for r in merged.records} == {"a", "b"}
    assert merged.mixed_settings == {"a": ["seed=0, permutations=1000", "seed=7, permutations=100"]}
    assert read_results(path).mixed_settings == merged.mixed_settings


def test_an_absent_file_reads_as_empty(tmp_path):
    assert read_results_or_move_aside(tmp_path / "none.json") == Results()


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_results_file import record
    from benchsuite.results.records import merge_results
    path, suite = Path(sys.argv[1]), sys.argv[2]
    for i in range(40):
        merge_results(path, suite, [record(suite, f"m{{i}}")], [])
""")


def test_two_concurrent_runs_into_one_folder_lose_nothing(tmp_path):
    path = tmp_path / "results.json"
    script = WRITER.format(tests=str(Path(__file__).parent))
    writers = [subprocess.Popen([sys.executable, "-c", script, str(path), suite]) for suite in ("a", "b", "c")]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0]
    final = read_results(path)
    assert sorted(r.suite for r in final.records) == ["a", "b", "c"]
    assert {r.vision for r in final.records} == {"m39"}
