"""A contribution made on one machine (the only one with its model) is published on another from its matrices:
the row appears verified, with intervals and tiers; every tampering is refused in one named line and leaves the
rest of the page as it was."""

import dataclasses
import io
import json
import re
import shutil
import zipfile

import numpy as np
import pytest
import toy_plugins
from contribution_fixtures import CONTRIBUTOR, SHOWN, edit_json, machines, reseal, sparse

import benchsuite
from benchsuite.contract.hookspecs import hookimpl
from benchsuite.contract.manager import Registry, make_plugin_manager
from benchsuite.contract.schemas import VisionModelMeta
from benchsuite.contributions import bundle, memo, verify
from benchsuite.contributions.merge import merging
from benchsuite.contributions.pack import contribute
from benchsuite.extraction.cache import ArrayCache
from benchsuite.inputs.suites import load_suites
from benchsuite.results.agreement import compare
from benchsuite.results.leaderboard import render
from benchsuite.results.records import read_results
from benchsuite.run.options import RunOptions
from benchsuite.run.suite_run import Inputs, run_suite

pytestmark = pytest.mark.slow  # two whole (toy) suite runs through the command line, then a publish per tampering

SUITE = ("--suite", "toy", "--registry", "registry.toml")
FOLDER = ("leaderboard", "contributions", "toy", "lab-net")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Machine A runs lab_net and packs it; the folder travels (a pull request) to machine B, which runs the suite's
    own models and publishes, contributions included; ``contribute``'s output."""
    a, b = machines(tmp_path_factory.mktemp("machines"))
    a.cli("run", *SUITE, "--vision", "lab_net", "--out", "results", "--quiet")
    said = a.cli("contribute", "--vision", "lab_net", "--results", "results", *SUITE, "--by", CONTRIBUTOR)
    shutil.copytree(a.root.joinpath(*FOLDER), b.root.joinpath(*FOLDER))
    b.cli("run", *SUITE, "--out", "results", "--quiet")
    return a, b, said


@pytest.fixture(scope="module")
def machine_b_plugins():
    pm = make_plugin_manager()
    pm.register(toy_plugins, name="toy")
    return Registry(pm)


def publish_with(world, machine_b_plugins, *folders, cache=None):
    """Machine B's page (markdown, no plots) with the contributions in ``folders``, and the lines it reported;
    ``cache``: a cache folder other than machine B's."""
    _, b, _ = world
    said: list[str] = []
    merge = merging(list(folders), registry=b.root / "registry.toml", cache=ArrayCache(cache or b.root / "cache"),
                    plugins=machine_b_plugins, say=said.append)
    results = read_results(b.root / "results" / "results.json")
    return render(merge(results), None), said


