"""The published leaderboard, from results alone: its sections, figure files, bounds, publishing and the README
block; tables laid out in results/tables.py, figures drawn in results/figures.py, ranks from results/ranking.py."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from benchsuite.contract.errors import BenchsuiteError, one_line
from benchsuite.extraction.cache import atomic_write_bytes, atomic_write_text
from benchsuite.results.figures import FIGURES, ForestRow, plot_curves, plot_emergence, plot_forest
from benchsuite.results.ranking import (
    DRAWS,
    Drifts,
    best_layers,
    declared_drift,
    headlines,
    value_of,
)
from benchsuite.results.records import (
    HEADLINE_METRIC,
    HEADLINE_SOURCE,
    ONE_VS_TWO,
    Problem,
    Record,
    Results,
    collection_paused,
    frozen_meanwhile,
    mixed_settings,
    read_results,
    regular_bytes,
)
from benchsuite.results.tables import (
    MAX_PAIRED,
    RANKINGS,
    Ranking,
    as_shown,
    code_span,
    comparison_sections,
    headline_details,
    main_table,
    model_table,
    text_details,
    text_table,
)

MAX_FILE_PART = 80
MAX_MODELS = 1000
"""The most vision models one page ranks (docs/results.md): results with more are refused before any work."""
MAX_FIGURES = 8
"""Per section, the best this many models get their curves drawn (a figure costs a fraction of a second)."""


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


def design_section(suite: str, design: str, records: list[Record], problems: list[Problem], out: Path | None,
                   setting: str = "", drifts: Drifts | None = None) -> list[str]:
    """One (suite, design) section: the main table, comparisons, and per model its curves (drawn into ``out``;
    left out when ``out`` is None) and every layer's scores. ``drifts``: the text models' CPU drift, declared by
    all the results' records (default: by this section's)."""
    ok = [r for r in records if r.status == "ok"]
    drifts = declared_drift(records) if drifts is None else drifts
    summaries = [r for r in records if r.metric == HEADLINE_METRIC]  # all the ranking and comparisons read
    heading = f"## Suite {code_span(suite)}, design: {design}" + (f" ({setting})" if setting else "")
    lines = [heading, "", main_table(summaries if headlines(summaries) else records, problems, drifts), ""]
    if headlines(summaries):
        lines += headline_sections(summaries, drifts)
    if not ok:
        lines += ["No result was scored in this design: every model failed or was skipped (reasons above).", ""]
    by_vision: dict[str, list[Record]] = defaultdict(list)
    for record in ok:
        by_vision[record.vision].append(record)
    figured = figured_models(ok) if out is not None else []
    if out is not None and ok:
        lines[4:4] = overview_figures(ok, summaries, [suite, design, *([setting] if setting else [])], figured, out,
                                      drifts)
    if len(figured) < len(by_vision) and out is not None:
        lines += [f"Figures are drawn for the {MAX_FIGURES} best of these {len(by_vision)} models (by the ranking "
                  "above); every model's scores are in its table.", ""]
    files = figure_names(list(by_vision))
    for vision, mine in sorted(by_vision.items()):
        names = [suite, design, *([setting] if setting else []), files[vision]]
        lines += [f"### {vision}", ""]
        if out is not None and vision in figured:
            lines += model_plots(mine, names, design, out)
        lines += ["<details><summary>every layer and metric (* q < 0.05: Benjamini-Hochberg false discovery "
                  "rate over this model's layers, per column)</summary>", "",
                  model_table(mine), "", "</details>", ""]
    return lines


def headline_sections(summaries: list[Record], drifts: Drifts) -> list[str]:
    """Below the headline table: its details (per text model intervals and ranks, in-sample best layers), the
    paired comparisons, and the text models' leaderboard with its per vision model details."""
    lines = ["<details><summary>per text model: intervals, ranks, in-sample best layers, concepts</summary>", "",
             headline_details(summaries, drifts), "", "</details>", ""]
    lines += comparison_sections(summaries)
    board = text_table(summaries, drifts)
    if board:
        lines += ["### Text models", "", board, "",
                  "<details><summary>per vision model: held-out 2 vs 2 [95% CI] (rank of the text model)</summary>",
                  "", text_details(summaries, drifts), "", "</details>", ""]
    return lines


