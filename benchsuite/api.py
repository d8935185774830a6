"""The Python API for notebooks and scripts: ``evaluate`` a suite and ``load_results`` from a run.

The ``benchsuite run`` command is a thin layer over :func:`evaluate`: the same options, the same checks
and the same one-line errors (a :class:`~benchsuite.contract.errors.BenchsuiteError` naming the option and the fix).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
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
CUDA_INDEX = re.compile(r"cuda:(\d+)")
RESOURCE_ERRORS = {errno.ENOSPC: "free some space", errno.EDQUOT: "free some space", errno.EROFS: "mount it writable",
                   errno.EACCES: "make it writable", errno.EPERM: "make it writable"}


class Results(records.Results):
    """A run's results, the ``results.json`` document (``records``, ``problems``, ``to_pandas()``), with the
    leaderboard page they make: what ``evaluate`` and ``load_results`` return."""

    def leaderboard(self, out: Path | str | None = None, contributions: Sequence[Path | str] = (),
                    registry: Path | str | None = None, cache: Path | str | None = None) -> str:
        """The leaderboard page (markdown) of these results, as ``benchsuite leaderboard`` builds it.

        Without ``out``: the markdown alone (tables and details, no plots). With ``out``: also written there as
        README.md with its plots and a copy of these results as results.json; a results.json already in ``out``
        that holds other results is never overwritten (a BenchsuiteError says so), nor is a page built from an
        impossible record (``results.records.record_problem``).

        As the command, the page shows every contribution that verifies here, found in ``<out>/contributions``
        and in the ``contributions`` folders, against the suites of ``registry`` (the suites file) with the
        matrices of the ``cache`` folder (the default cache unless given); each refused one is logged in one line.
        """
        from benchsuite.contributions.merge import merging
        from benchsuite.extraction.cache import ArrayCache
        from benchsuite.results.leaderboard import publish, render
        try:
            records.check_records(self.records, "these results")
        except ValueError as error:
            raise BenchsuiteError(str(error)) from None
        results = self.model_copy(update={"mixed_settings": records.mixed_settings(self.records)})
        folders = [*([Path(out) / "contributions"] if out is not None else []), *map(Path, contributions)]
        merge = merging(folders, registry=None if registry is None else Path(registry), cache=ArrayCache(cache))
        if out is None:
            return render(merge(results), None)
        path = Path(out) / "results.json"
        if path.exists() and records.read_results(path).model_dump() != results.model_dump():
            raise BenchsuiteError(f"{path} holds other results; pass an empty folder, or rebuild that folder's page "
                                  f"with `benchsuite leaderboard --results {out} --out {out}`")
        path.parent.mkdir(parents=True, exist_ok=True)
        records.write_results(path, results)
        return publish(path, Path(out), contributions=merge).read_text()


def with_leaderboard(results: records.Results) -> Results:
    """The same results as an API ``Results`` (its records are shared, not copied or validated again)."""
    return Results(**dict(results))


def usable_folder(path: Path, option: str) -> Path:
    """``path`` as a folder this process can write into (created when absent), else a BenchsuiteError."""
    if path.exists() and not path.is_dir():
        raise BenchsuiteError(f"{option} {path} is a file, not a folder; pass a folder path")
    error = write_problem(path)
    if error is not None:
        raise BenchsuiteError(f"{option} {path} is not writable ({error.strerror or error}); pass a folder you "
                              "can write to")
    return path


def write_problem(path: Path) -> OSError | None:
    """Why this process cannot write into folder ``path`` (created when absent); None when it can."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        return error
    return None


def cache_folder(path: Path) -> None:
    """``--cache``: refused like ``usable_folder`` when it is or lies under a file; a folder read-only or
    forbidden to this process is only warned about, as the cache warns about every write it cannot make: the
    run reads the entries there and computes the rest."""
    error = None if path.exists() and not path.is_dir() else write_problem(path)
    if error is not None and error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        log.warning("--cache %s is not writable (%s); reading the entries it holds and storing no new ones "
                    "(pass a writable --cache to keep them)", path, error.strerror or error)
        return
    usable_folder(path, "--cache")