def test_contribute_packs_a_verified_folder_with_its_size(world):
    a, _, said = world
    folder = a.root.joinpath(*FOLDER)
    assert sorted(path.name for path in folder.iterdir()) == ["manifest.json", "matrices-one.npz",
                                                               "matrices-two.npz", "records.json"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["by"] == CONTRIBUTOR and manifest["model"]["weights_hash"] == "lab-weights-1"
    assert manifest["seed"] == 0 and manifest["permutations"] == 20
    assert [len(g["digests"]) for d in manifest["designs"] for g in d["groups"]] == [12, 12, 12]
    assert "largest difference 0" in " ".join(said.split())
    # 3 layers x 3 groups of 12 concepts: 78 float64 each, plus predictions and the npz headers
    assert sum(p.stat().st_size for p in folder.glob("*.npz")) < 3 * 3 * (78 * 8 + 400) + 2 * 3 * 400


def test_the_contributed_row_is_published_verified_with_intervals_and_tiers(world):
    a, b, _ = world
    page = (b.root / "leaderboard" / "README.md").read_text()
    headlines = [line.split("|") for line in page.splitlines() if line.startswith("| ") and SHOWN in line
                 and " [" in line and "(p " not in line]
    assert len(headlines) >= 2  # per design: the headline table and its details, rank, value [95% CI]
    assert all(cells[1].strip().isdigit() for cells in headlines)
    paired = [line for line in page.splitlines() if line.startswith(f"| {SHOWN} |") and "(p " in line]
    assert len(paired) == 2  # a row of the paired comparisons on each design
    assert f"![2 vs 2 by layer for {SHOWN}]" in page and f"### {SHOWN}" in page
    # the published results stay machine B's own runs
    published = read_results(b.root / "leaderboard" / "results.json")
    assert {r.vision for r in published.records} == {"toy_net", "toy_classifier"}


def test_the_page_numbers_are_those_machine_a_computed(world, machine_b_plugins):
    a, b, _ = world
    _, said = publish_with(world, machine_b_plugins, b.root / "leaderboard" / "contributions")
    assert said == []
    merge = merging([b.root / "leaderboard" / "contributions"], registry=b.root / "registry.toml",
                    cache=ArrayCache(b.root / "cache"), plugins=machine_b_plugins)
    merged = merge(read_results(b.root / "results" / "results.json"))
    ours = {(r.design, r.text, r.layer, r.metric): r for r in merged.records if r.vision == SHOWN}
    theirs = {(r.design, r.text, r.layer, r.metric): r for r in read_results(a.root / "results" / "results.json")
              .records}
    assert set(ours) == set(theirs) and len(ours) == 20  # 3 layers x 3 metrics x 2 designs, 2 headlines
    assert {r.metric for r in ours.values()} == {"two_vs_two", "rsa", "one_vs_two", "two_vs_two_heldout"}
    for key, record in ours.items():
        mismatches, _ = compare(theirs[key].model_dump(mode="json"), record.model_dump(mode="json"),
                                ("provenance.time", "vision"))
        assert mismatches == [], key
    headline = ours[("one", "toy_text_good", next(k[2] for k in ours if k[0] == "one" and k[3].endswith("heldout")),
                     "two_vs_two_heldout")]
    assert headline.interval is not None and len(headline.summary.draws) == headline.summary.n_bootstrap


def test_the_leaderboard_command_publishes_the_same_page_and_readme_block(world):
    _, b, _ = world
    (b.root / "README.md").write_text("# project\n<!-- leaderboard:start -->\n<!-- leaderboard:end -->\n")
    b.cli("leaderboard", "--results", "results", "--out", "again", "--contributions", "leaderboard/contributions",
          "--registry", "registry.toml", "--readme", "README.md")
    assert (b.root / "again" / "README.md").read_text() == (b.root / "leaderboard" / "README.md").read_text()
    assert SHOWN in (b.root / "README.md").read_text()


def test_the_api_leaderboard_merges_the_contributions_as_the_command(world, machine_b_plugins, tmp_path):
    _, b, _ = world
    expected, _ = publish_with(world, machine_b_plugins, b.root / "leaderboard" / "contributions")
    shutil.copytree(b.root / "leaderboard" / "contributions", tmp_path / "board" / "contributions")
    with b.here():
        results = benchsuite.load_results("results")
        markdown = results.leaderboard(contributions=["leaderboard/contributions"], registry="registry.toml")
        alone = results.leaderboard(registry="registry.toml")
        page = results.leaderboard(tmp_path / "board", registry="registry.toml")
    assert markdown == expected and SHOWN in markdown and SHOWN not in alone
    assert page == (b.root / "leaderboard" / "README.md").read_text()  # what `benchsuite run --all` published


def counted_recomputations(monkeypatch) -> list:
    """The contributions ``verify.verified_records`` recomputes from here on (it still recomputes them)."""
    calls: list = []
    recompute = verify.verified_records

    def counted(bundle, local):
        calls.append(bundle.folder)
        return recompute(bundle, local)

    monkeypatch.setattr(verify, "verified_records", counted)
    return calls


def fresh_cache(world, tmp_path):
    """A copy of machine B's cache (its text matrices and photo digests) without verified contributions."""
    _, b, _ = world
    shutil.copytree(b.root / "cache", tmp_path / "cache", ignore=shutil.ignore_patterns(memo.FOLDER))
    return tmp_path / "cache"


def test_a_second_publish_takes_the_verified_records_from_the_cache(world, machine_b_plugins, tmp_path,
                                                                    monkeypatch):
    a, _, _ = world
    contributions = tmp_path / "contributions"
    folder = contributions.joinpath(*FOLDER[2:])
    shutil.copytree(a.root.joinpath(*FOLDER), folder)
    cache = fresh_cache(world, tmp_path)
    calls = counted_recomputations(monkeypatch)
    first, said = publish_with(world, machine_b_plugins, contributions, cache=cache)
    assert said == [] and SHOWN in first and len(calls) == 1
    entries = sorted((cache / memo.FOLDER).glob("*.json"))
    assert len(entries) == 1 and len(json.loads(entries[0].read_text())["records"]) == 20
    again, said = publish_with(world, machine_b_plugins, contributions, cache=cache)
    assert (again, said, len(calls)) == (first, [], 1)  # a hit: nothing recomputed, the same page
    edit_json(folder / "manifest.json", lambda manifest: manifest.update(created="2026-01-01T00:00:00+00:00"))
    edited, said = publish_with(world, machine_b_plugins, contributions, cache=cache)
    assert (edited, said, len(calls)) == (first, [], 2)  # another manifest: recomputed and kept beside the first
    assert len(list((cache / memo.FOLDER).glob("*.json"))) == 2
    for entry in (cache / memo.FOLDER).glob("*.json"):
        entry.write_text('{"key": {}, "records": [{"trunc')
    repaired, said = publish_with(world, machine_b_plugins, contributions, cache=cache)
    assert (repaired, said, len(calls)) == (first, [], 3)  # a corrupt entry is recomputed and written again
    assert publish_with(world, machine_b_plugins, contributions, cache=cache) == (first, []) and len(calls) == 3


def test_a_tampered_file_is_refused_even_when_its_verification_is_cached(world, machine_b_plugins, tmp_path):
    a, _, _ = world
    contributions = tmp_path / "contributions"
    shutil.copytree(a.root.joinpath(*FOLDER), contributions.joinpath(*FOLDER[2:]))
    cache = fresh_cache(world, tmp_path)
    publish_with(world, machine_b_plugins, contributions, cache=cache)
    expected = edited_number_unsealed(contributions.joinpath(*FOLDER[2:]))
    _, said = publish_with(world, machine_b_plugins, contributions, cache=cache)
    assert len(said) == 1 and expected in said[0]


def test_the_cache_key_changes_with_every_input_of_the_recomputation(world, machine_b_plugins, monkeypatch):
    a, b, _ = world
    found = bundle.read_bundle(a.root.joinpath(*FOLDER))
    local = verify.LocalSuite.of(machine_b_plugins, load_suites(b.root / "registry.toml")["toy"],
                                 ArrayCache(b.root / "cache"))
    key = memo.memo_key(found, local)
    design, inputs = next(iter(local.inputs.items()))
    photos = dataclasses.replace(local, inputs={**local.inputs, design: Inputs("0" * 16, inputs.text_matrices)})
    text = dataclasses.replace(local, inputs={**local.inputs, design: Inputs(inputs.photos, {
        name: "0" * 16 for name in inputs.text_matrices})})
    keys = [key, memo.memo_key(found, photos), memo.memo_key(found, text)]
    monkeypatch.setattr(local.items, "settings", dataclasses.replace(local.items.settings, permutations=21))
    keys.append(memo.memo_key(found, local))
    monkeypatch.undo()
    real = memo.package_version
    monkeypatch.setattr(memo, "package_version", lambda name: "0.0.0+other" if name == "benchsuite" else real(name))
    keys.append(memo.memo_key(found, local))
    monkeypatch.setattr(verify, "IGNORED", (*verify.IGNORED, "value"))
    keys.append(memo.memo_key(found, local))
    assert len({memo.memo_path(ArrayCache(b.root / "cache"), k) for k in keys}) == len(keys)


def test_a_cache_that_cannot_be_written_only_warns(world, machine_b_plugins, tmp_path, caplog):
    _, b, _ = world
    cache = fresh_cache(world, tmp_path)
    (cache / memo.FOLDER).write_text("a file where the folder goes")
    page, said = publish_with(world, machine_b_plugins, b.root / "leaderboard" / "contributions", cache=cache)
    assert said == [] and SHOWN in page
    assert "could not keep the verified contribution" in caplog.text


def test_verify_recomputes_everywhere_and_reextracts_where_the_model_loads(world):
    a, b, _ = world
    folder = "/".join(FOLDER)
    here = " ".join(b.cli("verify", folder, "--images", "5", "--registry", "registry.toml").split())
    assert "verified:" in here and "lab_net cannot be loaded here (it is not registered" in here
    there = " ".join(a.cli("verify", folder, "--images", "5", "--registry", "registry.toml").split())
    found = re.search(r"re-extracted 5 photos of design 'one': largest difference from the contributed matrices "
                      r"(\S+) \(layer (\w+)\)", there)
    assert found is not None and float(found.group(1)) < 1e-12 and found.group(2) in ("conv", "pool", "fc")


def records_of(folder):
    return json.loads((folder / "records.json").read_text())


def first_valued(records):
    return next(r for r in records if isinstance(r.get("value"), float))


def edited_number(folder):
    edit_json(folder / "records.json", lambda rs: first_valued(rs).update(value=first_valued(rs)["value"] + 0.01))
    reseal(folder)
    return "disagrees with its recomputation from the matrices (value:"


def edited_number_unsealed(folder):
    edit_json(folder / "records.json", lambda rs: first_valued(rs).update(value=first_valued(rs)["value"] + 0.01))
    return "records.json does not match its sha256 in the manifest"


def nan_number(folder):
    edit_json(folder / "records.json", lambda rs: first_valued(rs).update(value=float("nan")))
    reseal(folder)
    return "records.json is not a list of valid records"


def rewrite_matrices(folder, change, name="matrices-one.npz"):
    """Change design ``one``'s arrays (name -> array) with ``change`` and write them back, resealed."""
    with np.load(folder / name, allow_pickle=False) as found:
        arrays = {key: found[key] for key in found.files}
    change(arrays)
    np.savez(folder / name, **arrays)
    reseal(folder)


def full(arrays, key):
    return bundle.full(arrays[key], 12)


def edited_matrix(folder):
    def change(arrays):
        matrix = full(arrays, "g0.l1")
        matrix[0, 1:] = matrix[0, 1:][::-1].copy()
        matrix[1:, 0] = matrix[0, 1:]
        arrays["g0.l1"] = bundle.upper(matrix)
    rewrite_matrices(folder, change)
    return "disagrees with its recomputation from the matrices"


def swapped_rows(folder):
    def change(arrays):
        for key in [k for k in arrays if ".l" in k]:
            matrix = full(arrays, key)[np.ix_([1, 0, *range(2, 12)], [1, 0, *range(2, 12)])]
            arrays[key] = bundle.upper(matrix)
    rewrite_matrices(folder, change)
    return "disagrees with its recomputation from the matrices"


def nan_matrix(folder):
    rewrite_matrices(folder, lambda arrays: arrays["g0.l0"].__setitem__(3, np.nan))
    return "array g0.l0.npy holds NaN or inf"


def wrong_shape(folder):
    rewrite_matrices(folder, lambda arrays: arrays.update({"g0.l2": arrays["g0.l2"][:-1]}))
    return "array g0.l2.npy is float64 of shape (77,), not float64 of shape (78,)"


def missing_layer(folder):
    rewrite_matrices(folder, lambda arrays: arrays.pop("g0.l2"))
    return "array g0.l2.npy is missing"


def hostile_header(folder):
    """An array whose header declares a terabyte of data while the file holds a few bytes."""
    path = folder / "matrices-one.npz"
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**11,)})
    members["g0.l0.npy"] = header.getvalue() + bytes(64)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    reseal(folder)
    return "array g0.l0.npy is float64 of shape (100000000000,), not float64 of shape (78,)"


