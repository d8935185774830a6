"""The published leaderboard: markdown tables and per-layer plots, from results alone."""

from __future__ import annotations

import hashlib
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from benchsuite.cache import atomic_write_text
from benchsuite.errors import BenchsuiteError
from benchsuite.records import Problem, Record, Results, one_line, read_results

MAIN_METRIC = "two_vs_two"
ONE_VS_TWO = "one_vs_two"
SIGNIFICANCE = 0.05
MAX_FILE_PART = 80


def fmt_value(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "—"
    return f"{p:.3f}" if p >= 0.001 else "<0.001"


def spread(record: Record) -> float:
    values = [v for v in record.groups if v is not None]
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def fmt_score(record: Record) -> str:
    text = fmt_value(record.value)
    if len([v for v in record.groups if v is not None]) > 1:
        text += f" ± {spread(record):.3f}"
    return text


def best_layers(records: Iterable[Record], metric: str) -> dict[tuple[str, str], Record]:
    """For each (vision, text), the record of the layer with the best value of ``metric``."""
    best: dict[tuple[str, str], Record] = {}
    for record in records:
        if record.metric != metric or record.status != "ok" or record.value is None:
            continue
        key = (record.vision, record.text)
        sign = 1 if record.higher_is_better else -1
        if key not in best or sign * record.value > sign * best[key].value:
            best[key] = record
    return best


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(one_line(cell).replace("|", "/") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def main_table(records: list[Record], problems: Iterable[Problem] = ()) -> str:
    """Vision models ranked by their best layer's 2 vs 2 accuracy, one column per text model."""
    best = best_layers(records, MAIN_METRIC)
    texts = sorted({text for _, text in best})
    visions = sorted({vision for vision, _ in best},
                     key=lambda v: -np.mean([best[(v, t)].value for t in texts if (v, t) in best]))
    header = ["rank", "vision model"] + [f"{t}: 2 vs 2 (best layer, p)" for t in texts] + ["concepts"]
    rows = []
    for rank, vision in enumerate(visions, 1):
        cells = []
        for text in texts:
            record = best.get((vision, text))
            cells.append("—" if record is None else
                         f"**{fmt_score(record)}** ({record.layer}, {record.depth + 1}/{record.n_layers}; "
                         f"p {fmt_p(record.p_value)})")
        concepts = {best[(vision, t)].n_concepts for t in texts if (vision, t) in best}
        rows.append([str(rank), vision, *cells, ", ".join(map(str, sorted(concepts)))])
    for problem in problems:
        plugin = f", plugin {problem.plugin}" if problem.plugin else ""
        rows.append(["—", f"{problem.name} ({problem.kind}{plugin})", *[""] * len(texts),
                     f"{problem.status}: {problem.error}"])
    return markdown_table(header, rows) + "\n\nChance is 0.5; p is a permutation test of the mean over groups."


def model_table(records: list[Record]) -> str:
    """Every layer of one model against every (text model, metric)."""
    columns = sorted({(r.text, r.metric) for r in records}, key=lambda c: (c[1] != MAIN_METRIC, c[1], c[0]))
    layers = sorted({(r.depth, r.layer) for r in records})
    cell = {(r.layer, r.text, r.metric): r for r in records}
    header = ["depth", "layer"] + [f"{metric} / {text}" for text, metric in columns]
    rows = []
    for depth, layer in layers:
        row = [str(depth), layer]
        for text, metric in columns:
            record = cell.get((layer, text, metric))
            if record is None:
                row.append("")
                continue
            if record.status != "ok":
                row.append(record.status)
                continue
            star = "*" if record.p_value is not None and record.p_value < SIGNIFICANCE else ""
            row.append(fmt_value(record.value) + star)
        rows.append(row)
    return markdown_table(header, rows)


def plot_curves(records: list[Record], metric: str, title: str, path: Path) -> None:
    """One line per text model of ``metric`` against layer depth (the paper's Figures 1-4)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_text: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        if record.metric == metric and record.value is not None:
            by_text[record.text].append(record)
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    labels: dict[int, str] = {}
    for text, rows in sorted(by_text.items()):
        rows.sort(key=lambda r: r.depth)
        ax.plot([r.depth for r in rows], [r.value for r in rows], marker="o", markersize=3, label=text)
        significant = [r for r in rows if r.p_value is not None and r.p_value < SIGNIFICANCE]
        ax.scatter([r.depth for r in significant], [r.value for r in significant], s=18, facecolors="none",
                   edgecolors="black", linewidths=0.6)
        labels.update({r.depth: r.layer for r in rows})
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=0.8, label="chance")
    step = max(1, len(labels) // 12)
    ticks = sorted(labels)[::step]
    ax.set_xticks(ticks, [labels[t] for t in ticks], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def file_part(name: str) -> str:
    """``name`` as one file-name component (a-z, 0-9, ``_``, ``-``); an empty or over-long one ends in a digest of
    the whole name, so a name from results.json (``../x``, ``/abs``, NUL, 10 kB) never becomes a path."""
    part = re.sub(r"[^a-z0-9_]+", "-", name.lower()).strip("-")
    if part and len(part) <= MAX_FILE_PART:
        return part
    return "-".join(filter(None, [part[: MAX_FILE_PART - 13], hashlib.sha256(name.encode()).hexdigest()[:12]]))


def plot_file(out: Path, names: Iterable[str], suffix: str = "") -> Path:
    """``plots/<part>/.../<last part><suffix>.png`` (relative to ``out``) from data names, confined to ``out``."""
    parts = [file_part(name) for name in names]
    relative = Path("plots", *parts[:-1], f"{parts[-1]}{suffix}.png")
    if not (out / relative).resolve().is_relative_to(out.resolve()):
        raise BenchsuiteError(f"plot {relative} would be written outside {out} (a link inside it points elsewhere); "
                              "remove the link or choose another --out")
    return relative


def design_section(suite: str, design: str, records: list[Record], problems: list[Problem], out: Path,
                   setting: str = "") -> list[str]:
    ok = [r for r in records if r.status == "ok"]
    heading = f"## Suite `{suite}`, design: {design}" + (f" ({setting})" if setting else "")
    lines = [heading, "", main_table(records, problems), ""]
    if not ok:
        lines += ["No result was scored in this design: every model failed or was skipped (reasons above).", ""]
    for vision in sorted({r.vision for r in ok}):
        mine = [r for r in ok if r.vision == vision]
        names = [suite, design, *([setting] if setting else []), vision]
        lines += [f"### {vision}", ""]
        curve = plot_file(out, names)
        plot_curves(mine, MAIN_METRIC, f"{vision}: 2 vs 2 by layer ({design})", out / curve)
        lines += [f"![2 vs 2 by layer for {vision}]({curve.as_posix()})", ""]
        if any(r.metric == ONE_VS_TWO for r in mine):
            curve = plot_file(out, names, "-1v2")
            plot_curves(mine, ONE_VS_TWO, f"{vision}: 1 vs 2 by layer ({design})", out / curve)
            n_images = max(r.n_images or 0 for r in mine if r.metric == ONE_VS_TWO)
            lines += [f"![1 vs 2 by layer for {vision}]({curve.as_posix()})", "",
                      f"1 vs 2: up to {n_images} misclassified images per text model.", ""]
        lines += ["<details><summary>every layer and metric (* p < 0.05)</summary>", "",
                  model_table(mine), "", "</details>", ""]
    return lines


def setting_of(record: Record) -> str:
    return f"seed {record.provenance.seed}, {record.provenance.permutations} permutations"


def render(results: Results, out: Path) -> str:
    """The page: one section per (suite, design), and per setting where a suite mixes seeds or permutations."""
    sections: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for record in results.records:
        setting = setting_of(record) if record.suite in results.mixed_settings else ""
        sections[(record.suite, record.design, setting)].append(record)
    for problem in results.problems:
        if not any(suite == problem.suite for suite, _, _ in sections):
            sections[(problem.suite, problem.design or "every design", "")] = []
    lines = [
        "# benchsuite leaderboard",
        "",
        "How well does each layer of a vision network predict the semantic similarity of concepts as seen "
        "by a text model? 2 vs 2 accuracy of similarity encoding (Dharmaretnam & Fyshe, NAACL 2018), best "
        "layer per model; per-layer curves, RSA, debiased CKA, mutual k-NN and the 1 vs 2 test below.",
        "",
    ]
    if results.mixed_settings:
        lines += ["Some suites mix records computed under different seeds or permutation counts; each setting "
                  "is ranked in its own section, never against another.", ""]
    if not any(r.status == "ok" for r in results.records):
        lines += ["**Nothing was scored**: every model failed or was skipped; the reasons are listed below.", ""]
    for (suite, design, setting), mine in sorted(sections.items()):
        mine_problems = [p for p in results.problems if p.suite == suite and p.design in (None, design)]
        lines += design_section(suite, design, mine, mine_problems, out, setting)
    return "\n".join(lines) + "\n"


def publish(results: Path, out: Path) -> Path:
    """Write ``out/README.md``, its plots, and a copy of the results data it was built from.

    ``results`` is a results.json file; the concept inventories beside it
    (``concepts-<suite>.json``) are copied too, so the published folder is self-contained.
    """
    data = read_results(results)
    out.mkdir(parents=True, exist_ok=True)
    for source in [results, *sorted(results.parent.glob("concepts-*.json"))]:
        if source.resolve() != (out / source.name).resolve():
            atomic_write_text(out / source.name, source.read_text())
    page = out / "README.md"
    atomic_write_text(page, render(data, out))
    return page


README_BLOCK = re.compile(r"<!-- leaderboard:start -->.*<!-- leaderboard:end -->", re.S)


def update_readme(readme: Path, results: Path, leaderboard_link: str = "leaderboard/README.md") -> None:
    """Replace the block between ``<!-- leaderboard:start/end -->`` with the first design's main table."""
    data = read_results(results)
    if not data.records:
        return
    suite, design = data.records[0].suite, data.records[0].design
    mine = [r for r in data.records if r.suite == suite and r.design == design]
    problems = [p for p in data.problems if p.suite == suite and p.design in (None, design)]
    n_concepts = max(r.n_concepts for r in mine)
    block = (
        "<!-- leaderboard:start -->\n"
        f"Top of the published [leaderboard]({leaderboard_link}): suite `{suite}`, design \"{design}\" "
        f"({n_concepts} concepts; 2 vs 2 accuracy of each model's best layer, chance 0.5; untrained networks "
        f"and raw pixels are the controls):\n\n{main_table(mine, problems)}\n<!-- leaderboard:end -->"
    )
    text = readme.read_text()
    if not README_BLOCK.search(text):
        raise ValueError(f"{readme} has no <!-- leaderboard:start --> ... <!-- leaderboard:end --> block")
    atomic_write_text(readme, README_BLOCK.sub(lambda _: block, text))
