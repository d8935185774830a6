"""The published leaderboard: markdown tables and per-layer plots, from results alone."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from benchsuite.contract.errors import BenchsuiteError, one_line
from benchsuite.extraction.cache import atomic_write_text
from benchsuite.results.figures import ForestRow, plot_curves, plot_emergence, plot_forest
from benchsuite.results.ranking import (
    DRAWS,
    Drifts,
    best_layers,
    compare,
    cpu_dependent,
    declared_drift,
    depth_of,
    drift,
    fdr_significant,
    headlines,
    mean_headline,
    summary_of,
    tier_ranks,
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
    mixed_settings,
    read_results,
)

DRIFT_LABELS = {HEADLINE_SOURCE: "2 vs 2", ONE_VS_TWO: "1 vs 2", HEADLINE_METRIC: "held-out 2 vs 2"}
"""How the drift note under a table names a metric (others by their own name), in this order."""
MAX_FILE_PART = 80
MAX_MODELS = 1000
"""The most vision models one page ranks (docs/results.md): results with more are refused before any work."""
MAX_PAIRED = 20
"""The pairwise p-value matrix shows the best this many models per text model (every model keeps its gains)."""
MAX_HEADLINE_TEXTS = 4
"""The headline table shows each text model's score up to this many text models (past it, the mean alone)."""
MAX_FIGURES = 8
"""Per section, the best this many models get their curves drawn (a figure costs a fraction of a second)."""


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


MARKUP = re.compile(r"[\\`*\[\]<>~$&@]|(?<![^\W_])_|_(?![^\W_])|(?<=www)\.|:(?=//|[\w+-]+:)", re.IGNORECASE)
"""What in a name could start markup, HTML, math, a mention or a link: backslash-escaped by ``md_text``. ``_``
only where it could open or close emphasis (not inside a word), ``.`` only after ``www``, ``:`` only before
``//`` or an emoji's closing ``:``, so plain names and messages (``RuntimeError: x (plugin p)``) stay as they are."""
Shown = TypeVar("Shown", Record, Problem)
NAME_FIELDS = {Record: ("vision", "twin", "text", "layer", "design", "metric", "error"),
               Problem: ("name", "plugin", "design", "error")}
"""The fields of records and problems that reach the page as text (the suite goes into code spans)."""


def md_text(name: str) -> str:
    """``name`` as literal markdown text on one line: HTML, emphasis, links, code, math and mentions escaped;
    plain names (``mobilenet_v2``, ``blocks.20``, ``1 photo x 1 group``) stay as they are."""
    return MARKUP.sub(lambda match: "\\" + match.group(), one_line(name))


def code_span(text: str) -> str:
    """``text`` as one inline code span, its fence longer than any run of backticks inside it."""
    text = one_line(text)
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if len(fence) > 1 else f"`{text}`"


def shown(item: Shown, memo: dict[str, str]) -> Shown:
    """``item`` with every name the page shows escaped (``md_text``); the item itself when none changes."""
    changes = {}
    for field in NAME_FIELDS[type(item)]:
        name = getattr(item, field)
        if name is not None:
            escaped = memo.get(name) or memo.setdefault(name, md_text(name))
            if escaped != name:
                changes[field] = escaped
    return item.model_copy(update=changes) if changes else item


def as_shown(results: Results) -> Results:
    """The results with their names as the page shows them: what every table, heading and caption is built from
    (the records themselves where no name needs escaping, as on most pages)."""
    memo: dict[str, str] = {}
    names = {getattr(r, field) for field in NAME_FIELDS[Record] for r in results.records}
    plain = all(name is None or memo.setdefault(name, md_text(name)) == name for name in names)
    return results.model_copy(update={"records": results.records if plain else
                                      [shown(r, memo) for r in results.records],
                                      "problems": [shown(p, memo) for p in results.problems]})


