"""The Python API for notebooks and scripts: ``evaluate`` a suite and ``load_results`` from a run.

The ``benchsuite run`` command is a thin layer over :func:`evaluate`: the same options, the same checks
and the same one-line errors (a :class:`~benchsuite.contract.errors.BenchsuiteError` naming the option and the fix).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchsuite.contract.errors import BenchsuiteError
from benchsuite.results import records

if TYPE_CHECKING:
    from benchsuite.contract.manager import Registry
    from benchsuite.inputs.suites import Suite
    from benchsuite.run.options import RunOptions

log = logging.getLogger("benchsuite")
EXECUTORS = ("local", "ray")


class Results(records.Results):
    """A run's results, the ``results.json`` document (``records``, ``problems``, ``to_pandas()``), with the
    leaderboard page they make: what ``evaluate`` and ``load_results`` return."""

    def leaderboard(self, out: Path | str | None = None) -> str:
        """The leaderboard page (markdown) of these results, as ``benchsuite leaderboard`` builds it.

        Without ``out``: the markdown alone (tables and details, no plots). With ``out``: also written there as
        README.md with its plots and a copy of these results as results.json; a results.json already in ``out``
        that holds other results is never overwritten (a BenchsuiteError says so).
        """
        from benchsuite.results.leaderboard import publish, render
        results = self.model_copy(update={"mixed_settings": records.mixed_settings(self.records)})
        if out is None:
            return render(results, None)
        path = Path(out) / "results.json"
        if path.exists() and records.read_results(path).model_dump() != results.model_dump():
            raise BenchsuiteError(f"{path} holds other results; pass an empty folder, or rebuild that folder's page "
                                  f"with `benchsuite leaderboard --results {out} --out {out}`")
        path.parent.mkdir(parents=True, exist_ok=True)
        records.write_results(path, results)
        return publish(path, Path(out)).read_text()


def with_leaderboard(results: records.Results) -> Results:
    """The same results as an API ``Results`` (its records are shared, not copied or validated again)."""
    return Results(**dict(results))


def usable_folder(path: Path, option: str) -> Path:
    """``path`` as a folder this process can write into (created when absent), else a BenchsuiteError."""
    if path.exists() and not path.is_dir():
        raise BenchsuiteError(f"{option} {path} is a file, not a folder; pass a folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise BenchsuiteError(f"{option} {path} is not writable ({error.strerror or error}); pass a folder you "
                              "can write to") from None
    return path


def cuda_or_cpu(say: Callable[[str], object] = log.warning) -> str:
    """``cuda`` when torch sees a GPU, else ``cpu``, telling ``say`` why (a run never fails for want of a GPU)."""
    try:
        import torch

        if torch.cuda.is_available():
            return "cuda"
    except ImportError:
        pass
    say("--device cuda: no CUDA device is visible to torch; running on the CPU")
    return "cpu"


def name_list(value: str | Sequence[str] | None, option: str) -> list[str] | None:
    """A model selection as a list of names (None: the suite's); a lone name is a list of one."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and all(isinstance(name, str) for name in value):
        return list(value)
    raise BenchsuiteError(f"{option} must be a name or a list of names, got {value!r}")


def checked_overrides(overrides: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """``{item: {option: value}}`` as plain dicts, else a BenchsuiteError showing the expected shape."""
    if overrides is None:
        return {}
    if isinstance(overrides, Mapping) and all(
        isinstance(item, str) and isinstance(values, Mapping) and all(isinstance(option, str) for option in values)
        for item, values in overrides.items()
    ):
        return {item: dict(values) for item, values in overrides.items()}
    raise BenchsuiteError(f"--set expects {{item: {{option: value}}}} (e.g. {{'vgg16': {{'weights': '/x.h5'}}}}), "
                          f"got {overrides!r}")


def memory_bytes(budget: int | str | None) -> int | None:
    """A memory budget in bytes: an int as given, a string such as ``"2GiB"`` parsed; else a BenchsuiteError."""
    if budget is None or isinstance(budget, int):
        return budget
    from benchsuite.extraction.layers import parse_size

    try:
        return parse_size(budget)
    except ValueError as error:
        raise BenchsuiteError(f"--memory-budget: {error}") from None


def chosen_suite(suite: str | Suite, registry: Path | str | None) -> Suite:
    """The suite object: a ``Suite`` as given, or the one of that name in the suites file."""
    from benchsuite.inputs.suites import Suite, load_suites

    if isinstance(suite, Suite):
        return suite
    suites = load_suites(registry)
    if suite not in suites:
        raise BenchsuiteError(f"no suite {suite!r} in the registry; declared: {', '.join(suites)}")
    return suites[suite]


def evaluate(
    vision: str | Sequence[str] | None = None,
    text: str | Sequence[str] | None = None,
    suite: str | Suite = "offline",
    *,
    permutations: int | None = None,
    seed: int | None = None,
    device: str = "cpu",
    out: Path | str = "results",
    cache: Path | str | None = None,
    metrics: str | Sequence[str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    memory_budget: int | str | None = None,
    batch_size: int = 8,
    executor: str = "local",
    address: str | None = None,
    registry: Path | str | None = None,
    leaderboard: Path | str | None = None,
    progress: bool = True,
    plugins: Registry | None = None,
) -> Results:
    """Run ``suite`` (a name in the suites file ``registry``, or a ``Suite``) and return this run's ``Results``.

    ``vision``/``text``/``metrics``: a name or a list of names (None: the suite's). ``overrides``:
    ``{item: {option: value}}`` (the command line's ``--set``). ``memory_budget``: bytes or a size such as
    ``"2GiB"``. Results accumulate in ``<out>/results.json`` (a killed run resumes from it); ``leaderboard``,
    when given, is the folder the leaderboard is published to. ``plugins``: a plugin ``Registry`` to use
    instead of the installed plugins (local executor only). Everything is checked before any work starts;
    a bad option raises a one-line ``BenchsuiteError``, while a model that fails or is skipped is a
    ``Problem`` in the results, never an exception.
    """
    chosen = chosen_suite(suite, registry)
    check_executor(executor, plugins)
    options = run_options(Path(out), cache, vision=vision, text=text, permutations=permutations, seed=seed,
                          device=device, metrics=metrics, overrides=overrides, memory_budget=memory_budget,
                          batch_size=batch_size, progress=progress)
    if leaderboard is not None:
        usable_folder(Path(leaderboard), "--leaderboard")
    if executor == "ray":
        from benchsuite.run.ray_executor import run_suite_on_ray

        results = run_suite_on_ray(chosen, options, address=address)
    else:
        from benchsuite.contract.manager import Registry
        from benchsuite.run.suite_run import run_suite

        results = run_suite(plugins if plugins is not None else Registry(), chosen, options)
    if leaderboard is not None:
        publish_timed(options.out, chosen.name, Path(leaderboard))
    return with_leaderboard(results)


def check_executor(executor: str, plugins: Registry | None) -> None:
    """A known executor, and ``plugins=`` only with the local one (Ray workers load the installed plugins)."""
    if executor not in EXECUTORS:
        raise BenchsuiteError(f"--executor {executor!r} is not known; use local or ray")
    if plugins is not None and executor != "local":
        raise BenchsuiteError("plugins= works with executor='local' only (Ray workers load the installed plugins); "
                              "leave plugins out or use the local executor")


def run_options(out: Path, cache: Path | str | None, *, vision: str | Sequence[str] | None,
                text: str | Sequence[str] | None, metrics: str | Sequence[str] | None,
                overrides: Mapping[str, Mapping[str, Any]] | None, memory_budget: int | str | None,
                device: str, **settings: Any) -> RunOptions:
    """``evaluate``'s arguments as checked ``RunOptions``, the folders they name usable (else a BenchsuiteError)."""
    from benchsuite.extraction.cache import ArrayCache
    from benchsuite.run.options import RunOptions

    options = RunOptions(out=out, cache=ArrayCache(cache), vision=name_list(vision, "--vision"),
                         text=name_list(text, "--text"), metrics=name_list(metrics, "--metrics"),
                         overrides=checked_overrides(overrides), memory_budget=memory_bytes(memory_budget),
                         device=device, **settings)
    usable_folder(out, "--out")
    usable_folder(options.cache.root, "--cache")
    if options.device == "cuda":
        options.device = cuda_or_cpu()
    return options


def publish_timed(out: Path, suite: str, leaderboard: Path) -> None:
    """Publish the leaderboard of ``<out>/results.json`` into ``leaderboard``, timed with the run's phases."""
    from benchsuite.results.leaderboard import publish
    from benchsuite.results.timings import TIMINGS, timings_path

    with TIMINGS("leaderboard"):
        publish(out / "results.json", leaderboard)
    TIMINGS.write(timings_path(out, suite))


def load_results(path: Path | str) -> Results:
    """The ``Results`` in a results.json of any schema version this benchsuite reads, or in the folder holding one.

    A missing file or an unreadable one raises a one-line ``BenchsuiteError`` naming the path.
    """
    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise BenchsuiteError(f"{file} not found; pass a results.json file or the folder holding one (the --out "
                              "folder of a run, or leaderboard/)")
    try:
        return with_leaderboard(records.read_results(file))
    except ValueError as error:
        raise BenchsuiteError(str(error)) from None