def cuda_devices(*, any_at_all: bool = False) -> int:
    """How many CUDA devices torch sees (0 without torch); with ``any_at_all``, 1 when it sees one, else 0."""
    try:
        import torch
    except ImportError:
        return 0
    if not torch.cuda.is_available():
        return 0
    return 1 if any_at_all else torch.cuda.device_count()


def resolved_device(device: str, say: Callable[[str], object] = log.warning) -> str:
    """The device a run computes on, which its records then name: ``cuda`` falls back to ``cpu`` when torch sees
    no GPU, telling ``say`` (a run never fails for want of a GPU); ``cuda:N`` names one device, so one torch does
    not see is refused (a BenchsuiteError naming the devices there are); ``cpu`` as it is."""
    index = CUDA_INDEX.fullmatch(device)
    if device == "cuda" and not cuda_devices(any_at_all=True):
        say("--device cuda: no CUDA device is visible to torch; running on the CPU")
        return "cpu"
    if index and int(index[1]) >= (count := cuda_devices()):
        seen = f"cuda:0 to cuda:{count - 1}" if count else "none"
        raise BenchsuiteError(f"--device {device}: torch sees {count} CUDA device(s) ({seen}); use one of them, "
                              "cuda (the CPU when there is none) or cpu")
    return device


def path_argument(value: Any, option: str) -> Path:
    """A path argument (``out``, ``cache``, ``registry``, ...) as a Path, else a BenchsuiteError naming it."""
    checked_type(value, option, (str, os.PathLike), "a path (str or pathlib.Path)")
    return Path(value)


def checked_type(value: Any, option: str, types: tuple[type, ...], what: str) -> None:
    """A BenchsuiteError naming ``option`` and ``what`` it takes unless ``value`` is one of ``types`` (a bool is
    no int here, and an empty string no path or name)."""
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types) or value == "":
        raise BenchsuiteError(f"{option} must be {what}, got {type(value).__name__} {value!r}")


@contextmanager
def resource_errors(folders: Mapping[str, Path]) -> Iterator[None]:
    """A full disk, a read-only or forbidden file met during a run, as one BenchsuiteError naming the file, the
    option whose folder holds it and the fix (finished records are kept: a rerun resumes)."""
    try:
        yield
    except OSError as error:
        if error.errno not in RESOURCE_ERRORS:
            raise
        where = Path(str(error.filename or "")).absolute()
        option = next((name for name, folder in folders.items() if where.is_relative_to(folder.absolute())), None)
        place = f"under {option} {folders[option]}" if option else "there"
        verb = "open" if error.errno in (errno.EACCES, errno.EPERM) else "write"
        raise BenchsuiteError(f"cannot {verb} {error.filename or 'a file'}: {error.strerror or error}; "
                              f"{RESOURCE_ERRORS[error.errno]} {place} or pass another "
                              f"{option or '--out'}, then rerun (finished results are kept)") from error


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
    checked_type(budget, "--memory-budget", (str,), "a number of bytes or a size such as '2GiB'")
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
    checked_type(suite, "--suite", (str,), "a suite name or a Suite")
    suites = load_suites(None if registry is None else path_argument(registry, "--registry"))
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
    check_executor(executor, plugins, address)
    checked_type(progress, "progress", (bool,), "True or False")
    options = run_options(path_argument(out, "--out"), cache, vision=vision, text=text, permutations=permutations,
                          seed=seed, device=device, metrics=metrics, overrides=overrides,
                          memory_budget=memory_budget, batch_size=batch_size, progress=progress)
    folders = {"--out": options.out, "--cache": options.cache.root}
    if leaderboard is not None:
        folders["--leaderboard"] = usable_folder(path_argument(leaderboard, "--leaderboard"), "--leaderboard")
        check_publishable(options, folders["--leaderboard"])
    with resource_errors(folders):
        results = run_chosen(chosen, options, executor, address, plugins)
        if leaderboard is not None:
            publish_timed(options, chosen, folders["--leaderboard"], registry, plugins)
    return with_leaderboard(results)


def run_chosen(suite: Suite, options: RunOptions, executor: str, address: str | None,
               plugins: Registry | None) -> records.Results:
    """Run ``suite`` on ``executor`` (Ray: joining the cluster at ``address``, else starting one here)."""
    if executor == "ray":
        from benchsuite.run.ray_executor import run_suite_on_ray

        return run_suite_on_ray(suite, options, address=address)
    from benchsuite.contract.manager import Registry
    from benchsuite.run.suite_run import run_suite

    return run_suite(plugins if plugins is not None else Registry(), suite, options)


