"""Data files are data: a hostile results.json never writes outside the leaderboard folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchsuite.contract.errors import BenchsuiteError
from benchsuite.results.leaderboard import file_part, plot_file, publish
from benchsuite.results.records import Record, Results, read_results, write_results


def records_for(suite: str, design: str, vision: str) -> list[Record]:
    """Two layers of 2 vs 2 and 1 vs 2 for one (suite, design, vision): enough for both plots."""
    return [
        Record(suite=suite, design=design, vision=vision, text="glove", layer=layer, depth=depth, n_layers=2,
               metric=metric, value=0.6 + depth / 10, groups=[0.6], p_value=0.01, chance=0.5, n_concepts=9,
               n_images=3)
        for depth, layer in enumerate(["a", "b"]) for metric in ("two_vs_two", "one_vs_two")
    ]


def files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file()}


def test_hostile_names_in_results_never_write_outside_out(tmp_path):
    escape_target = tmp_path / "escaped"
    hostile = [
        ("../../../x", "../..", "../../escaped/pwned"),
        ("/", str(escape_target), str(escape_target / "abs")),
        ("s", "d", "nul\x00byte"),
        ("s", "d", "x" * 5000),
        ("s", "d", ".."),
        ("s", "d", ""),
        ("s", "d", "..\\..\\win"),
        ("s", "d", "ok_name"),
    ]
    results = tmp_path / "in" / "results.json"
    results.parent.mkdir()
    write_results(results, Results(records=[r for names in hostile for r in records_for(*names)]))
    before = files_under(tmp_path)
    out = tmp_path / "deep" / "board"
    page = publish(results, out)
    written = files_under(tmp_path) - before
    assert written and all(path.resolve().is_relative_to(out.resolve()) for path in written)
    assert not escape_target.exists()
    plots = [path for path in written if path.suffix == ".png"]
    overviews = [path for path in plots if path.name.endswith("-emergence.png")]  # one a section: 3 designs
    assert len(plots) == 2 * len(hostile) + len(overviews) and len(overviews) == 3
    assert all(len(path.name) < 100 and "\x00" not in str(path) for path in plots)
    links = re.findall(r"!\[[^\]]*\]\(([^)]*)\)", page.read_text())
    assert len(links) == len(plots) and {out / link for link in links} == set(plots)
    assert (out / "plots" / "s" / "d" / "ok_name.png").is_file()


@pytest.mark.parametrize("name,expected", [
    ("mobilenet_v2", "mobilenet_v2"), ("1 photo x 1 group", "1-photo-x-1-group"), ("../../x", "x"),
    ("/etc/passwd", "etc-passwd"), ("a\x00b", "a-b"),
])
def test_file_part_keeps_published_names_and_strips_the_rest(name, expected):
    assert file_part(name) == expected


def test_empty_and_long_names_get_distinct_digest_names():
    long_a, long_b = "a" * 500, "a" * 499 + "b"
    assert file_part(long_a) != file_part(long_b) and len(file_part(long_a)) <= 80
    assert file_part("..") != file_part("...") and re.fullmatch(r"[0-9a-f]{12}", file_part(".."))


def test_a_link_inside_out_that_points_elsewhere_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "board"
    out.mkdir()
    (out / "plots").symlink_to(outside, target_is_directory=True)
    with pytest.raises(BenchsuiteError, match=r"plots/s/d/v.png would be written outside .*board"):
        plot_file(out, ["s", "d", "v"])
    assert not any(outside.iterdir())


def test_names_that_make_the_same_file_name_get_figures_of_their_own(tmp_path):
    results = tmp_path / "results.json"
    write_results(results, Results(records=[r for vision in ("a b", "a-b", "A-B", "c")
                                            for r in records_for("s", "d", vision)]))
    page = publish(results, tmp_path / "board").read_text()
    links = re.findall(r"!\[2 vs 2 by layer for ([^\]]*)\]\(([^)]*)\)", page)
    assert len(links) == 4 and len({link for _, link in links}) == 4
    assert ("c", "plots/s/d/c.png") in links  # a name that clashes with none keeps its plain file name
    assert all((tmp_path / "board" / link).is_file() for _, link in links)


def test_a_results_file_that_is_not_a_regular_file_is_refused_without_blocking(tmp_path):
    """A FIFO (no writer) would block a plain read forever, a device never end: both refused at once."""
    import os

    fifo = tmp_path / "results.json"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(ValueError, match="is not a regular file"):
            publish(path, tmp_path / "board")
        with pytest.raises(ValueError, match="is not a regular file"):
            read_results(path)
    assert not (tmp_path / "board").exists()


def test_a_results_file_past_the_bound_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from benchsuite.results import records

    path = tmp_path / "results.json"
    write_results(path, Results(records=records_for("s", "d", "v")))
    monkeypatch.setattr(records, "MAX_RESULTS_BYTES", 100)
    with pytest.raises(ValueError, match=r"results.json is \d+ bytes, more than the 100 such a file may hold"):
        publish(path, tmp_path / "board")
    with pytest.raises(ValueError, match="more than the 100"):
        records.read_records(path)
    assert not (tmp_path / "board").exists()


def test_the_leaderboard_command_refuses_a_fifo_in_one_line_with_exit_2(tmp_path):
    import os

    from typer.testing import CliRunner

    from benchsuite.cli import app

    os.mkfifo(tmp_path / "results.json")
    result = CliRunner().invoke(app, ["leaderboard", "--results", str(tmp_path), "--out", str(tmp_path / "board")])
    assert result.exit_code == 2 and "is not a regular file" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_file_longer_than_its_size_is_refused():
    with pytest.raises(ValueError, match="is longer than its size of 0 bytes"):
        read_results(Path("/proc/self/status"))  # a regular file whose size says 0


def test_a_readme_or_concept_inventory_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    import os

    from benchsuite.results.leaderboard import update_readme

    path = tmp_path / "results.json"
    write_results(path, Results(records=records_for("s", "d", "v")))
    os.mkfifo(tmp_path / "README.md")
    with pytest.raises(ValueError, match="README.md is not a regular file"):
        update_readme(tmp_path / "README.md", path)
    os.mkfifo(tmp_path / "concepts-s.json")
    with pytest.raises(ValueError, match="concepts-s.json is not a regular file"):
        publish(path, tmp_path / "board")