def table_cell(text: str) -> str:
    """A cell's text on one line with ``|`` escaped, so an error message or model name never breaks a row."""
    return one_line(text).replace("|", "\\|")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table, cells kept as text (``0.800`` stays ``0.800``), laid out as tabulate's
    ``github`` format lays it out (each column as wide as its widest cell, its header's plus two), at a small
    fraction of its cost: a page for 1,000 models holds 3,000 tables."""
    head = [table_cell(h) for h in header]
    body = [[table_cell(cell) for cell in row] for row in rows]
    columns = max([len(head), *map(len, body)])
    head += [""] * (columns - len(head))
    body = [row + [""] * (columns - len(row)) for row in body]
    widths = [max([len(head[i]) + 2, *(len(row[i]) for row in body)]) for i in range(columns)]
    lines = [head, *body]
    text = ["| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) + " |"
            for line in lines]
    return "\n".join([text[0], "|" + "|".join("-" * (width + 2) for width in widths) + "|", *text[1:]])


def main_table(records: list[Record], problems: Iterable[Problem] = (), drifts: Drifts | None = None) -> str:
    """Vision models ranked by their held-out 2 vs 2 headline in tiers where the results have summaries,
    else (results from before summaries) by their best layer's 2 vs 2 accuracy; one column per text model.
    ``drifts``: the text models' CPU drift (default: as declared by ``records``)."""
    drifts = declared_drift(records) if drifts is None else drifts
    if headlines(records):
        return headline_table(records, problems, drifts)
    best = best_layers(records, HEADLINE_SOURCE)
    texts = sorted({text for _, text in best})
    visions = sorted({vision for vision, _ in best},
                     key=lambda v: -np.mean([value_of(best[(v, t)]) for t in texts if (v, t) in best]))
    header = ["rank", "vision model"] + [f"{t}{'†' if cpu_dependent(drifts, t) else ''}: 2 vs 2 (best layer, p)"
                                         for t in texts]
    header.append("concepts")
    rows = []
    for rank, vision in enumerate(visions, 1):
        cells = []
        for text in texts:
            record = best.get((vision, text))
            cells.append("—" if record is None else
                         f"**{fmt_score(record)}** ({record.layer}, {depth_of(record) + 1}/{record.n_layers}; "
                         f"p {fmt_p(record.p_value)})")
        concepts = {best[(vision, t)].n_concepts for t in texts if (vision, t) in best}
        rows.append([str(rank), vision, *cells, ", ".join(map(str, sorted(concepts)))])
    for problem in problems:
        plugin = f", plugin {problem.plugin}" if problem.plugin else ""
        rows.append(["—", f"{problem.name} ({problem.kind}{plugin})", *[""] * len(texts),
                     f"{problem.status}: {problem.error}"])
    return (markdown_table(header, rows) + "\n\nChance is 0.5; p is a permutation test of the mean over groups "
            "for that layer alone (not corrected for choosing the best layer)." + drift_legend(texts, drifts))


def model_table(records: list[Record]) -> str:
    """Every layer of one model against every (text model, metric); * marks q < 0.05 (Benjamini-Hochberg)."""
    records = [r for r in records if r.summary is None and r.metric != HEADLINE_METRIC]
    significant = fdr_significant(records)
    columns = sorted({(r.text, r.metric) for r in records}, key=lambda c: (c[1] != HEADLINE_SOURCE, c[1], c[0]))
    layers = sorted({(r.depth, r.layer) for r in records})
    cell = {(r.layer, r.text, r.metric): r for r in records}
    header = ["depth", "layer"] + [f"{metric} / {text}" for text, metric in columns]
    rows = []
    for depth, layer in layers:
        row = [str(depth), layer or ""]
        for text, metric in columns:
            record = cell.get((layer, text, metric))
            if record is None:
                row.append("")
                continue
            if record.status != "ok":
                row.append(record.status)
                continue
            row.append(fmt_value(record.value) + ("*" if id(record) in significant else ""))
        rows.append(row)
    return markdown_table(header, rows)


def fmt_interval(record: Record) -> str:
    low, high = record.interval or (None, None)
    return "" if low is None else f" [{low:.3f}, {high:.3f}]"


RANKINGS: dict[int, tuple[list[Record], Drifts, Ranking]] = {}
"""Each list of records' ranking while a page is rendered (``Ranking.of``)."""


@dataclass
class Ranking:
    """The vision models' held-out headlines (``found``: (vision, text) -> record) in tiers: ``per_text`` for
    each text model alone (ties within twice its drift), ``overall`` of the mean over text models (of the models
    scored against every text model; ties within twice the mean drift); ``order`` the rows' order."""

    found: dict[tuple[str, str], Record]
    texts: list[str]
    per_text: dict[str, dict[str, int]]
    complete: dict[str, Record]
    overall: dict[str, int]
    order: list[str]

    @classmethod
    def of(cls, records: list[Record], drifts: Drifts) -> Ranking:
        """The ranking of ``records``, computed once per list (the headline table, its details and the forest
        plot read the same one; ``render`` empties ``RANKINGS`` at the end)."""
        cached = RANKINGS.get(id(records))
        if cached is not None and cached[0] is records and cached[1] == drifts:
            return cached[2]
        ranking = cls.ranked(records, drifts)
        RANKINGS[id(records)] = (records, drifts, ranking)
        return ranking

    @classmethod
    def ranked(cls, records: list[Record], drifts: Drifts) -> Ranking:
        found = headlines(records)
        texts = sorted({text for _, text in found})
        visions = sorted({vision for vision, _ in found})
        per_text = {t: tier_ranks({v: found[(v, t)] for v in visions if (v, t) in found}, drift(drifts, t))
                    for t in texts}
        complete = {v: mean_headline([found[(v, t)] for t in texts])
                    for v in visions if all((v, t) in found for t in texts)}
        overall = tier_ranks(complete, float(np.mean([drift(drifts, t) for t in texts])))
        order = sorted(visions, key=lambda v: (overall.get(v, len(visions) + 1),
                                               -np.mean([value_of(found[(v, t)]) for t in texts if (v, t) in found])))
        return cls(found, texts, per_text, complete, overall, order)


def headline_table(records: list[Record], problems: Iterable[Problem] = (), drifts: Drifts | None = None) -> str:
    """The page's headline, narrow enough for a laptop: rank (tiers of the mean over text models), vision model,
    the mean held-out 2 vs 2 with its interval, and each text model's score (up to ``MAX_HEADLINE_TEXTS`` text
    models); intervals per text model, in-sample layers and concepts are in ``headline_details``."""
    drifts = declared_drift(records) if drifts is None else drifts
    ranking = Ranking.of(records, drifts)
    texts = ranking.texts if len(ranking.texts) <= MAX_HEADLINE_TEXTS else []
    header = ["rank", "vision model", "held-out 2 vs 2, mean [95% CI]",
              *[f"{t}{'†' if cpu_dependent(drifts, t) else ''}" for t in texts]]
    rows = []
    for vision in ranking.order:
        mean = ranking.complete.get(vision)
        rows.append([str(ranking.overall.get(vision, "—")), vision,
                     "—" if mean is None else f"{fmt_value(mean.value)}{fmt_interval(mean)}",
                     *[fmt_value(ranking.found[(vision, t)].value) if (vision, t) in ranking.found else "—"
                       for t in texts]])
    failed = [(f"{r.vision} (summary)", r.status) for r in records if r.metric == HEADLINE_METRIC and r.status != "ok"]
    for name, status in failed + [(p.name, p.status) for p in problems]:
        rows.append(["—", name, f"{status} (below)", *[""] * len(texts)])
    return markdown_table(header, rows) + "\n\n" + HEADLINE_SHORT + drift_legend(ranking.texts, drifts)


HEADLINE_SHORT = (
    "Chance is 0.5. Held-out 2 vs 2: each model's layer chosen on half of the concepts, scored on the other half. "
    "Rank: significance tiers of the mean over text models (paired tests on the same bootstrap draws). Per text "
    "model intervals and ranks, the in-sample best layers and their family-wise p: in the section's details. "
    "Method: docs/methods.md."
)


def headline_details(records: list[Record], problems: Iterable[Problem] = (), drifts: Drifts | None = None) -> str:
    """The headline table's details: per text model each vision model's held-out 2 vs 2 with its interval and
    its tier for that text model alone, beside its in-sample best layer and family-wise p, and the concepts."""
    drifts = declared_drift(records) if drifts is None else drifts
    ranking = Ranking.of(records, drifts)
    found, texts, per_text, overall, order = (ranking.found, ranking.texts, ranking.per_text, ranking.overall,
                                              ranking.order)
    header = ["rank", "vision model"]
    for text in texts:
        mark = "†" if cpu_dependent(drifts, text) else ""
        header += [f"{text}{mark}: held-out 2 vs 2 [95% CI] (rank)",
                   f"{text}{mark}: best layer in-sample (p, family-wise)"]
    header.append("concepts")
    rows = []
    for vision in order:
        cells = []
        for text in texts:
            record = found.get((vision, text))
            if record is None:
                cells += ["—", "—"]
                continue
            cells.append(f"**{fmt_value(record.value)}**{fmt_interval(record)} ({per_text[text][vision]})")
            bound = "≤" if summary_of(record).permutations_used == 0 else ""
            cells.append(f"{fmt_value(summary_of(record).best_value)} ({record.layer}, {depth_of(record) + 1}/"
                         f"{record.n_layers}; p {bound}{fmt_p(record.p_value)})")
        concepts = sorted({found[(vision, t)].n_concepts for t in texts if (vision, t) in found})
        rows.append([str(overall.get(vision, "—")), vision, *cells, ", ".join(map(str, concepts))])
    failed = [r for r in records if r.metric == HEADLINE_METRIC and r.status != "ok"]
    for record in failed:
        rows.append(["—", f"{record.vision} (summary)", *[""] * (2 * len(texts)), f"{record.status}: {record.error}"])
    for problem in problems:
        plugin = f", plugin {problem.plugin}" if problem.plugin else ""
        rows.append(["—", f"{problem.name} ({problem.kind}{plugin})", *[""] * (2 * len(texts)),
                     f"{problem.status}: {problem.error}"])
    return markdown_table(header, rows) + "\n\n" + HEADLINE_LEGEND + drift_legend(texts, drifts)


HEADLINE_LEGEND = (
    "Chance is 0.5. **Held-out 2 vs 2**: each model's layer is chosen on one half of the concepts and scored "
    "on the other half, on that half's concepts alone (random halvings, both ways, averaged), so choosing the "
    "best of many layers does not inflate it. [95% CI]: bootstrap over concepts (and image groups), its spread "
    "calibrated by subsampling. **Rank**: the best remaining model leads a tier; a model whose paired "
    "difference from that leader (same bootstrap draws) is not significant (p ≥ 0.05), or is within twice the "
    "declared CPU drift, shares the leader's rank; the rank column ranks the mean over text models, the "
    "(rank) in a cell that text model alone. **Best layer in-sample**: the layer with the highest 2 vs 2 on "
    "all concepts (optimistic, shown for reference) and its family-wise p: the permutation null of the maximum "
    "over all layers, with the same relabellings for every layer (p ≤: bounded by the per-layer tests' counts). "
    "Method: docs/methods.md."
)


def text_ranking(records: list[Record], drifts: Drifts) -> tuple[list[str], dict[str, Record], dict[str, int]]:
    """The text models ranked BrainBench-style: each one's held-out 2 vs 2 averaged, draw by draw, over the trained
    vision models (role ``model``) scored against every text model, and the text models in tiers of that mean
    (ties within twice the largest drift they declare). Nothing when fewer than two text models or no trained
    model has headlines: (the vision models averaged over, text -> mean pseudo-record, text -> tier)."""
    found = headlines(records)
    texts = sorted({text for _, text in found})
    common = sorted({v for (v, _), r in found.items() if r.role == "model" and all((v, t) in found for t in texts)})
    if len(texts) < 2 or not common:
        return [], {}, {}
    means = {t: mean_headline([found[(v, t)] for v in common]) for t in texts}
    return common, means, tier_ranks(means, max(drift(drifts, t) for t in texts))


def text_table(records: list[Record], drifts: Drifts | None = None) -> str:
    """The text models' leaderboard: rank, text model, its mean held-out 2 vs 2 over the trained vision models with
    an interval, and the vision model that predicts it best; empty where ``text_ranking`` ranks nothing."""
    drifts = declared_drift(records) if drifts is None else drifts
    common, means, ranks = text_ranking(records, drifts)
    if not means:
        return ""
    found = headlines(records)
    header = ["rank", "text model", f"held-out 2 vs 2 over {len(common)} vision models, mean [95% CI]",
              "best vision model"]
    rows = []
    for text in sorted(means, key=lambda t: (ranks[t], -value_of(means[t]), t)):
        best = max(common, key=lambda v: value_of(found[(v, text)]))
        rows.append([str(ranks[text]), text + ("†" if cpu_dependent(drifts, text) else ""),
                     f"{fmt_value(means[text].value)}{fmt_interval(means[text])}",
                     f"{best} ({fmt_value(found[(best, text)].value)})"])
    return markdown_table(header, rows) + "\n\n" + TEXT_LEGEND + drift_legend(means, drifts)


TEXT_LEGEND = (
    "Which word vectors carry the semantics that vision networks learn: each text model's held-out 2 vs 2 "
    "averaged over the trained vision models (controls left out: baselines and untrained networks), draw by draw. "
    "Rank: significance tiers of that mean (paired tests on the same bootstrap draws; ties within twice the "
    "largest declared CPU drift). Method: docs/methods.md."
)


def text_details(records: list[Record], drifts: Drifts | None = None) -> str:
    """Per trained vision model (best first), each text model's held-out 2 vs 2 [95% CI] and (its tier among the
    text models for that vision model alone); empty where ``text_ranking`` ranks nothing."""
    drifts = declared_drift(records) if drifts is None else drifts
    common, means, _ = text_ranking(records, drifts)
    if not means:
        return ""
    found, texts = headlines(records), sorted(means)
    margin = max(drift(drifts, t) for t in texts)
    rows = []
    for vision in sorted(common, key=lambda v: (-float(np.mean([value_of(found[(v, t)]) for t in texts])), v)):
        ranks = tier_ranks({t: found[(vision, t)] for t in texts}, margin)
        rows.append([vision, *[f"{fmt_value(found[(vision, t)].value)}{fmt_interval(found[(vision, t)])} "
                               f"({ranks[t]})" for t in texts]])
    header = ["vision model", *[t + ("†" if cpu_dependent(drifts, t) else "") for t in texts]]
    return markdown_table(header, rows)


def drift_amounts(declared: dict[str, float]) -> str:
    """``2 vs 2 ±0.004, 1 vs 2 ±0.031``: each metric's drift, the held-out headline's only where it differs from
    the per-layer 2 vs 2 one."""
    shown = {metric: value for metric, value in declared.items()
             if not (metric == HEADLINE_METRIC and declared.get(HEADLINE_SOURCE) == value)}
    order = sorted(shown, key=lambda m: (list(DRIFT_LABELS).index(m) if m in DRIFT_LABELS else len(DRIFT_LABELS), m))
    return ", ".join(f"{DRIFT_LABELS.get(metric, metric)} ±{shown[metric]}" for metric in order)


def drift_legend(texts: Iterable[str], drifts: Drifts) -> str:
    """A note naming the CPU-dependent columns and by how much they may move."""
    notes = [f"{t} ({drift_amounts(drifts[t])})" for t in texts if cpu_dependent(drifts, t)]
    if not notes:
        return ""
    return ("\n\n† CPU-dependent: scores against " + "; ".join(notes) + " may differ by up to that much on "
            "another CPU; tiers count differences within twice that as ties.")


def comparison_sections(records: list[Record]) -> list[str]:
    """Per text model, the pairwise p-value matrix of the headlines, and every model's (role ``model``) gain over
    its untrained twin and over each baseline, each with an interval."""
    found = headlines(records)
    texts = sorted({text for _, text in found})
    lines = ["<details><summary>paired comparisons (held-out 2 vs 2, same bootstrap draws)</summary>", ""]
    for text in texts:
        mine = {v: r for (v, t), r in found.items() if t == text}
        order = sorted(mine, key=lambda v: -value_of(mine[v]))[:MAX_PAIRED]
        rows = []
        for a in order:
            cells = []
            for b in order:
                difference = None if a == b else compare(mine[a], mine[b])
                cells.append("—" if difference is None else
                             f"{difference.value:+.3f} (p {fmt_p(difference.p_value)})")
            rows.append([a, *cells])
        best = f" (the {MAX_PAIRED} best of {len(mine)} models)" if len(mine) > MAX_PAIRED else ""
        lines += [f"**{text}**: row − column, two-sided p{best}", "", markdown_table(["vision model", *order], rows),
                  ""]
    gains = gain_rows(found, texts)
    if gains:
        columns = ["untrained twin"] * bool(twins(found)) + baselines(found)
        header = ["vision model"] + [f"{t}: gain over {what}" for t in texts for what in columns]
        lines += ["**Gains** (held-out 2 vs 2, difference [95% CI])", "", markdown_table(header, gains), ""]
    return lines + ["</details>", ""]


def baselines(found: dict[tuple[str, str], Record]) -> list[str]:
    """The vision models whose records say role ``baseline``, sorted."""
    return sorted({r.vision for r in found.values() if r.role == "baseline"})


def twins(found: dict[tuple[str, str], Record]) -> dict[str, str]:
    """trained model -> its untrained twin: the vision model whose records say role ``untrained`` and name it."""
    return {r.twin: r.vision for r in sorted(found.values(), key=lambda r: r.vision)
            if r.role == "untrained" and r.twin is not None}


def gain_rows(found: dict[tuple[str, str], Record], texts: list[str]) -> list[list[str]]:
    """One row per model (role ``model``): its gain over its untrained twin (where the results have untrained
    controls) and over each baseline, per text model; rows with nothing to compare are left out."""
    twin_of, controls = twins(found), baselines(found)
    visions = sorted({r.vision for r in found.values() if r.role == "model"})
    rows = []
    for vision in visions:
        cells = []
        for text in texts:
            for other in [twin_of.get(vision, "")] * bool(twin_of) + controls:
                a, b = found.get((vision, text)), found.get((other, text))
                difference = None if a is None or b is None else compare(a, b)
                cells.append("—" if difference is None else
                             f"{difference.value:+.3f} [{difference.low:+.3f}, {difference.high:+.3f}]")
        if any(cell != "—" for cell in cells):
            rows.append([vision, *cells])
    return rows


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
        lines += headline_sections(summaries, problems, drifts)
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


def headline_sections(summaries: list[Record], problems: list[Problem], drifts: Drifts) -> list[str]:
    """Below the headline table: its details (per text model intervals and ranks, in-sample best layers, failures
    in full), the paired comparisons, and the text models' leaderboard with its per vision model details."""
    lines = ["<details><summary>per text model: intervals, ranks, in-sample best layers, concepts</summary>", "",
             headline_details(summaries, problems, drifts), "", "</details>", ""]
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


VISION_FIELD = re.compile(rb'"vision"\s*:\s*"((?:[^"\\]|\\.)*)"')
"""A record's vision model in results.json, found without parsing the file (to refuse too many models at once)."""


def check_models_bound(count: int, where: Path | str) -> None:
    """A BenchsuiteError when one page would rank more than ``MAX_MODELS`` vision models."""
    if count > MAX_MODELS:
        raise BenchsuiteError(f"{where} holds {count} vision models; one leaderboard page ranks at most {MAX_MODELS}: "
                              "publish them in parts (a results file per suite, or per group of models)")


def publish(results: Path, out: Path, keep_rows: bool = False) -> Path:
    """Write ``out/README.md``, its plots, and a copy of the results data it was built from.

    ``results`` is a results.json file; the concept inventories beside it
    (``concepts-<suite>.json``) are copied too, so the published folder is self-contained. ``keep_rows`` (a
    partial run): refused, before anything is written, where ``out`` holds a leaderboard with rows these
    results lack (``check_keeps_rows``).
    """
    check_models_bound(len(set(VISION_FIELD.findall(results.read_bytes()))), results)
    data = read_results(results)
    if keep_rows:
        check_keeps_rows(data, out)
    out.mkdir(parents=True, exist_ok=True)
    for source in [results, *sorted(results.parent.glob("concepts-*.json"))]:
        if source.resolve() != (out / source.name).resolve():
            atomic_write_text(out / source.name, source.read_text())
    page = out / "README.md"
    with collection_paused():  # hundreds of thousands of records are alive and none is garbage
        atomic_write_text(page, render(data, out))
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


def update_readme(readme: Path, results: Path, leaderboard_link: str = "leaderboard/README.md") -> None:
    """Replace the block between ``<!-- leaderboard:start/end -->`` with the first design's main table."""
    data = as_shown(read_results(results))
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
    text = readme.read_text()
    if not README_BLOCK.search(text):
        raise ValueError(f"{readme} has no <!-- leaderboard:start --> ... <!-- leaderboard:end --> block")
    atomic_write_text(readme, README_BLOCK.sub(lambda _: block, text))
