"""Names from results.json are text on the page: no HTML, no emphasis, no links, whatever a record says."""

from __future__ import annotations

import re

import pytest

from benchsuite.results.leaderboard import render, update_readme
from benchsuite.results.records import Problem, Record, Results, Summary, write_results
from benchsuite.results.tables import code_span, md_text

markdown_it = pytest.importorskip("markdown_it")

HOSTILE = {
    "vision": "<img src=x onerror=alert(1)>", "twin_model": "**x**", "text": "[click](http://evil.example)",
    "layer": "<script>alert(2)</script>", "design": "_em_ & ~~gone~~ $x$", "metric": "`code` :smile: @someone",
}


def records() -> list[Record]:
    summary = Summary(best_value=0.8, n_splits=2, n_bootstrap=3, resampling="k", draws=[0.7, 0.72, 0.74])
    common = dict(suite="s` <b>", design=HOSTILE["design"], text=HOSTILE["text"], n_layers=2, chance=0.5,
                  n_concepts=9, p_value=0.01)
    rows = []
    for vision, role, twin in ((HOSTILE["vision"], "untrained", HOSTILE["twin_model"]),
                               (HOSTILE["twin_model"], "model", None), ("www.evil.example", "baseline", None)):
        for depth, layer in enumerate([HOSTILE["layer"], "plain"]):
            for metric in ("two_vs_two", HOSTILE["metric"]):
                rows.append(Record(vision=vision, role=role, twin=twin, layer=layer, depth=depth, metric=metric,
                                   value=0.6 + depth / 10, groups=[0.6], **common))
        rows.append(Record(vision=vision, role=role, twin=twin, layer=HOSTILE["layer"], depth=0,
                           metric="two_vs_two_heldout", value=0.7, interval=[0.6, 0.8], summary=summary, **common))
    rows.append(Record(vision="v", layer="l", depth=0, metric="two_vs_two_heldout", status="failed", value=None,
                       error="<iframe src=x> failed", **{**common, "p_value": None}))
    return rows


PROBLEMS = [Problem(suite="s` <b>", kind="vision", name="<svg onload=x>", plugin="**p**", status="failed",
                    error="<img src=y> [a](b)")]


def html_of(page: str) -> str:
    return markdown_it.MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(page)


def test_every_name_on_the_page_is_text_not_markup(tmp_path):
    page = render(Results(records=records(), problems=PROBLEMS), tmp_path)
    html = html_of(page)
    legitimate = html.count('<img src="plots/')
    assert legitimate == 3 + 2 and html.count("<code>s` &lt;b&gt;</code>") == 1  # curves, forest, emergence; heading
    rest = re.sub(r'<img src="plots/[^>]*>|<code>s` &lt;b&gt;</code>', "", html)
    assert not re.search(r"<(img|script|iframe|svg|b|a|code|s|del|em)\b", rest)
    assert "<strong>x</strong>" not in html and "<em>em</em>" not in html
    for name in (*HOSTILE.values(), "<iframe src=x> failed", "<svg onload=x>", "<img src=y> [a](b)"):
        shown = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert shown in html, name
    assert "www\\.evil.example" in page and "http\\://evil.example" in page
    assert "<code>s` &lt;b&gt;</code>" in html  # the suite in its code span, the backtick inside it kept


def test_plain_names_are_left_as_they_are():
    for name in ("mobilenet_v2_untrained", "e5_multilingual", "blocks.20", "1 photo x 1 group", "hf/facebook-x"):
        assert md_text(name) == name
    assert md_text("_x_ a*b") == "\\_x\\_ a\\*b" and md_text("a\nb") == "a b"
    assert code_span("offline") == "`offline`" and code_span("a`b") == "`` a`b ``"


def test_the_readme_block_escapes_names_too(tmp_path):
    results = tmp_path / "results.json"
    write_results(results, Results(records=records(), problems=PROBLEMS))
    readme = tmp_path / "README.md"
    readme.write_text("<!-- leaderboard:start -->\n<!-- leaderboard:end -->\n")
    update_readme(readme, results)
    html = html_of(readme.read_text())
    assert "<img" not in html and "<svg" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<code>s` &lt;b&gt;</code>" in html