def overview_figures(ok: list[Record], summaries: list[Record], names: list[str], figured: list[str], out: Path,
                     drifts: Drifts) -> list[str]:
    """The section's figures across models, drawn under ``out``: the forest plot of the held-out scores (where the
    results have them) and the emergence of 2 vs 2 by relative depth of the ``figured`` models and the baselines;
    the page lines that show them."""
    lines = []
    if headlines(summaries):
        forest = plot_file(out, names, "-forest")
        panels = forest_panels(summaries, drifts)
        plot_forest(panels, f"Held-out 2 vs 2, the {len(next(iter(panels.values())))} best models", out / forest)
        lines += [f"![held-out 2 vs 2 of the best models with 95% intervals, tiers shaded]({forest.as_posix()})", ""]
    visions = figured + sorted({r.vision for r in ok if r.role == "baseline"} - set(figured))
    emergence = plot_file(out, names, "-emergence")
    if plot_emergence(ok, visions, f"2 vs 2 by relative depth ({names[1]})", out / emergence):
        lines += [f"![2 vs 2 by relative depth, one line per vision model, a panel per text model]"
                  f"({emergence.as_posix()})", ""]
    return lines


def forest_panels(summaries: list[Record], drifts: Drifts) -> dict[str, list[ForestRow]]:
    """The forest plot's panels: the mean over text models (where there are several) and each text model, rows
    for the ``MAX_PAIRED`` best models by the overall rank, each panel's tiers its own."""
    ranking = Ranking.of(summaries, drifts)
    order = ranking.order[:MAX_PAIRED]
    role = {v: r.role for (v, _), r in ranking.found.items()}

    def row(vision: str, record: Record | None, tier: int | None) -> ForestRow:
        value = math.nan if record is None or tier is None else value_of(record)
        interval = (record.interval[0], record.interval[1]) if record is not None and record.interval else None
        return ForestRow(vision, value, interval, tier or 0, role[vision] != "model")

    panels = {}
    if len(ranking.texts) > 1:
        panels["mean over text models"] = [row(v, ranking.complete.get(v), ranking.overall.get(v)) for v in order]
    for text in ranking.texts:
        panels[text] = [row(v, ranking.found.get((v, text)), ranking.per_text[text].get(v)) for v in order]
    return panels


def figure_names(visions: list[str]) -> dict[str, str]:
    """The name each model's figure files are made from (``file_part``): its own, or where two models' names make
    the same file name (``a b``, ``a-b``), its own and a digest of it, so that no figure replaces another."""
    parts = Counter(file_part(vision) for vision in visions)
    return {v: v if parts[file_part(v)] == 1 else f"{v} {hashlib.sha256(v.encode()).hexdigest()[:12]}"
            for v in visions}


def figured_models(ok: list[Record]) -> list[str]:
    """The vision models whose curves a section draws: the ``MAX_FIGURES`` best by their mean held-out headline
    over text models (by their best layers' mean where the results have no headlines)."""
    found = headlines(ok) or best_layers(ok, HEADLINE_SOURCE)
    scores: dict[str, list[float]] = defaultdict(list)
    for (vision, _), record in found.items():
        scores[vision].append(value_of(record))
    visions = {r.vision for r in ok}
    return sorted(visions, key=lambda v: (-float(np.mean(scores[v])) if scores[v] else 0.0, v))[:MAX_FIGURES]


def model_plots(mine: list[Record], names: list[str], design: str, out: Path) -> list[str]:
    """Draw one model's 2 vs 2 (and 1 vs 2) curves under ``out`` (file names from ``names``); the page lines that
    show them."""
    vision = mine[0].vision
    curve = plot_file(out, names)
    plot_curves(mine, HEADLINE_SOURCE, f"{vision}: 2 vs 2 by layer ({design})", out / curve)
    lines = [f"![2 vs 2 by layer for {vision}]({curve.as_posix()})", ""]
    if any(r.metric == ONE_VS_TWO for r in mine):
        curve = plot_file(out, names, "-1v2")
        plot_curves(mine, ONE_VS_TWO, f"{vision}: 1 vs 2 by layer ({design})", out / curve)
        n_images = max(r.n_images or 0 for r in mine if r.metric == ONE_VS_TWO)
        lines += [f"![1 vs 2 by layer for {vision}]({curve.as_posix()})", "",
                  f"1 vs 2: up to {n_images} misclassified images per text model.", ""]
    return lines


def setting_of(record: Record) -> str:
    """A section's setting, where its suite mixes settings: seed, permutations and the photos' digest."""
    found = f"seed {record.provenance.seed}, {record.provenance.permutations} permutations"
    return found + (f", photos and concepts {record.provenance.inputs}" if record.provenance.inputs else "")


def text_columns(records: list[Record]) -> list[Record]:
    """The records with a text model scored against different k×k matrices (its vectors changed between runs)
    named apart, one column per matrix, so that no rank or pair joins them."""
    matrices: dict[str | None, set[str | None]] = defaultdict(set)
    for record in records:
        matrices[record.text].add(record.provenance.text_matrix)
    split = {text for text, found in matrices.items() if len(found) > 1}
    return [r.model_copy(update={"text": f"{r.text} (text matrix {r.provenance.text_matrix or 'unrecorded'})"})
            if r.text in split else r for r in records]


