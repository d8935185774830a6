"""registry.toml parsing and --set overrides."""

from pathlib import Path

import pytest

from benchsuite.contract.errors import BenchsuiteError
from benchsuite.inputs.suites import load_suites, parse_overrides

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_registry_declares_offline_and_paper():
    suites = load_suites(ROOT / "registry.toml")
    offline, paper = suites["offline"], suites["paper"]
    assert offline.images == "pypi_photos" and [d.groups for d in offline.designs] == [1, 2, 1]
    assert [d.aggregate for d in offline.designs] == ["groups", "groups", "concept_mean"]
    assert {"mobilenet_v2", "mobilenet_v2_untrained", "pixels"} <= set(offline.vision)
    assert set(offline.text) == {"glove_6b_50d", "minilm", "e5_multilingual"}
    assert {"vgg16", "resnet50", "inception_v3"} <= set(paper.vision)
    assert set(paper.text) == {"skipgram", "glove", "rnn", "crosslingual"}
    assert paper.designs[0].groups == 5 and paper.images == "imagenet_val"
    assert paper.options_for("skipgram") == {"gensim_name": "word2vec-google-news-300"}


def test_registry_names_all_exist():
    from benchsuite.contract.manager import Registry

    registry = Registry()
    for suite in load_suites(ROOT / "registry.toml").values():
        for name in suite.vision:
            assert name in registry.vision
        for name in suite.text:
            assert name in registry.text
        for name in suite.metrics:
            assert name in registry.metrics
        assert suite.images in registry.images and suite.concepts in registry.concepts


def test_invalid_suite_names_the_suite_and_file(tmp_path):
    path = tmp_path / "registry.toml"
    path.write_text('[suites.bad]\nvision = ["pixels"]\ntext = []\nimages = "x"\nconcepts = "y"\nmetrics = []\n')
    with pytest.raises(BenchsuiteError, match="suite 'bad' in .*registry.toml is invalid"):
        load_suites(path)


def test_overrides():
    assert parse_overrides(["vgg16.weights=/w.h5", "skipgram.path=/v.bin"]) == {
        "vgg16": {"weights": "/w.h5"}, "skipgram": {"path": "/v.bin"}}
    with pytest.raises(BenchsuiteError, match="ITEM.OPTION=VALUE"):
        parse_overrides(["weights=/w.h5"])


def test_default_registry_is_found_from_any_folder(tmp_path, monkeypatch):
    from benchsuite.inputs.suites import default_registry_path

    monkeypatch.chdir(tmp_path)
    shipped = default_registry_path()
    assert shipped == ROOT / "benchsuite" / "inputs" / "data" / "registry.toml"
    assert shipped.read_text() == (ROOT / "registry.toml").read_text()  # the checkout's registry.toml links to it
    (tmp_path / "registry.toml").write_text("")
    assert default_registry_path() == tmp_path / "registry.toml"


@pytest.mark.parametrize("text,value", [
    ("7", 7), ("true", True), ("false", False), ("1.5", 1.5), ('"x y"', "x y"), ("word", "word"),
    ("[1, 2]", [1, 2]), ("/path/to/file.h5", "/path/to/file.h5"), ("", ""), ("2024-01-02", "2024-01-02"),
    ("C:/weights.h5", "C:/weights.h5"), ("1\nother = 2", "1\nother = 2"), ("-3", -3), ("'single'", "single"),
])
def test_set_values_are_typed_like_toml(text, value):
    parsed = parse_overrides([f"item.option={text}"])["item"]["option"]
    assert parsed == value and type(parsed) is type(value)


def test_value_may_contain_equals_signs():
    assert parse_overrides(["item.path=a=b"]) == {"item": {"path": "a=b"}}


REGISTRY_HEAD = """
[suites.s]
vision = ["pixels", "not_installed"]
text = ["glove_6b_50d"]
images = "pypi_photos"
concepts = "imagenet1k"
metrics = ["two_vs_two"]
"""


def registry_file(tmp_path, designs: list[str], extra: str = "") -> Path:
    path = tmp_path / "registry.toml"
    tables = "".join(f'\n[[suites.s.designs]]\nname = "{name}"\n' for name in designs)
    path.write_text(REGISTRY_HEAD + tables + extra)
    return path


@pytest.mark.parametrize("first,second", [("1 photo", "1-photo"), ("same", "same"), ("Groups", "groups"),
                                          ("a_b", "a b")])