def truncated_matrix(folder):
    path = folder / "matrices-two.npz"
    path.write_bytes(path.read_bytes()[:-200])
    return "matrices-two.npz is"  # ... bytes, its manifest says ... (truncated or edited)


def truncated_matrix_resealed(folder):
    truncated_matrix(folder)
    reseal(folder)
    return "matrices-two.npz (design 'two') is not an .npz archive"


def in_manifest(change):
    def tamper(folder):
        expected = change.__doc__
        edit_json(folder / "manifest.json", change)
        return expected
    tamper.__name__ = change.__name__
    return tamper


@in_manifest
def other_photo(manifest):
    """design 'one': group 0 photo content digest at position 4"""
    manifest["designs"][0]["groups"][0]["digests"][4] = "file:pillow-1:" + "0" * 64


@in_manifest
def other_photo_set(manifest):
    """design 'two': group 1 photo at position 0"""
    manifest["designs"][1]["groups"][1]["images"][0] = "c00/9.png"


@in_manifest
def swapped_concepts(manifest):
    """design 'one': concept id at position 0 is 'c01', this suite's is 'c00'"""
    concepts = manifest["designs"][0]["concepts"]
    concepts[0], concepts[1] = concepts[1], concepts[0]


@in_manifest
def other_seed(manifest):
    """not comparable with suite 'toy' here: seed 1, this suite's is 0"""
    manifest["seed"] = 1