def sections_of(results: Results) -> dict[tuple[str, str, str], list[Record]]:
    """Records by (suite, design, setting): a setting apart wherever a suite mixes seeds, permutation counts or
    photos (``mixed_settings``, recomputed from the records). A vision model that is a problem of its suite (on
    that design or every one) is left out: its records are an earlier run's, and its problem row says why."""
    mixed = mixed_settings(results.records)
    problems = {(p.suite, p.design, p.name) for p in results.problems if p.kind == "vision"}
    named = {name for _, _, name in problems}
    sections: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for record in results.records:
        if record.vision in named and problems & {(record.suite, record.design, record.vision),
                                                  (record.suite, None, record.vision)}:
            continue
        sections[(record.suite, record.design, setting_of(record) if record.suite in mixed else "")].append(record)
    for problem in results.problems:
        if not any(suite == problem.suite for suite, _, _ in sections):
            sections[(problem.suite, problem.design or "every design", "")] = []
    return {key: text_columns(records) for key, records in sections.items()}


def render(results: Results, out: Path | None) -> str:
    """The page: one section per (suite, design), and per setting where a suite mixes seeds, permutations or
    photos (``sections_of``); plots are drawn into ``out``, or left out of the page when ``out`` is None. Every
    name is shown as text."""
    check_models_bound(len({r.vision for r in results.records}), "these results")
    try:
        return page_of(as_shown(results), out)
    finally:
        DRAWS.clear()
        RANKINGS.clear()
        FIGURES.clear()


def page_of(results: Results, out: Path | None) -> str:
    """The page of results whose names are already shown as text (``render``)."""
    sections = sections_of(results)
    lines = [
        "# benchsuite leaderboard",
        "",
        "How well does each layer of a vision network predict the semantic similarity of concepts as seen "
        "by a text model? 2 vs 2 accuracy of similarity encoding (Dharmaretnam & Fyshe, NAACL 2018) "
        + ("of a layer chosen on held-out concepts, with 95% intervals and significance tiers (docs/methods.md)"
           if headlines(results.records) else "of each model's best layer") +
        "; per-layer curves, RSA, debiased CKA, mutual k-NN and the 1 vs 2 test below.",
        "",
    ]
    if any(setting for _, _, setting in sections):
        lines += ["Some suites mix records computed under different seeds or permutation counts, or on other "
                  "inputs (photos and concepts); each setting is ranked in its own section, never against "
                  "another.", ""]
    if not any(r.status == "ok" for r in results.records):
        lines += ["**Nothing was scored**: every model failed or was skipped; the reasons are listed below.", ""]
    drifts = declared_drift(results.records)
    for (suite, design, setting), mine in sorted(sections.items()):
        mine_problems = [p for p in results.problems if p.suite == suite and p.design in (None, design)]
        lines += design_section(suite, design, mine, mine_problems, out, setting, drifts)
    return "\n".join(lines) + "\n"


def models_of(results: Results) -> set[tuple[str, str, str]]:
    """The (suite, design, vision model) rows the results give a page."""
    return {(r.suite, r.design, r.vision) for r in results.records}


def check_keeps_rows(results: Results, published: Path, option: str = "--leaderboard") -> None:
    """A BenchsuiteError when folder ``published`` holds a leaderboard built from results with models that
    ``results`` lack: publishing there would drop those rows (a partial run publishes beside its --out)."""
    path = published / "results.json"
    if not path.is_file():
        return
    try:
        missing = sorted(models_of(read_results(path)) - models_of(results))
    except ValueError as error:
        raise BenchsuiteError(f"{option} {published} holds a leaderboard whose results cannot be read ({error}); "
                              "leave --leaderboard out or pass an empty folder") from None
    if missing:
        suite, design, vision = missing[0]
        raise BenchsuiteError(one_line(
            f"{option} {published} holds the leaderboard of other results: {len(missing)} models these results "
            f"lack (e.g. {vision} on suite {suite}, design {design}); a partial run publishes beside its --out "
            "(leave --leaderboard out) or into a folder of its own"))


MAX_SIDE_BYTES = 64 << 20
"""The largest concept inventory or README the leaderboard reads (each is a few hundred kB at most)."""
VISION_FIELD = re.compile(rb'"vision"\s*:\s*"((?:[^"\\]|\\.)*)"')
"""A record's vision model in results.json, found without parsing the file (to refuse too many models at once)."""