def test_design_names_that_share_a_folder_are_refused_naming_both(tmp_path, first, second):
    with pytest.raises(BenchsuiteError, match=f"designs '{first}' and '{second}' share the file name"):
        load_suites(registry_file(tmp_path, [first, second]))


def test_design_name_without_letters_or_digits_is_refused(tmp_path):
    with pytest.raises(BenchsuiteError, match="'!!!' has no letters or digits"):
        load_suites(registry_file(tmp_path, ["!!!"]))


def test_suite_names_that_share_a_folder_are_refused(tmp_path):
    path = registry_file(tmp_path, ["d"], REGISTRY_HEAD.replace("suites.s]", '"suites"."S"]') +
                         '\n[[suites.S.designs]]\nname = "d"\n')
    with pytest.raises(BenchsuiteError, match="suites in .*: 's' and 'S' share the file name 's'"):
        load_suites(path)


@pytest.fixture(scope="module")
def registry():
    from benchsuite.contract.manager import Registry

    return Registry()


def checked(registry, tmp_path, extra: str = "", **run):
    from benchsuite.inputs.suites import check_suite_run

    suite = load_suites(registry_file(tmp_path, ["d"], extra))["s"]
    check_suite_run(registry, suite, **run)


def test_a_valid_run_passes_the_checks(registry, tmp_path):
    checked(registry, tmp_path, "[suites.s.options.glove_6b_50d]\nmean_fallback = false\n",
            overrides={"pixels": {"weights": "x"}, "not_installed": {"anything": 1}})


def test_unknown_metric_is_an_error_listing_the_registered_ones(registry, tmp_path):
    with pytest.raises(BenchsuiteError, match=r"metric 'two_vs_too' of suite 's'.*registered metrics: cka, "
                                              r"cka_debiased, mutual_knn, rsa"):
        checked(registry, tmp_path, metrics=["two_vs_too"])
    suite_file = registry_file(tmp_path, ["d"]).read_text().replace('["two_vs_two"]', '["two_vs_two", "rsaa"]')
    (tmp_path / "registry.toml").write_text(suite_file)
    from benchsuite.inputs.suites import check_suite_run

    with pytest.raises(BenchsuiteError, match="metric 'rsaa'"):
        check_suite_run(registry, load_suites(tmp_path / "registry.toml")["s"])


def test_unknown_image_source_is_an_error(registry, tmp_path):
    from benchsuite.inputs.suites import check_suite_run

    suite = load_suites(registry_file(tmp_path, ["d"]))["s"].model_copy(update={"images": "nowhere"})
    with pytest.raises(BenchsuiteError, match="image source 'nowhere' of suite 's'.*registered images: "):
        check_suite_run(registry, suite)


def test_option_for_an_item_outside_the_run_is_an_error(registry, tmp_path):
    with pytest.raises(BenchsuiteError, match=r"--set vgg16.weights: 'vgg16' is not an item of suite 's'.*"
                                              r"options can be given to: .*pixels"):
        checked(registry, tmp_path, overrides={"vgg16": {"weights": "/w.h5"}})
    checked(registry, tmp_path, vision=["vgg16"], overrides={"vgg16": {"weights": "/w.h5"}})


def test_option_the_loader_does_not_accept_is_an_error_listing_accepted(registry, tmp_path):
    with pytest.raises(BenchsuiteError, match=r"--set pixels.wieghts: the vision item 'pixels' has no option "
                                              r"'wieghts'; its loader accepts: device, seed, weights"):
        checked(registry, tmp_path, overrides={"pixels": {"wieghts": "x"}})
    with pytest.raises(BenchsuiteError, match=r"\[suites.s.options\] glove_6b_50d.path: .*accepts: device, "
                                              r"mean_fallback"):
        checked(registry, tmp_path, "[suites.s.options.glove_6b_50d]\npath = 'x'\n")


def test_private_loader_parameters_are_not_options(registry, tmp_path):
    with pytest.raises(BenchsuiteError, match="two_vs_two._name: .*its loader accepts: none"):
        checked(registry, tmp_path, overrides={"two_vs_two": {"_name": "rsa"}})


def test_list_suites_reports_a_refused_registry_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from benchsuite.cli import app

    result = CliRunner().invoke(app, ["list", "suites", "--registry", str(registry_file(tmp_path, ["A b", "a-b"]))])
    assert result.exit_code == 2
    assert "designs 'A b' and 'a-b' share the file name 'a-b'" in result.output and "Traceback" not in result.output


