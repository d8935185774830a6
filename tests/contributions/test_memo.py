"""The verified-contributions cache's entries: a round trip keeps every record, and an entry of another key, a
corrupt one or a missing one reads as absent (recomputed), never as records."""

import logging

from leaderboard_fixtures import RECORDS, headline_record

from benchsuite.contributions.memo import remember, remembered

KEY = {"manifest": "a" * 64, "benchsuite": "1.0", "inputs": {"one": {"photos": "p", "text_matrices": {"t": "m"}}}}


def test_an_entry_keeps_its_records_exactly(tmp_path):
    records = [*RECORDS, headline_record("big", 0.8)]
    remember(tmp_path / "contributions" / "entry.json", KEY, records)
    assert remembered(tmp_path / "contributions" / "entry.json", KEY) == records


def test_another_key_a_corrupt_entry_or_none_reads_as_absent(tmp_path, caplog):
    path = tmp_path / "entry.json"
    assert remembered(path, KEY) is None and caplog.text == ""
    remember(path, KEY, RECORDS)
    with caplog.at_level(logging.WARNING, "benchsuite"):
        assert remembered(path, {**KEY, "benchsuite": "1.1"}) is None
    assert "holds another key; recomputing it" in caplog.text
    for corrupt in ('{"key": ', '{"records": []}', '[1, 2]'):
        path.write_text(corrupt)
        assert remembered(path, KEY) is None
    path.write_text(path.read_text().replace("[1, 2]", '{"key": {}, "records": [{"value": "x"}]}'))
    assert remembered(path, {}) is None and "is unreadable" in caplog.text


def test_a_cache_that_cannot_be_written_warns_and_goes_on(tmp_path, caplog):
    (tmp_path / "contributions").write_text("a file where the folder goes")
    with caplog.at_level(logging.WARNING, "benchsuite"):
        remember(tmp_path / "contributions" / "entry.json", KEY, RECORDS)
    assert "could not keep the verified contribution" in caplog.text