def check_models_bound(count: int, where: Path | str) -> None:
    """A BenchsuiteError when one page would rank more than ``MAX_MODELS`` vision models."""
    if count > MAX_MODELS:
        raise BenchsuiteError(f"{where} holds {count} vision models; one leaderboard page ranks at most {MAX_MODELS}: "
                              "publish them in parts (a results file per suite, or per group of models)")


def publish(results: Path, out: Path, keep_rows: bool = False,
            contributions: Callable[[Results], Results] | None = None) -> Path:
    """Write ``out/README.md``, its plots, and a copy of the results data it was built from.

    ``results`` is a results.json file; the concept inventories beside it
    (``concepts-<suite>.json``) are copied too, so the published folder is self-contained. ``keep_rows`` (a
    partial run): refused, before anything is written, where ``out`` holds a leaderboard with rows these
    results lack (``check_keeps_rows``). ``contributions``: adds the verified contributed rows to the page (the
    copied results stay the local runs'; see benchsuite.contributions.merge).
    """
    with frozen_meanwhile():  # the records, frozen while they are read and rendered, back to the collector after
        return written_page(results, out, keep_rows, contributions)


def written_page(results: Path, out: Path, keep_rows: bool,
                 contributions: Callable[[Results], Results] | None) -> Path:
    """``publish``'s work (its records freed when this returns)."""
    raw = regular_bytes(results)  # read once: for the bound, the records and the copy
    check_models_bound(len(set(VISION_FIELD.findall(raw))), results)
    data = read_results(results, raw)
    if keep_rows:
        check_keeps_rows(data, out)
    shown = data if contributions is None else contributions(data)
    out.mkdir(parents=True, exist_ok=True)
    for source in [results, *sorted(results.parent.glob("concepts-*.json"))]:
        if source.resolve() != (out / source.name).resolve():
            atomic_write_bytes(out / source.name, raw if source == results else regular_bytes(source, MAX_SIDE_BYTES))
    del raw
    page = out / "README.md"
    with collection_paused():  # hundreds of thousands of records are alive and none is garbage
        atomic_write_text(page, render(shown, out))
    return page


def plural(names: list[str], one: str, many: str) -> str:
    return f"{one if len(names) == 1 else many} {', '.join(names)}"


def controls_clause(records: list[Record]) -> str:
    """``; the controls are the untrained network a and the baseline b``: the controls the records' roles name
    (empty when they name none)."""
    untrained = sorted({r.vision for r in records if r.role == "untrained"})
    base = sorted({r.vision for r in records if r.role == "baseline"})
    parts = ([plural(untrained, "the untrained network", "the untrained networks")] * bool(untrained)
             + [plural(base, "the baseline", "the baselines")] * bool(base))
    if not parts:
        return ""
    verb = "the control is" if len(untrained) + len(base) == 1 else "the controls are"
    return f"; {verb} {' and '.join(parts)}"


README_BLOCK = re.compile(r"<!-- leaderboard:start -->.*<!-- leaderboard:end -->", re.S)


def update_readme(readme: Path, results: Path, leaderboard_link: str = "leaderboard/README.md",
                  contributions: Callable[[Results], Results] | None = None) -> None:
    """Replace the block between ``<!-- leaderboard:start/end -->`` with the first design's main table (with the
    verified contributed rows, as ``publish``)."""
    found = read_results(results)
    data = as_shown(found if contributions is None else contributions(found))
    if not data.records:
        return
    suite, design = data.records[0].suite, data.records[0].design
    mine = [r for r in data.records if r.suite == suite and r.design == design]
    problems = [p for p in data.problems if p.suite == suite and p.design in (None, design)]
    n_concepts = max(r.n_concepts for r in mine)
    block = (
        "<!-- leaderboard:start -->\n"
        f"Top of the published [leaderboard]({leaderboard_link}): suite {code_span(suite)}, design \"{design}\" "
        f"({n_concepts} concepts; 2 vs 2 accuracy of each model's layer chosen on held-out concepts, or of its "
        f"best layer where the results predate that, chance 0.5{controls_clause(mine)}):\n\n"
        f"{main_table(mine, problems, declared_drift(data.records))}\n\nOn the page: the text models' ranking, the "
        "figures and the details.\n<!-- leaderboard:end -->"
    )
    text = regular_bytes(readme, MAX_SIDE_BYTES).decode("utf-8")  # not UTF-8: a UnicodeDecodeError, a ValueError
    if not README_BLOCK.search(text):
        raise ValueError(f"{readme} has no <!-- leaderboard:start --> ... <!-- leaderboard:end --> block")
    atomic_write_text(readme, README_BLOCK.sub(lambda _: block, text))
