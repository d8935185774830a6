"""Shared test settings: no network, Keras on torch, small thread counts."""

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")


SLOW_MODULES = frozenset({
    "test_paper_suite.py",  # the paper suite end to end on generated files
    "test_runner.py",  # a real suite with MobileNetV2 and three text models
    "test_vision_torch.py",  # four ImageNet CNNs on photos
    "test_vision_keras.py",  # the Keras networks, untrained, at full size
    "test_text_offline.py",  # three text models over the 1000 ImageNet classes
    "test_concepts_offline.py",  # the offline suite's text models over its photos
    "test_distributed.py",  # a Ray cluster
})
SLOW_TESTS = frozenset({"test_cli.py::test_run_and_rebuild_leaderboard"})  # the offline suite from the command line
"""End-to-end tests that load real models or run whole suites: marked ``slow``, left out by ``tox -e fast``."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in SLOW_MODULES or f"{item.path.name}::{item.originalname}" in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