@in_manifest
def other_permutations(manifest):
    """permutation count 1000, this suite's is 20"""
    manifest["permutations"] = 1000


@in_manifest
def other_text_matrix(manifest):
    """design 'one': text model 'toy_text_good' has another k×k matrix here"""
    manifest["designs"][0]["text_matrices"]["toy_text_good"] = "0" * 64


def other_design(folder):
    edit_json(folder / "manifest.json", lambda m: m["designs"][1].update(name="three"))
    edit_json(folder / "records.json", lambda rs: [r.update(design="three") for r in rs if r["design"] == "two"])
    reseal(folder)
    return "design at position 1 is 'three', this suite's is 'two'"


@in_manifest
def markdown_name(manifest):
    """model name 'lab_net](http://evil.example)' is not a benchsuite item name"""
    manifest["model"]["name"] = "lab_net](http://evil.example)"


@in_manifest
def path_name(manifest):
    """model name 'hf:../../etc/passwd' holds a path step"""
    manifest["model"]["name"] = "hf:../../etc/passwd"


@in_manifest
def hostile_contributor(manifest):
    """contributor '<img src=x onerror=alert(1)>' is not letters"""
    manifest["by"] = "<img src=x onerror=alert(1)>"


@in_manifest
def path_file_name(manifest):
    """file name '../records.json' is not lower case letters"""
    manifest["files"]["../records.json"] = manifest["files"]["records.json"]


