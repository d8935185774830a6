"""A malformed ``PREFIX:NAME`` (a path, a space, nothing after the colon) is refused naming the bad name and the
form the source takes, before its library is asked about it."""

from __future__ import annotations

import pytest

from benchsuite.contract.manager import Registry

pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning"),
              pytest.mark.needs("torch")]  # the sources import torch when they resolve a name


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry()


@pytest.mark.parametrize("name,form", [
    ("timm:../../x", "timm:ARCHITECTURE[.TAG]"),
    ("timm:convnext_tiny/../x", "timm:ARCHITECTURE[.TAG]"),
    ("timm:a b", "timm:ARCHITECTURE[.TAG]"),
    ("timm:.fb_in1k", "timm:ARCHITECTURE[.TAG]"),
    ("torchvision:../../x", "torchvision:NAME[:WEIGHTS]"),
    ("torchvision:resnet50:../x", "torchvision:NAME[:WEIGHTS]"),
    ("keras:../VGG16", "keras:NAME"),
])
def test_a_malformed_name_names_itself_and_the_form(registry, name, form):
    assert name not in registry.vision
    problem = registry.problem("vision", name)
    assert f"{name} is not a" in problem and f"write {form}" in problem
    assert "has no model ''" not in problem


def test_well_formed_names_still_reach_the_library(registry):
    assert "has no pretrained tag 'nope'" in registry.problem("vision", "timm:test_convnext.nope")
    assert "torchvision has no classification model 'resnet5'" in registry.problem("vision", "torchvision:resnet5")


@pytest.mark.parametrize("name", ["st:a b", "hf:org/na me", "clip:org/x@main", "hf:org--x/y", "st:org/.hidden",
                                  "hf:a/b/c"])
def test_a_malformed_hub_repo_id_names_itself_and_the_form(name):
    from benchsuite_builtins._shared.hub_cache import check_repo_id

    prefix, _, rest = name.partition(":")
    with pytest.raises(ValueError, match=rf"{name} is neither a Hugging Face repo id \(ORG/NAME\) nor a folder path"):
        check_repo_id(rest, prefix)
    assert check_repo_id("sentence-transformers/all-MiniLM-L6-v2", "st") == "sentence-transformers/all-MiniLM-L6-v2"
    assert check_repo_id("facebook/dinov2-small", "hf") == "facebook/dinov2-small"


def test_a_source_items_version_names_the_library_that_builds_it(registry):
    import importlib.metadata

    for name, library in (("timm:test_convnext.r160_in1k", "timm"), ("torchvision:mobilenet_v3_small", "torchvision")):
        assert registry.vision[name].version == f"1+{library}=={importlib.metadata.version(library)}"