def test_shipped_suites_pass_the_pre_run_checks(registry):
    from benchsuite.inputs.suites import check_suite_run

    for suite in load_suites(ROOT / "registry.toml").values():
        check_suite_run(registry, suite)


@pytest.mark.parametrize("value", [2024, [1, 2], 1.5, True])
def test_an_option_value_of_a_type_its_loader_does_not_take_is_refused_naming_both(registry, tmp_path, value):
    with pytest.raises(BenchsuiteError) as refused:
        checked(registry, tmp_path, overrides={"pypi_photos": {"cache_dir": value}})
    assert str(refused.value) == (
        f"--set pypi_photos.cache_dir={value!r}: option 'cache_dir' of the images item 'pypi_photos' takes "
        f"str | None, not {type(value).__name__}; give a value of that type (text in double quotes: \"{value}\")")
    with pytest.raises(BenchsuiteError, match=r"^\[suites.s.options\] glove_6b_50d.mean_fallback='no': .* takes "
                                              r"bool, not str"):
        checked(registry, tmp_path, "[suites.s.options.glove_6b_50d]\nmean_fallback = 'no'\n")
    checked(registry, tmp_path, overrides={"pypi_photos": {"cache_dir": "2024"}})  # the quoted value is text


def suites_text(designs: int, permutations: int = 10) -> str:
    tables = "".join(f'[[suites.s.designs]]\nname = "d{i}"\n' for i in range(designs))
    return REGISTRY_HEAD + f"permutations = {permutations}\n" + tables


def test_more_designs_or_permutations_than_the_bounds_are_refused_naming_them(tmp_path):
    from benchsuite.inputs.suites import MAX_DESIGNS, MAX_PERMUTATIONS

    path = tmp_path / "registry.toml"
    path.write_text(suites_text(MAX_DESIGNS))
    assert len(load_suites(path)["s"].designs) == MAX_DESIGNS == 50
    for text, bound in ((suites_text(MAX_DESIGNS + 1), "at most 50 items"),
                        (suites_text(1, MAX_PERMUTATIONS + 1), "less than or equal to 100000")):
        path.write_text(text)
        with pytest.raises(BenchsuiteError) as refused:
            load_suites(path)
        assert bound in str(refused.value) and "\n" not in str(refused.value)


def test_a_registry_that_is_not_a_bounded_regular_file_is_refused_in_one_line(tmp_path):
    import os
    import threading

    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.toml"
    huge.write_text(REGISTRY_HEAD + "#" * (1 << 20))
    cases = {fifo: "is not a regular file", tmp_path: "is not a regular file",
             huge: f"is larger than {1 << 20} bytes", tmp_path / "none.toml": "not found"}
    for path, message in cases.items():
        refused: list[str] = []
        reading = threading.Thread(target=lambda p=path, r=refused: r.append(refusal(p)), daemon=True)
        reading.start()
        reading.join(timeout=5)
        assert refused and message in refused[0] and "\n" not in refused[0], (path, refused)


def refusal(path) -> str:
    try:
        load_suites(path)
    except BenchsuiteError as error:
        return str(error)
    return "accepted"


@pytest.mark.parametrize("depth", [13, 100_000])
def test_a_registry_nested_too_deep_is_refused_in_one_line(tmp_path, depth):
    path = tmp_path / "registry.toml"
    path.write_text(REGISTRY_HEAD + "[suites.s.options.pixels]\nx = " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(BenchsuiteError, match=r"nests tables or arrays more than 12 deep"):
        load_suites(path)
    path.write_text(REGISTRY_HEAD + '[[suites.s.designs]]\nname = "d"\n[suites.s.options.pixels]\nx = [[[[1]]]]\n')
    assert load_suites(path)["s"].options["pixels"]["x"] == [[[[1]]]]


def test_a_registry_that_is_not_utf8_is_refused_in_one_line(tmp_path):
    path = tmp_path / "registry.toml"
    path.write_bytes(REGISTRY_HEAD.encode() + b"# \xff\n")
    with pytest.raises(BenchsuiteError, match=r"is not UTF-8 text \(invalid start byte at byte \d+\)$"):
        load_suites(path)


def test_a_class_loader_is_checked_by_its_init_not_its_attributes():
    from benchsuite.inputs.suites import option_annotation

    class Loader:
        root: int  # an attribute, not an option

        def __init__(self, root: str | None = None):
            self.root = 0

    assert option_annotation(Loader, "root") == str | None
    assert option_annotation(lambda root=None: root, "root") is None