def slug_clash(folder):
    edit_json(folder / "manifest.json", lambda m: m["model"].update(name="toy-net"))
    edit_json(folder / "records.json", lambda rs: [r.update(vision="toy-net") for r in rs])
    reseal(folder)
    folder.rename(folder.with_name("toy-net"))
    return "model 'toy-net' clashes with 'toy_net', run here on suite 'toy'"


def misplaced(folder):
    folder.rename(folder.with_name("elsewhere"))
    return "belongs in a folder toy/lab-net, not toy/elsewhere"


def huge_manifest(folder):
    sparse(folder / "manifest.json", bundle.MAX_MANIFEST_BYTES + 1)
    return f"manifest.json is {bundle.MAX_MANIFEST_BYTES + 1} bytes, more than the"


def huge_records(folder):
    sparse(folder / "records.json", bundle.MAX_FILE_BYTES + 1)
    edit_json(folder / "manifest.json", lambda m: m["files"]["records.json"].update(size=bundle.MAX_FILE_BYTES + 1))
    return f"records.json is {bundle.MAX_FILE_BYTES + 1} bytes, more than the"


def malformed_manifest(folder):
    (folder / "manifest.json").write_text('{"format": 1, "suite": ')
    return "manifest.json is not a contribution manifest"


def malformed_records(folder):
    (folder / "records.json").write_text("[1, 2")
    reseal(folder)
    return "records.json is not a list of valid records"


def malformed_matrices(folder):
    (folder / "matrices-one.npz").write_bytes(b"PK\x03\x04 not really a zip")
    reseal(folder)
    return "matrices-one.npz (design 'one') is not an .npz archive"


def extra_file(folder):
    (folder / "notes.md").write_text("run me")
    return "notes.md is not a file of this contribution"


