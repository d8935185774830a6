"""The ``benchsuite`` command line."""

from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchsuite.api import usable_folder
from benchsuite.contract.errors import BenchsuiteError

if TYPE_CHECKING:
    from benchsuite.contract.manager import Registry
    from benchsuite.results.records import Results

# Idle OpenMP threads must sleep, not spin: spinning doubled extraction's CPU cost on 2 cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

app = typer.Typer(
    help="Where does word meaning emerge inside vision networks? Similarity-encoding benchmarks "
    "after Dharmaretnam & Fyshe (NAACL 2018).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, emoji=False)  # model names like `hf:x:y:` must never become emoji
MAX_LISTED = 20


class Kind(StrEnum):
    vision = "vision"
    text = "text"
    images = "images"
    concepts = "concepts"
    metrics = "metrics"
    suites = "suites"


def split_names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]


def fail(message: str) -> NoReturn:
    """Print a one-line error (never read as console markup) and exit with status 2."""
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(2)


RegistryOption = Annotated[
    Path | None, typer.Option(help="Suites file (default: ./registry.toml, else the bundled one).")
]


@app.command("list")
def list_items(
    kind: Annotated[Kind | None, typer.Argument(help="Which kind to list; all kinds when omitted.")] = None,
    registry: RegistryOption = None,
    source: Annotated[str | None, typer.Option(
        help="With vision or text: the names this model source offers, e.g. --source timm.")] = None,
) -> None:
    """List registered plugin items (imports no model code) or the declared suites; broken items say why.

    Model sources show as ``PREFIX:NAME`` rows; ``--source PREFIX`` lists what one offers (importing its library).
    """
    from benchsuite.contract.manager import KINDS, PLUGIN_KIND, Registry

    if source is not None:
        list_source(kind, source)
        return
    kinds = [kind.value] if kind else [*KINDS, "suites"]
    items = Registry() if any(k != "suites" for k in kinds) else None
    for name in kinds:
        if name == "suites":
            table = suites_table(registry)
        else:
            assert items is not None  # built whenever a kind other than suites is listed
            table = items_table(items, name)
        Console().print(table)
    if items is not None:
        broken = [p for p in items.problems if p.kind == PLUGIN_KIND]
        if broken:
            Console().print(problems_table(broken))


def suites_table(registry: Path | None) -> Table:
    """One row per declared suite: its models, image source and designs (a suites file that fails to load exits)."""
    from rich.text import Text

    from benchsuite.inputs.suites import load_suites

    table = Table(title="suites", title_justify="left")
    try:
        suites = load_suites(registry)
    except BenchsuiteError as error:
        fail(str(error))
    for column in ("suite", "vision", "text", "images", "designs"):
        table.add_column(column)
    for suite in suites.values():
        table.add_row(*map(Text, (suite.name, ", ".join(suite.vision), ", ".join(suite.text), suite.images,
                                  "; ".join(f"{d.name} ({d.groups} groups)" for d in suite.designs))))
    return table


def items_table(items: Registry, name: str) -> Table:
    """One row per registered item of kind ``name``, per model source it offers, and per item that is broken."""
    from rich.text import Text

    table = Table(title=name, title_justify="left")
    catalogue = items[name]
    for column in ("name", "plugin", "description"):
        table.add_column(column)
    for item in catalogue.names():
        table.add_row(*map(Text, (item, catalogue.owners[item], catalogue[item].description)))
    for prefix, (meta, plugin) in sorted(catalogue.sources.items()):
        extra = f"; pip install 'benchsuite[{meta.requires}]'" if meta.requires else ""
        table.add_row(*map(Text, (f"{prefix}:NAME", plugin, f"{meta.description} (any NAME: `benchsuite list "
                                  f"{name} --source {prefix}`{extra})")))
    for problem in items.problems:
        if problem.kind == name:
            table.add_row(*map(Text, (problem.item or "?", problem.plugin, f"BROKEN: {problem.error}")))
    return table


