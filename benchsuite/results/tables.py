"""The page's tables, from records alone: names shown as text, the headline table and its details, the text
models' leaderboard, the paired comparisons and gains, every layer's scores; laid out as GitHub markdown."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from benchsuite.contract.errors import one_line
from benchsuite.results.ranking import (
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
from benchsuite.results.records import HEADLINE_METRIC, HEADLINE_SOURCE, ONE_VS_TWO, Problem, Record, Results

DRIFT_LABELS = {HEADLINE_SOURCE: "2 vs 2", ONE_VS_TWO: "1 vs 2", HEADLINE_METRIC: "held-out 2 vs 2"}
"""How the drift note under a table names a metric (others by their own name), in this order."""


MAX_PAIRED = 20
"""The pairwise p-value matrix shows the best this many models per text model (every model keeps its gains)."""


MAX_HEADLINE_TEXTS = 4
"""The headline table shows each text model's score up to this many text models (past it, the mean alone)."""


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
    rows += unranked_rows(records, problems, len(texts))
    return markdown_table(header, rows) + "\n\n" + HEADLINE_SHORT + drift_legend(ranking.texts, drifts)


def unranked_rows(records: list[Record], problems: Iterable[Problem], blanks: int) -> list[list[str]]:
    """A row per failed summary and per problem: its name (kind, plugin), then its status and error, then
    ``blanks`` empty cells (the headline's one row for it: the error wraps in its cell)."""
    rows = [["—", f"{r.vision} (summary)", f"{r.status}: {r.error}", *[""] * blanks]
            for r in records if r.metric == HEADLINE_METRIC and r.status != "ok"]
    for problem in problems:
        plugin = f", plugin {problem.plugin}" if problem.plugin else ""
        rows.append(["—", f"{problem.name} ({problem.kind}{plugin})", f"{problem.status}: {problem.error}",
                     *[""] * blanks])
    return rows


HEADLINE_SHORT = (
    "Chance is 0.5. Held-out 2 vs 2: each model's layer chosen on half of the concepts, scored on the other half. "
    "Rank: significance tiers of the mean over text models (paired tests on the same bootstrap draws). Per text "
    "model intervals and ranks, the in-sample best layers and their family-wise p: in the section's details. "
    "Method: docs/methods.md."
)


def headline_details(records: list[Record], drifts: Drifts | None = None) -> str:
    """The headline table's details: per text model each vision model's held-out 2 vs 2 with its interval and
    its tier for that text model alone, beside its in-sample best layer and family-wise p, and the concepts
    (failures and problems are the headline's rows)."""
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
