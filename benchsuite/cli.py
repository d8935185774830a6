"""The ``benchsuite`` command line."""

from __future__ import annotations

import logging
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from benchsuite.errors import BenchsuiteError

# Idle OpenMP threads must sleep, not spin: spinning doubled extraction's CPU cost on 2 cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

app = typer.Typer(
    help="Where does word meaning emerge inside vision networks? Similarity-encoding benchmarks "
    "after Dharmaretnam & Fyshe (NAACL 2018).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


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


def fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(2)


RegistryOption = Annotated[
    Path | None, typer.Option(help="Suites file (default: ./registry.toml, else the bundled one).")
]


@app.command("list")
def list_items(
    kind: Annotated[Kind | None, typer.Argument(help="Which kind to list; all kinds when omitted.")] = None,
    registry: RegistryOption = None,
) -> None:
    """List registered plugin items (imports no model code) or the declared suites."""
    from benchsuite.plugins import KINDS, Registry
    from benchsuite.suites import load_suites

    kinds = [kind.value] if kind else [*KINDS, "suites"]
    items = Registry() if any(k != "suites" for k in kinds) else None
    for name in kinds:
        table = Table(title=name, title_justify="left")
        if name == "suites":
            table.add_column("suite")
            table.add_column("vision")
            table.add_column("text")
            table.add_column("images")
            table.add_column("designs")
            for suite in load_suites(registry).values():
                table.add_row(suite.name, ", ".join(suite.vision), ", ".join(suite.text), suite.images,
                              "; ".join(f"{d.name} ({d.groups} groups)" for d in suite.designs))
        else:
            catalogue = items[name]
            table.add_column("name")
            table.add_column("plugin")
            table.add_column("description")
            for item in catalogue.names():
                table.add_row(item, catalogue.owners[item], catalogue[item].description)
        Console().print(table)


@app.command()
def plugins() -> None:
    """Show the loaded plugins and the hooks each implements."""
    from benchsuite.plugins import ALLOWLIST_ENV, Registry

    table = Table(title=f"plugins (limit with {ALLOWLIST_ENV}=a,b)", title_justify="left")
    table.add_column("plugin")
    table.add_column("hooks")
    for name, hooks in Registry().plugin_hooks().items():
        table.add_row(name, ", ".join(hooks))
    Console().print(table)


@app.command()
def run(
    all_: Annotated[bool, typer.Option("--all", help="Run every model of the suite (the default selection).")] = False,
    suite: Annotated[str, typer.Option(help="Suite name from registry.toml.")] = "offline",
    vision: Annotated[str | None, typer.Option(help="Comma-separated vision models (default: the suite's).")] = None,
    text: Annotated[str | None, typer.Option(help="Comma-separated text embeddings (default: the suite's).")] = None,
    permutations: Annotated[int | None, typer.Option(help="Permutations per test (default: the suite's).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for groups and permutations (default: the suite's).")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    out: Annotated[Path, typer.Option(help="Folder for results.json and records.")] = Path("results"),
    leaderboard_dir: Annotated[Path, typer.Option("--leaderboard", help="Where to publish the leaderboard.")] = Path(
        "leaderboard"
    ),
    cache_dir: Annotated[
        Path | None, typer.Option("--cache", help="Cache folder (default ~/.cache/benchsuite).")
    ] = None,
    memory_budget: Annotated[str | None, typer.Option(help="Extraction memory budget, e.g. 2GiB.")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 8,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="ITEM.OPTION=VALUE, e.g. vgg16.weights=/x.h5")
    ] = None,
    weights: Annotated[
        str | None, typer.Option(help="Weights file for the one selected vision model (same as --set NAME.weights=).")
    ] = None,
    executor: Annotated[str, typer.Option(help="local, or ray (needs the ray extra).")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (with --executor ray).")] = None,
    registry: RegistryOption = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Run a suite and publish its leaderboard; a killed run resumes where it stopped."""
    from benchsuite.cache import ArrayCache
    from benchsuite.extraction import parse_size
    from benchsuite.leaderboard import publish
    from benchsuite.plugins import Registry
    from benchsuite.runner import RunOptions, run_suite
    from benchsuite.suites import load_suites, parse_overrides

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        suites = load_suites(registry)
        if suite not in suites:
            fail(f"no suite {suite!r} in the registry; declared: {', '.join(suites)}")
        overrides = parse_overrides(set_ or [])
        vision_names = split_names(vision)
        if weights is not None:
            if not vision_names or len(vision_names) != 1:
                fail("--weights needs exactly one --vision model; use --set NAME.weights=PATH for several")
            overrides.setdefault(vision_names[0], {})["weights"] = weights
        if device == "cuda":
            device = cuda_or_cpu()
        options = RunOptions(
            out=out,
            cache=ArrayCache(cache_dir),
            vision=vision_names,
            text=split_names(text),
            permutations=permutations,
            seed=seed,
            device=device,
            memory_budget=parse_size(memory_budget) if memory_budget else None,
            batch_size=batch_size,
            overrides=overrides,
            progress=not quiet,
        )
        if executor == "ray":
            from benchsuite.distributed import run_suite_on_ray

            records = run_suite_on_ray(suites[suite], options, address=address)
        elif executor == "local":
            records = run_suite(Registry(), suites[suite], options)
        else:
            fail(f"unknown executor {executor!r}; use local or ray")
        page = publish(out / "results.json", leaderboard_dir)
    except BenchsuiteError as error:
        fail(str(error))
    ok = sum(r.status == "ok" for r in records)
    console.print(f"{ok} results in {out / 'results.json'}; leaderboard at {page}")
    for record in records:
        if record.status != "ok":
            console.print(f"[yellow]{record.status}[/] {record.vision} {record.text or ''}: {record.error}")


def cuda_or_cpu() -> str:
    """``cuda`` when torch sees a GPU, else ``cpu`` with a message saying so."""
    try:
        import torch

        if torch.cuda.is_available():
            return "cuda"
    except ImportError:
        pass
    console.print("[yellow]--device cuda: no CUDA device is visible to torch; running on the CPU[/]")
    return "cpu"


@app.command()
def leaderboard(
    results: Annotated[Path, typer.Option(help="results.json, or the folder holding it.")] = Path("results"),
    out: Annotated[Path, typer.Option(help="Folder for README.md and plots.")] = Path("leaderboard"),
    readme: Annotated[
        Path | None, typer.Option(help="Also refresh the top table between leaderboard markers in this file.")
    ] = None,
) -> None:
    """Rebuild the markdown leaderboard and plots from results alone."""
    from benchsuite.leaderboard import publish, update_readme

    path = results / "results.json" if results.is_dir() else results
    if not path.exists():
        fail(f"{path} not found; run `benchsuite run --all` first or pass --results")
    console.print(f"leaderboard written to {publish(path, out)}")
    if readme is not None:
        try:
            update_readme(readme, path)
        except ValueError as error:
            fail(str(error))
        console.print(f"top table refreshed in {readme}")


@app.command()
def fetch(
    suite: Annotated[str, typer.Option(help="Suite whose image source to prepare.")] = "offline",
    registry: RegistryOption = None,
) -> None:
    """Download and verify what a suite's image source needs (the only command that uses the network)."""
    from benchsuite.plugins import Registry
    from benchsuite.suites import load_suites

    try:
        chosen = load_suites(registry)[suite]
        source = Registry().images[chosen.images].load(**chosen.options_for(chosen.images))
        images = source.images()
    except (BenchsuiteError, KeyError) as error:
        fail(str(error))
    console.print(f"{chosen.images}: {len(images)} images ready")


if __name__ == "__main__":
    app()