def list_source(kind: Kind | None, prefix: str) -> None:
    """Print every name model source ``prefix`` of ``kind`` (vision or text) offers, one ``PREFIX:NAME`` a line."""
    from benchsuite.contract.manager import Registry

    if kind not in (Kind.vision, Kind.text):
        fail(f"--source {prefix} needs the kind first: `benchsuite list vision --source {prefix}` (or text)")
    try:
        names = Registry().source(kind.value, prefix).names()
    except BenchsuiteError as error:
        fail(str(error))
    out = Console(highlight=False, soft_wrap=True, emoji=False)
    for name in names:
        out.print(f"{prefix}:{name}", markup=False)
    console.print(f"{len(names)} {kind.value} models from source {prefix!r}", markup=False)


def problems_table(problems: list) -> Table:
    """One row per plugin problem: who (plugin, distribution), what (kind, item) and the one-line error."""
    from rich.text import Text

    table = Table(title="problems (these items are not loaded; the rest are)", title_justify="left")
    for column in ("plugin", "distribution", "kind", "item", "error"):
        table.add_column(column, overflow="fold")
    for problem in problems:
        distribution = f"{problem.distribution} {problem.version}" if problem.distribution else "—"
        table.add_row(*map(Text, (problem.plugin, distribution, problem.kind, problem.item or "—", problem.error)))
    return table


@app.command()
def plugins() -> None:
    """Show the loaded plugins, their distributions and hooks, and every plugin that failed to load."""
    from rich.text import Text

    from benchsuite.contract.manager import ALLOWLIST_ENV, Registry

    loaded = Registry()
    table = Table(title=f"plugins (limit with {ALLOWLIST_ENV}=a,b)", title_justify="left")
    for column in ("plugin", "distribution", "hooks"):
        table.add_column(column)
    for name, hooks in loaded.plugin_hooks().items():
        distribution, version = loaded.distribution(name)
        table.add_row(*map(Text, (name, f"{distribution} {version}" if distribution else "—", ", ".join(hooks))))
    Console().print(table)
    if loaded.problems:
        Console().print(problems_table(loaded.problems))


AllOption = Annotated[bool, typer.Option("--all", help="Run every model of the suite (the default selection).")]
SuiteOption = Annotated[str, typer.Option(help="Suite name from registry.toml.")]
VisionOption = Annotated[str | None, typer.Option(help="Comma-separated vision models (default: the suite's).")]
TextOption = Annotated[str | None, typer.Option(help="Comma-separated text embeddings (default: the suite's).")]
PermutationsOption = Annotated[int | None, typer.Option(help="Permutations per test (default: the suite's).")]
SeedOption = Annotated[int | None, typer.Option(help="Seed for groups and permutations (default: the suite's).")]
DeviceOption = Annotated[str, typer.Option(help="cpu or cuda.")]
OutOption = Annotated[Path, typer.Option(help="Folder for results.json and records.")]
LeaderboardOption = Annotated[Path | None, typer.Option("--leaderboard", help=(
    "Where to publish the leaderboard (default: leaderboard/ for the whole suite; OUT/leaderboard for a run "
    "naming --vision, --text or --metrics, which never drops rows of a leaderboard already there)."))]
CacheOption = Annotated[Path | None, typer.Option("--cache", help="Cache folder (default ~/.cache/benchsuite).")]
MemoryBudgetOption = Annotated[str | None, typer.Option(help="Extraction memory budget, e.g. 2GiB.")]
BatchSizeOption = Annotated[int, typer.Option(help="Images per forward pass.")]
SetOption = Annotated[list[str] | None, typer.Option("--set", help="ITEM.OPTION=VALUE, e.g. vgg16.weights=/x.h5")]
WeightsOption = Annotated[
    str | None, typer.Option(help="Weights file for the one selected vision model (same as --set NAME.weights=).")
]
MetricsOption = Annotated[
    str | None, typer.Option(help="Comma-separated metrics (default: the suite's), e.g. a plugin's metric.")
]
ExecutorOption = Annotated[str, typer.Option(help="local, or ray (needs the ray extra).")]
AddressOption = Annotated[str | None, typer.Option(help="Ray cluster address (with --executor ray).")]
QuietOption = Annotated[bool, typer.Option(help="No progress bars.")]
"""``run``'s options (declared here so that its signature stays one line per option)."""