def linked_file(folder):
    target = folder.parents[2] / "elsewhere.json"
    (folder / "records.json").rename(target)
    (folder / "records.json").symlink_to(target)
    return "records.json is missing or not a regular file"


TAMPERINGS = [edited_number, edited_number_unsealed, nan_number, edited_matrix, swapped_rows, nan_matrix, wrong_shape,
              missing_layer, hostile_header, truncated_matrix, truncated_matrix_resealed, other_photo, other_photo_set,
              swapped_concepts, other_seed, other_permutations, other_text_matrix, other_design, markdown_name,
              path_name, hostile_contributor, path_file_name, slug_clash, misplaced, huge_manifest, huge_records,
              malformed_manifest, malformed_records, malformed_matrices, extra_file, linked_file]


@pytest.mark.parametrize("tamper", TAMPERINGS, ids=lambda tamper: tamper.__name__)
def test_a_tampered_contribution_is_refused_by_name_and_the_page_is_unchanged(world, machine_b_plugins, tmp_path,
                                                                              tamper):
    a, _, _ = world
    folder = tmp_path / "contributions" / "toy" / "lab-net"
    shutil.copytree(a.root.joinpath(*FOLDER), folder)
    expected = tamper(folder)
    unchanged, _ = publish_with(world, machine_b_plugins)
    page, said = publish_with(world, machine_b_plugins, tmp_path / "contributions")
    assert len(said) == 1 and "\n" not in said[0], said
    assert said[0].startswith("refused contribution ") and expected in said[0], said[0]
    assert page == unchanged


def test_a_duplicate_contribution_is_refused_and_the_first_stays(world, machine_b_plugins, tmp_path):
    a, b, _ = world
    shutil.copytree(a.root.joinpath(*FOLDER), tmp_path.joinpath("again", *FOLDER[2:]))
    once, said_once = publish_with(world, machine_b_plugins, b.root / "leaderboard" / "contributions")
    twice, said = publish_with(world, machine_b_plugins, b.root / "leaderboard" / "contributions", tmp_path / "again")
    assert said_once == [] and len(said) == 1 and "a duplicate:" in said[0]
    assert twice == once and SHOWN in once


class BrokenLayerPlugin:
    """A model whose middle layer gives NaN for one photo: that layer fails, the others are scored."""

    @hookimpl
    def register_vision_models(self, register):
        register(VisionModelMeta(name="broken_net", framework="numpy", input_size=8, preprocessing="/255",
                                 weights_source="random", layers=toy_plugins.LAYERS,
                                 loader=lambda **options: toy_plugins.ToyModel(nan_layer="middle")))


def test_a_model_with_a_broken_layer_is_contributed_with_its_failed_records(world, machine_b_plugins, tmp_path):
    _, b, _ = world
    pm = make_plugin_manager()
    pm.register(toy_plugins, name="toy")
    pm.register(BrokenLayerPlugin(), name="broken")
    suite = load_suites(b.root / "registry.toml")["toy"]
    cache = ArrayCache(tmp_path / "cache")
    run_suite(Registry(pm), suite, RunOptions(out=tmp_path / "results", cache=cache, vision=["broken_net"],
                                              progress=False))
    packed = contribute(Registry(pm), suite, tmp_path / "results", "broken_net", cache=cache, by="lab",
                        out=tmp_path / "contributions" / "toy" / "broken-net")
    failed = [r for r in json.loads((packed.folder / "records.json").read_text()) if r["status"] == "failed"]
    assert failed and {r["layer"] for r in failed} == {"middle"} and "plugin 'broken'" in failed[0]["error"]
    page, said = publish_with(world, machine_b_plugins, tmp_path / "contributions")
    assert said == [] and "broken_net (contributed by lab, verified from matrices)" in page
    merged = merging([tmp_path / "contributions"], registry=b.root / "registry.toml",
                     cache=ArrayCache(b.root / "cache"),
                     plugins=machine_b_plugins)(read_results(b.root / "results" / "results.json"))
    shown = [r for r in merged.records if r.vision.startswith("broken_net") and r.status == "failed"]
    assert len(shown) == len(failed) and all("(plugin 'broken') broke layer 'middle'" in r.error for r in shown)
