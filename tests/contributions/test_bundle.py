"""The contribution format's pieces: exact triangles, names that cannot become paths or markup, the matrix
checks, and the record agreement rules that verification shares with benchmarks/compare_records.py."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchsuite.contributions.bundle import (
    MANIFEST,
    Refused,
    full,
    matrix_problem,
    name_problem,
    read_bundle,
    upper,
)
from benchsuite.metrics.similarity import correlation_matrix
from benchsuite.results.agreement import compare


@given(st.integers(2, 30), st.integers(0, 2**32 - 1))
def test_an_upper_triangle_gives_back_the_exact_matrix(k, seed):
    matrix = correlation_matrix(np.random.default_rng(seed).standard_normal((k, 7)))
    triangle = upper(matrix)
    assert triangle.dtype == np.float64 and triangle.shape == (k * (k + 1) // 2,)
    assert np.array_equal(full(triangle, k), matrix)  # bit for bit: nothing is rounded on the way
    assert matrix_problem(triangle, k) is None


def test_a_matrix_must_be_finite_a_correlation_with_a_unit_diagonal():
    matrix = correlation_matrix(np.random.default_rng(0).standard_normal((5, 4)))
    triangle = upper(matrix)
    nan = triangle.copy()
    nan[2] = np.nan
    assert "NaN or inf" in matrix_problem(nan, 5)
    outside = triangle.copy()
    outside[1] = 1.5
    assert "outside [-1, 1]" in matrix_problem(outside, 5)
    diagonal = upper(matrix * 0.5)
    assert "diagonal" in matrix_problem(diagonal, 5)


@pytest.mark.parametrize("name", ["lab_net", "mobilenet_v2", "timm:convnext_tiny.fb_in1k", "hf:facebook/dinov2-small"])
def test_model_names_of_plugins_and_sources_are_accepted(name):
    assert name_problem(name) is None


@pytest.mark.parametrize("name, why", [
    ("../x", "not a benchsuite item name"), ("/abs", "not a benchsuite item name"),
    ("a b", "not a benchsuite item name"), ("x](http://e.example)", "not a benchsuite item name"),
    ("<b>x</b>", "not a benchsuite item name"), ("x" * 121, "at most 120"), ("hf:a/../b", "path step"),
    ("hf:a//b", "path step"), ("hf:a/", "path step"), ("Upper", "not a benchsuite item name"),
])
def test_hostile_model_names_are_refused(name, why):
    assert why in name_problem(name)


def test_a_folder_without_a_manifest_or_a_link_is_refused(tmp_path):
    with pytest.raises(Refused, match="manifest.json is missing or not a regular file"):
        read_bundle(tmp_path)
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(Refused, match="not a folder"):
        read_bundle(tmp_path / "link")
    (tmp_path / "real" / MANIFEST).write_text("[]")
    with pytest.raises(Refused, match="is not a contribution manifest") as refused:
        read_bundle(tmp_path / "real")
    assert "\n" not in str(refused.value)


def test_records_agree_within_the_float_rule_and_ignored_fields():
    record = {"value": 0.75, "groups": [0.75], "provenance": {"time": "t1", "versions": {"numpy": "2.0"}}}
    near = {"value": 0.75 + 5e-10, "groups": [0.75], "provenance": {"time": "t2", "versions": {"numpy": "2.0"}}}
    assert compare(record, near) == ([], pytest.approx(5e-10))
    far = {**near, "value": 0.7501}
    assert compare(record, far)[0] == ["value: 0.75 != 0.7501"]
    other = {**near, "provenance": {"time": "t2", "versions": {"numpy": "2.1"}}}
    assert compare(record, other)[0] == ["provenance.versions.numpy: '2.0' != '2.1'"]
    assert compare(record, other, ("provenance.time", "provenance.versions"))[0] == []
    assert compare(record, {"value": 0.75})[0][0].endswith("only in before")