@app.command()
def run(
    all_: AllOption = False,
    suite: SuiteOption = "offline",
    vision: VisionOption = None,
    text: TextOption = None,
    permutations: PermutationsOption = None,
    seed: SeedOption = None,
    device: DeviceOption = "cpu",
    out: OutOption = Path("results"),
    leaderboard_dir: LeaderboardOption = None,
    cache_dir: CacheOption = None,
    memory_budget: MemoryBudgetOption = None,
    batch_size: BatchSizeOption = 8,
    set_: SetOption = None,
    weights: WeightsOption = None,
    metrics: MetricsOption = None,
    executor: ExecutorOption = "local",
    address: AddressOption = None,
    registry: RegistryOption = None,
    quiet: QuietOption = False,
) -> None:
    """Run a suite and publish its leaderboard; a killed run resumes where it stopped.

    Exit status: 0 when at least one result was scored (failed and skipped items are listed), 1 when
    nothing was scored, 2 when an option or file is refused before any work starts.
    """
    from benchsuite.api import default_leaderboard, evaluate, is_partial

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    leaderboard_dir = leaderboard_dir or default_leaderboard(out, is_partial(vision, text, metrics))
    try:
        results = evaluate(**evaluate_arguments(
            vision=vision, text=text, suite=suite, permutations=permutations, seed=seed, device=device, out=out,
            cache=cache_dir, metrics=metrics, set_=set_, weights=weights, memory_budget=memory_budget,
            batch_size=batch_size, executor=executor, address=address, registry=registry,
            leaderboard=leaderboard_dir, quiet=quiet,
        ))
    except BenchsuiteError as error:
        fail(str(error))
    page = leaderboard_dir / "README.md"
    print_summary(results, out / "results.json", page)
    if not any(r.status == "ok" for r in results.records):
        raise typer.Exit(1)


def evaluate_arguments(*, vision: str | None, text: str | None, metrics: str | None, set_: list[str] | None,
                       weights: str | None, device: str, quiet: bool, **passed: Any) -> dict[str, Any]:
    """``evaluate``'s keyword arguments from ``run``'s options: names split at commas, ``--set`` parsed into
    overrides that ``--weights`` joins (for the one selected vision model), ``cuda`` checked, ``--quiet``
    turned off progress; the rest (``passed``) as they are."""
    from benchsuite.inputs.suites import parse_overrides

    overrides = parse_overrides(set_ or [])
    vision_names = split_names(vision)
    if weights is not None:
        if not vision_names or len(vision_names) != 1:
            fail("--weights needs exactly one --vision model; use --set NAME.weights=PATH for several")
        overrides.setdefault(vision_names[0], {})["weights"] = weights
    return dict(vision=vision_names, text=split_names(text), **passed,
                device=cuda_or_cpu() if device == "cuda" else device, metrics=split_names(metrics),
                overrides=overrides, progress=not quiet)


def print_summary(results: Results, path: Path, page: Path) -> None:
    """Counts of ok, failed and skipped, then one line per problem and per failed record (plain text, no markup)."""
    counts = Counter(r.status for r in results.records) + Counter(p.status for p in results.problems)
    console.print(f"{counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped: results in {path}; "
                  f"leaderboard at {page}", markup=False)
    for problem in results.problems:
        plugin = f" (plugin {problem.plugin})" if problem.plugin else ""
        design = f" on {problem.design}" if problem.design else ""
        console.print(f"{problem.status} {problem.kind} {problem.name}{plugin}{design}: {problem.error}", markup=False)
    failed = [r for r in results.records if r.status == "failed"]
    for record in failed[:MAX_LISTED]:
        console.print(f"failed {record.error}", markup=False)
    if len(failed) > MAX_LISTED:
        console.print(f"... and {len(failed) - MAX_LISTED} more failed records (see {path})", markup=False)
    if not counts["ok"]:
        console.print("nothing was scored: every item above failed or was skipped", markup=False)


def cuda_or_cpu() -> str:
    """``cuda`` when torch sees a GPU, else ``cpu`` with a message saying so."""
    from benchsuite.api import resolved_device

    return resolved_device("cuda", say=lambda message: console.print(f"[yellow]{escape(message)}[/]"))


