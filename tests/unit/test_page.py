"""The report's HTML pages come from Jinja2 templates with autoescape on: model text (a name, a
description, the model file, a strategy label) that holds markup reaches the page as text, escaped
by the template engine, and the templates' tables say what pandas' ``to_html`` said before them."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import unwritten_charts

import toctou_sim
from toctou_sim.reporting.page import Table, environment, render_sweep

TEMPLATES = Path(toctou_sim.__file__).parent / "reporting" / "templates"

SCRIPT = "<script>alert('x')</script>"

HOSTILE = f"""
[model]
name = "{SCRIPT}"
description = "<img src=x onerror=alert(1)> & co"
horizon = "1s"

[keys]
count = 5

[clients]
arrival = {{ poisson = {{ rate = 50 }} }}
window = "5ms"

[strategies.hostile]
kind = "none"
label = "<script>alert(2)</script>"
"""


def _text(page: str) -> str:
    """The page's markup with entities resolved and whitespace collapsed: what a reader sees
    (and the attributes), independent of how the HTML was spelled."""
    page = re.sub(r"base64,[A-Za-z0-9+/=]+", "base64,", page)
    return re.sub(r"\s+", " ", re.sub(r">\s+<", "><", html.unescape(page))).strip()


def test_model_text_with_markup_reaches_the_report_escaped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unwritten_charts(monkeypatch)  # the page's text is the subject; a $ or markup in charts: test_hardening.py
    path = tmp_path / "hostile.toml"
    path.write_text(HOSTILE, encoding="utf-8")
    bundle = toctou_sim.report(path, tmp_path / "r", strategies=["hostile"], reps=2, trace_ops=0,
                               headroom=False)
    page = bundle.html.read_text(encoding="utf-8")
    assert "<script" not in page and "<img src=x" not in page  # no markup of the model's survives
    # ...but every piece is on the page, as text: the title, the heading and the model file as given
    assert page.count("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") == 3
    assert page.count("&lt;img src=x onerror=alert(1)&gt; &amp; co") == 2  # the description, the model file
    assert "label = &#34;&lt;script&gt;alert(2)&lt;/script&gt;&#34;" in page
    assert html.unescape(page).count(SCRIPT) == 3


def test_the_sweep_page_escapes_its_title_parameters_strategies_and_cells(tmp_path: Path) -> None:
    headline = pd.DataFrame([{"a<b": "1 < 2", "strategy": "<i>s</i>", "harm (violations/op)": SCRIPT}])
    page = render_sweep(title=SCRIPT, parameters=["a<b"], strategies=["<i>s</i>"], headline=headline, charts=[])
    assert "<script" not in page and "<i>" not in page
    assert "<title>toctou-sim sweep: &lt;script&gt;" in page and "<td>1 &lt; 2</td>" in page
    assert "Parameters: a&lt;b; strategies &lt;i&gt;s&lt;/i&gt; on common random numbers" in page


def test_templates_escape_everything() -> None:
    """Autoescape on, and no template opts out of it (a ``safe`` filter or an ``autoescape false``
    block would let model text through as markup)."""
    assert environment().autoescape is True
    names = sorted(p.name for p in TEMPLATES.glob("*.html.j2"))
    assert names == ["_macros.html.j2", "report.html.j2", "sweep.html.j2"]
    for name in names:
        source = (TEMPLATES / name).read_text(encoding="utf-8")
        assert not re.search(r"\|\s*safe\b|autoescape\s+false|Markup", source), name


@pytest.mark.parametrize("index", [False, True])
def test_a_table_says_what_pandas_to_html_said(index: bool) -> None:
    """The record: pandas' own ``to_html`` (what the pages used before the templates)."""
    frame = pd.DataFrame({"none": ["4.71% ± 0.96%", "none seen (< 78%)", None],
                          "it's \"cas\"": ["1 & 2", "", "x"]},
                         index=["harm: harm_rate", "cost: abort_rate", "budget: <burn>"])
    macro = environment().from_string('{% from "_macros.html.j2" import table %}{{ table(t) }}')
    ours = macro.render(t=Table.of(frame, index=index))
    theirs = '<div class="scroll">' + frame.to_html(index=index, border=0, escape=True, na_rep="") + "</div>"
    assert _text(ours) == _text(theirs)
    assert "<th>budget: &lt;burn&gt;</th>" in ours if index else "budget" not in ours
