"""A pytest helper for plugin authors: run the conformance checks on your items in your own CI.

    from benchsuite.testing import parametrize_with_checks

    @parametrize_with_checks(["color_histogram"])
    def test_conforms(case):
        case.check()

Each name becomes one test; it fails listing every failed check, and is skipped
(with the reason) when the item's resources are missing on this machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchsuite.kit.conformance import CheckResult, check_item


@dataclass(frozen=True)
class ItemCase:
    """One registered item to check, with the options its loader gets."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    registration: bool = True

    def results(self) -> list[CheckResult]:
        return check_item(self.name, self.options, registration=self.registration)

    def check(self) -> list[CheckResult]:
        """Run every check; ``pytest.fail`` with the failed ones, ``pytest.skip`` when nothing could be checked."""
        import pytest

        results = self.results()
        failed = [r.line() for r in results if r.status == "failed"]
        if failed:
            pytest.fail("\n".join(failed), pytrace=False)
        if not any(r.status == "passed" and r.check not in ("loads", "registration imports no framework")
                   for r in results):
            pytest.skip("; ".join(r.line() for r in results if r.status == "skipped"))
        return results

    def __str__(self) -> str:
        return self.name


def parametrize_with_checks(names: Sequence[Any], options: Mapping[str, Mapping[str, Any]] | None = None,
                            registration: bool = True) -> Any:
    """``pytest.mark.parametrize`` over ``case`` (an ``ItemCase``), one test per item name.

    ``names`` may mix plain names and ``pytest.param(name, marks=...)``; ``options``
    maps a name to its loader options (as ``--set NAME.OPTION=VALUE`` would).
    """
    import pytest

    options = options or {}
    cases = []
    for entry in names:
        marks: Any = ()
        if hasattr(entry, "values") and hasattr(entry, "marks"):
            entry, marks = entry.values[0], entry.marks
        cases.append(pytest.param(ItemCase(entry, dict(options.get(entry, {})), registration), marks=marks, id=entry))
    return pytest.mark.parametrize("case", cases)