ContributionsOption = Annotated[list[Path] | None, typer.Option("--contributions", help=(
    "Also verify and merge the contributions in this folder (<suite>/<model>/ folders; repeatable); those in "
    "OUT/contributions always are."))]


@app.command()
def leaderboard(
    results: Annotated[Path, typer.Option(help="results.json, or the folder holding it.")] = Path("results"),
    out: Annotated[Path, typer.Option(help="Folder for README.md and plots.")] = Path("leaderboard"),
    readme: Annotated[
        Path | None, typer.Option(help="Also refresh the top table between leaderboard markers in this file.")
    ] = None,
    contributions: ContributionsOption = None,
    cache_dir: CacheOption = None,
    registry: RegistryOption = None,
) -> None:
    """Rebuild the markdown leaderboard and plots from results, with every contribution that verifies here."""
    from benchsuite.contributions.merge import merging
    from benchsuite.extraction.cache import ArrayCache
    from benchsuite.results.leaderboard import publish, update_readme

    path = results / "results.json" if results.is_dir() else results
    if not path.exists():
        fail(f"{path} not found; run `benchsuite run --all` first or pass --results")
    merge = merging([out / "contributions", *(contributions or [])], registry=registry, cache=ArrayCache(cache_dir),
                    say=lambda line: console.print(line, markup=False, soft_wrap=True))
    try:
        usable_folder(out, "--out")
        console.print(f"leaderboard written to {publish(path, out, contributions=merge)}", markup=False)
        if readme is not None:
            update_readme(readme, path, contributions=merge)
            console.print(f"top table refreshed in {readme}", markup=False)
    except (BenchsuiteError, ValueError) as error:
        fail(str(error))


@app.command()
def contribute(
    vision: Annotated[str, typer.Option(help="The vision model whose finished run to pack.")],
    results: Annotated[Path, typer.Option(help="The run's --out folder (its records/).")] = Path("results"),
    suite: SuiteOption = "offline",
    out: Annotated[Path | None, typer.Option(
        help="Contribution folder (default: leaderboard/contributions/<suite>/<model>).")] = None,
    by: Annotated[str | None, typer.Option(
        help="Who contributes it, shown on its row (default: your user name).")] = None,
    cache_dir: CacheOption = None,
    registry: RegistryOption = None,
) -> None:
    """Pack one vision model's finished run (records and layer matrices) as a contribution to the leaderboard,
    verified as the leaderboard will verify it (docs/contributing.md)."""
    import getpass

    from benchsuite.api import chosen_suite
    from benchsuite.contract.manager import Registry
    from benchsuite.contributions.pack import contribute as pack
    from benchsuite.extraction.cache import ArrayCache

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        packed = pack(Registry(), chosen_suite(suite, registry), results, vision, cache=ArrayCache(cache_dir),
                      by=by or getpass.getuser(), out=out)
    except BenchsuiteError as error:
        fail(str(error))
    console.print(f"contribution written to {packed.folder} ({packed.size / 1e6:.1f} MB); its records agree with "
                  f"their recomputation from its matrices (largest difference {packed.largest_difference:.2g}); "
                  "add that folder in a pull request", markup=False, soft_wrap=True)


@app.command()
def verify(
    contribution: Annotated[Path, typer.Argument(help="A contribution folder (<suite>/<model>/).")],
    images: Annotated[int, typer.Option(
        help="Also run this many photos (a seeded choice) through the model, where it loads here.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the photos' choice.")] = 0,
    cache_dir: CacheOption = None,
    registry: RegistryOption = None,
) -> None:
    """Verify a contribution as the leaderboard does (comparable inputs, every number recomputed from its
    matrices), and with --images N re-extract N of its photos where its model loads here."""
    from benchsuite.api import chosen_suite
    from benchsuite.contract.manager import Registry
    from benchsuite.contributions.bundle import read_bundle
    from benchsuite.contributions.verify import LocalSuite, reextract, verified_records
    from benchsuite.extraction.cache import ArrayCache

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        bundle = read_bundle(contribution)
        local = LocalSuite.of(Registry(), chosen_suite(bundle.manifest.suite, registry), ArrayCache(cache_dir))
        records, largest = verified_records(bundle, local)
        console.print(f"verified: {len(records)} records recomputed here from the matrices agree with the "
                      f"contribution's (largest difference {largest:.2g})", markup=False, soft_wrap=True)
        found = reextract(bundle, local, images, seed) if images > 0 else None
    except BenchsuiteError as error:
        fail(str(error))
    if isinstance(found, str):
        console.print(found, markup=False, soft_wrap=True)
    elif found is not None:
        console.print(f"re-extracted {found.photos} photos of design {found.design!r}: largest difference from the "
                      f"contributed matrices {found.largest_difference:.2g} (layer {found.layer})", markup=False,
                      soft_wrap=True)


