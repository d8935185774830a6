"""The page's figures, drawn from records alone: per-model curves with 95% bands and their significant layers
marked, emergence across models by relative depth, and a forest plot of the held-out scores in their tiers."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchsuite.inference.heldout import SIGNIFICANCE
from benchsuite.results.ranking import depth_of, fdr_significant, headlines, value_of
from benchsuite.results.records import HEADLINE_SOURCE, ONE_VS_TWO, Record

Z95 = 1.959964
"""The normal quantile of a two-sided 95% band."""
CHANCE = 0.5


def layer_band(record: Record, headline: Record | None = None) -> tuple[float, float] | None:
    """A 95% band around one layer's score, from what its record holds: over image groups where it has several
    (mean ± 1.96 standard errors); for 1 vs 2 on one group, the Wilson interval of its ``n_images`` trials; for
    2 vs 2 on one group, the concept bootstrap of its model's held-out ``headline`` (same text model) carried to
    the layer (its interval's offsets from its value). None where the record holds none of these."""
    value = value_of(record)
    groups = [g for g in record.groups if g is not None]
    if len(groups) > 1:
        mean = sum(groups) / len(groups)
        error = Z95 * math.sqrt(sum((g - mean) ** 2 for g in groups) / (len(groups) - 1) / len(groups))
        return value - error, value + error
    if record.metric == ONE_VS_TWO and record.n_images:
        n, centre = record.n_images, (value + Z95**2 / (2 * record.n_images)) / (1 + Z95**2 / record.n_images)
        half = Z95 * math.sqrt(value * (1 - value) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
        return centre - half, centre + half
    if record.metric == HEADLINE_SOURCE and headline is not None and headline.interval:
        return value + headline.interval[0] - value_of(headline), value + headline.interval[1] - value_of(headline)
    return None


FIGURES: dict[tuple[float, float, int], Any] = {}
"""One Agg figure per size, cleared and drawn again for each plot of that size: its renderer, and the text
metrics matplotlib caches per renderer, serve every figure of a page (``render`` empties it at the end)."""


def figure(width: float, height: float, dpi: int = 110) -> Any:
    """An empty figure of that size (inches), on an Agg canvas of its own: no pyplot, no window, no figure
    manager; the same figure again for the next plot of that size (``FIGURES``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = FIGURES.get((width, height, dpi))
    if fig is None:
        fig = FIGURES[(width, height, dpi)] = Figure(figsize=(width, height), dpi=dpi)
        FigureCanvasAgg(fig)
    fig.clear()
    return fig


def save(fig: Any, path: Path) -> None:
    """Write ``fig`` as a PNG; its layout is final (laid out once, by ``tight_layout``, not again on saving)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.set_layout_engine(None)
    fig.savefig(path)


def curve(ax: Any, rows: list[Record], x: Sequence[float], found: dict[tuple[str, str], Record], **style: Any) -> Any:
    """One curve of ``rows`` at ``x`` with its 95% band (where ``layer_band`` finds one); the line drawn."""
    (line,) = ax.plot(x, [value_of(r) for r in rows], **style)
    bands = [layer_band(r, found.get((r.vision, str(r.text)))) for r in rows]
    if all(band is not None for band in bands):
        ax.fill_between(x, [b[0] for b in bands if b], [b[1] for b in bands if b], color=line.get_color(),
                        alpha=0.18, linewidth=0)
    return line


def plot_curves(records: list[Record], metric: str, title: str, path: Path) -> None:
    """One line per text model of ``metric`` against layer depth with its 95% band (the paper's Figures 1-4);
    layers whose q < 0.05 (Benjamini-Hochberg over the model's layers) are marked: circled on 2 vs 2, starred
    on 1 vs 2 as the paper's Figure 4 marks them, where the 1 vs 2 layers whose own p < 0.05 are starred
    hollow."""
    by_text: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        if record.metric == metric and record.value is not None:
            by_text[str(record.text)].append(record)
    found = headlines(records)
    fig = figure(7, 3.8)
    ax = fig.subplots()
    labels: dict[int, str] = {}
    fdr = fdr_significant([r for rows in by_text.values() for r in rows])
    star = metric == ONE_VS_TWO
    for text, rows in sorted(by_text.items()):
        rows.sort(key=depth_of)
        curve(ax, rows, [depth_of(r) for r in rows], found, marker="o", markersize=3, label=text)
        marks(ax, [r for r in rows if id(r) in fdr], star, filled=star)
        if star:
            marks(ax, [r for r in rows if id(r) not in fdr and (r.p_value or 1.0) < SIGNIFICANCE], star, False)
        labels.update({depth_of(r): str(r.layer) for r in rows})
    ax.axhline(CHANCE, color="grey", linestyle="--", linewidth=0.8, label="chance")
    marks(ax, [], star, filled=star, label="q < 0.05 (FDR over layers)")
    if star:
        marks(ax, [], star, False, label="p < 0.05 (this layer alone)")
    step = max(1, len(labels) // 12)
    ticks = sorted(labels)[::step]
    ax.set_xticks(ticks, [labels[t] for t in ticks], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(title + " (bands: 95%)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    save(fig, path)


def marks(ax: Any, rows: list[Record], star: bool, filled: bool, label: str | None = None) -> None:
    """Mark the layers of ``rows`` on their curve: circles, or stars (filled or hollow) as the paper's Figure 4."""
    ax.scatter([depth_of(r) for r in rows], [value_of(r) for r in rows], s=70 if star else 18,
               marker="*" if star else "o", facecolors="black" if filled else "none", edgecolors="black",
               linewidths=0.6, zorder=3, label=label)


def relative_depth(record: Record) -> float:
    """0 at a model's first layer, 1 at its last (0 for a model of one layer)."""
    n_layers = record.n_layers or 1
    return depth_of(record) / (n_layers - 1) if n_layers > 1 else 0.0


def plot_emergence(records: list[Record], visions: Sequence[str], title: str, path: Path) -> bool:
    """2 vs 2 by relative depth, a panel per text model, a line with its 95% band per vision model in ``visions``
    (best first); baselines (role ``baseline``) as a dotted level at their best layer's score, chance dashed.
    False (nothing drawn) where no record of 2 vs 2 is among them."""
    from matplotlib import color_sequences

    wanted = set(visions)
    layers = [r for r in records if r.metric == HEADLINE_SOURCE and r.status == "ok" and r.value is not None
              and r.vision in wanted]
    texts = sorted({str(r.text) for r in layers})
    if not texts:
        return False
    found = headlines(records)
    columns = min(3, len(texts))
    rows = math.ceil(len(texts) / columns)
    fig = figure(3.4 * columns + 2.2, 3.0 * rows)
    axes = fig.subplots(rows, columns, sharey=True, squeeze=False)
    colours = color_sequences["tab10"]
    for ax, text in zip(axes.flat, texts, strict=False):
        for index, vision in enumerate(visions):
            mine = sorted((r for r in layers if r.text == text and r.vision == vision), key=depth_of)
            if not mine:
                continue
            style = {"color": colours[index % len(colours)], "label": vision, "linewidth": 1.2}
            if mine[0].role == "baseline":
                ax.axhline(max(value_of(r) for r in mine), linestyle=":", **style)
                continue
            curve(ax, mine, [relative_depth(r) for r in mine], found,
                  linestyle="--" if mine[0].role == "untrained" else "-", **style)
        ax.axhline(CHANCE, color="grey", linestyle="--", linewidth=0.8, label="chance")
        ax.set_title(text, fontsize=9)
        ax.set_xlabel("relative depth (0 = first layer, 1 = last)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(texts):]:
        ax.set_visible(False)
    axes[0][0].set_ylabel("2 vs 2", fontsize=8)
    handles, names = axes.flat[0].get_legend_handles_labels()
    unique = dict(zip(names, handles, strict=True))
    fig.legend(unique.values(), unique.keys(), fontsize=7, loc="center left", bbox_to_anchor=(0.80, 0.5))
    fig.suptitle(title + " (bands: 95%)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 0.80, 1))
    save(fig, path)
    return True


@dataclass
class ForestRow:
    """One row of a forest plot: a model's score (NaN: none in this panel), its 95% interval, its tier, and
    whether it is a control."""

    name: str
    value: float
    interval: tuple[float, float] | None
    tier: int
    control: bool


def plot_forest(panels: dict[str, list[ForestRow]], title: str, path: Path) -> None:
    """Held-out scores with their 95% intervals, a panel per ranking (rows best first, as ranked), the rows of
    every other tier shaded; controls drawn hollow; chance dashed."""
    height = max(len(rows) for rows in panels.values())
    fig = figure(2.6 * len(panels) + 2.0, 0.32 * height + 1.4)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)
    for ax, (name, rows) in zip(axes[0], panels.items(), strict=True):
        tiers = sorted({row.tier for row in rows if not math.isnan(row.value)})
        for y, row in enumerate(rows):
            if math.isnan(row.value):
                continue
            if tiers.index(row.tier) % 2:
                ax.axhspan(y - 0.5, y + 0.5, color="0.9", zorder=0)
            if row.interval:
                ax.plot(row.interval, [y, y], color="black", linewidth=1)
            ax.scatter([row.value], [y], s=22, zorder=3, color="black", facecolors="white" if row.control else "black")
        ax.axvline(CHANCE, color="grey", linestyle="--", linewidth=0.8)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("held-out 2 vs 2", fontsize=8)
    first = next(iter(panels.values()))
    axes[0][0].set_yticks(range(len(first)), [f"{row.tier}  {row.name}" for row in first])
    axes[0][0].set_ylim(height - 0.5, -0.5)
    fig.suptitle(title + " (95% intervals; shading: tiers; hollow: controls)", fontsize=9)
    fig.tight_layout()
    save(fig, path)