def check_executor(executor: str, plugins: Registry | None, address: str | None = None) -> None:
    """A known executor, ``plugins=`` only with the local one (Ray workers load the installed plugins), and
    ``address`` only with Ray (it names a Ray cluster)."""
    if executor not in EXECUTORS:
        raise BenchsuiteError(f"--executor {executor!r} is not known; use local or ray")
    if plugins is not None:
        from benchsuite.contract.manager import Registry

        checked_type(plugins, "plugins", (Registry,), "a benchsuite.contract.manager.Registry")
    if plugins is not None and executor != "local":
        raise BenchsuiteError("plugins= works with executor='local' only (Ray workers load the installed plugins); "
                              "leave plugins out or use the local executor")
    if address is not None and executor != "ray":
        raise BenchsuiteError(f"--address {address!r} names a Ray cluster, so it works with --executor ray only; "
                              "add --executor ray or leave --address out")
    if address is not None:
        checked_type(address, "--address", (str,), "a Ray address such as ray://head:10001")


def run_options(out: Path, cache: Path | str | None, *, vision: str | Sequence[str] | None,
                text: str | Sequence[str] | None, metrics: str | Sequence[str] | None,
                overrides: Mapping[str, Mapping[str, Any]] | None, memory_budget: int | str | None,
                device: str, **settings: Any) -> RunOptions:
    """``evaluate``'s arguments as checked ``RunOptions``, the folders they name usable (else a BenchsuiteError)."""
    from benchsuite.extraction.cache import ArrayCache
    from benchsuite.run.options import RunOptions

    options = RunOptions(out=out, cache=ArrayCache(None if cache is None else path_argument(cache, "--cache")),
                         vision=name_list(vision, "--vision"),
                         text=name_list(text, "--text"), metrics=name_list(metrics, "--metrics"),
                         overrides=checked_overrides(overrides), memory_budget=memory_bytes(memory_budget),
                         device=device, **settings)
    usable_folder(out, "--out")
    cache_folder(options.cache.root)
    options.device = resolved_device(options.device)
    return options


def is_partial(*selections: object) -> bool:
    """Whether a run names its models or metrics (``--vision``, ``--text``, ``--metrics``): part of its suite."""
    return any(selection is not None for selection in selections)


def default_leaderboard(out: Path, partial: bool) -> Path:
    """Where ``benchsuite run`` publishes unless told: ``leaderboard/`` for the whole suite, beside the results
    (``<out>/leaderboard``) for a partial run, which never rewrites the published page."""
    return out / "leaderboard" if partial else Path("leaderboard")


def check_publishable(options: RunOptions, leaderboard: Path) -> None:
    """Before any work: a partial run refuses a leaderboard folder holding rows its ``--out`` lacks."""
    if not is_partial(options.vision, options.text, options.metrics):
        return
    from benchsuite.results.leaderboard import check_keeps_rows

    path = options.out / "results.json"
    try:
        current = records.read_results(path) if path.is_file() else records.Results()
    except ValueError:
        current = records.Results()  # the run moves an unreadable file aside and rebuilds it
    check_keeps_rows(current, leaderboard)


def publish_timed(options: RunOptions, suite: Suite, leaderboard: Path, registry: Path | str | None = None,
                  plugins: Registry | None = None) -> None:
    """Publish the leaderboard of ``<out>/results.json`` into ``leaderboard``, timed with the run's phases, with
    the contributions in ``<leaderboard>/contributions`` that verify against ``suite`` or the suites file
    ``registry``; a partial run's never drops a row of a leaderboard already there (``check_keeps_rows``)."""
    from benchsuite.contributions.merge import merging
    from benchsuite.results.leaderboard import publish
    from benchsuite.results.timings import TIMINGS, timings_path

    merge = merging([leaderboard / "contributions"], registry=None if registry is None else Path(registry),
                    cache=options.cache, plugins=plugins, suite=suite)
    with TIMINGS("leaderboard"):
        publish(options.out / "results.json", leaderboard,
                keep_rows=is_partial(options.vision, options.text, options.metrics), contributions=merge)
    TIMINGS.write(timings_path(options.out, suite.name))


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