@app.command()
def fetch(
    suite: Annotated[str | None, typer.Option(
        help="Suite whose image source to prepare (default: offline, unless --vision/--text is given).")] = None,
    vision: Annotated[str | None, typer.Option(
        help="Comma-separated PREFIX:NAME vision models whose weights to download into their library's cache.")] = None,
    text: Annotated[str | None, typer.Option(
        help="Comma-separated PREFIX:NAME text models whose files to download into their library's cache.")] = None,
    registry: RegistryOption = None,
) -> None:
    """Download and verify what a suite's image source or named models need (the only command that uses the
    network): weights go into each library's own cache, where offline runs then find them."""
    from benchsuite.contract.manager import Registry

    models = [("vision", name) for name in split_names(vision) or []] + [("text", n) for n in split_names(text) or []]
    if models:
        fetch_models(Registry(), models)
    if suite is not None or not models:
        fetch_suite(suite or "offline", registry)


def fetch_models(registry: Registry, models: list[tuple[str, str]]) -> None:
    """Download each ``(kind, PREFIX:NAME)`` through its model source, printing where the files now are."""
    for kind, name in models:
        prefix, colon, rest = name.partition(":")
        if not (colon and rest):
            fail(f"--{kind} {name!r}: fetch takes a model source's PREFIX:NAME, e.g. timm:convnext_tiny.fb_in1k "
                 f"(`benchsuite list {kind}` shows the sources)")
        try:
            where = registry.source(kind, prefix).fetch(rest)
        except Exception as error:  # a failed download is one line naming the model, never a traceback
            fail(f"fetching {kind} {name}: {type(error).__name__}: {' '.join(str(error).split())}")
        console.print(f"{name}: fetched into {where}", markup=False)


def fetch_suite(suite: str, registry: Path | None) -> None:
    """Download and verify what suite ``suite``'s image source needs."""
    from benchsuite.contract.manager import Registry
    from benchsuite.inputs.suites import load_suites

    try:
        chosen = load_suites(registry)[suite]
        source = Registry().images[chosen.images].load(**chosen.options_for(chosen.images))
        images = source.images()
    except (BenchsuiteError, KeyError) as error:
        fail(str(error))
    console.print(f"{chosen.images}: {len(images)} images ready", markup=False)


@app.command()
def check(
    names: Annotated[list[str], typer.Argument(
        help="Registered item names (KIND:NAME where a name is ambiguous), or a source's PREFIX:NAME.")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="ITEM.OPTION=VALUE passed to the item's loader.")
    ] = None,
) -> None:
    """Check items against the plugin contract on a tiny input: one pass/fail/skipped line per check."""
    from benchsuite.contract.manager import Registry
    from benchsuite.inputs.suites import parse_overrides
    from benchsuite.kit.conformance import check_item, split_kind

    try:
        overrides = parse_overrides(set_ or [])
        registry = Registry()
        results = [result for name in names for result in check_item(name, overrides.get(split_kind(name)[1]),
                                                                      registry=registry)]
    except BenchsuiteError as error:
        fail(str(error))
    colours = {"passed": "green", "failed": "bold red", "skipped": "yellow"}
    out = Console(highlight=False, soft_wrap=True)
    for result in results:
        out.print(f"[{colours[result.status]}]{result.status:<7}[/] {result.summary()}")
    failed = sum(r.status == "failed" for r in results)
    console.print(f"{len(results)} checks: {failed} failed, {sum(r.status == 'skipped' for r in results)} skipped")
    if failed:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
