"""The HTML pages (``report.html``, ``sweep.html``), rendered from Jinja2 templates.

The templates are package data (``toctou_sim/reporting/templates/*.html.j2``) and render with
autoescape on: every piece of model text that reaches a page (a model's name, description and
file, strategy labels, parameter values, table cells) is escaped by the template engine, never
by hand, and no template marks anything safe. Charts are embedded as PNG data, so a page is one
self-contained file.

Tables reach a template as :class:`Table` (headings and cells of text, from any tidy frame whose
cells are already formatted, e.g. :mod:`toctou_sim.reporting.tables`), charts as
:class:`toctou_sim.reporting.charts.Chart`.
"""

from __future__ import annotations

import base64
import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import pandas as pd

from toctou_sim.capacity.headroom import HeadroomResult
from toctou_sim.core.units import format_duration
from toctou_sim.experiment.montecarlo import ComparisonResult
from toctou_sim.reporting.tables import headroom_line, headroom_table
from toctou_sim.reporting.verdict import Recommendation
from toctou_sim.spec.model import ModelSpec

if TYPE_CHECKING:
    from toctou_sim.capacity.sensitivity import SensitivityResult
    from toctou_sim.reporting.charts import Chart

__all__ = ["Row", "Table", "environment", "render_report", "render_sweep"]


@dataclass(frozen=True)
class Row:
    """One table row: its heading (empty when the table has no row headings) and its cells."""

    heading: str
    cells: list[str]


@dataclass(frozen=True)
class Table:
    """A table as a template prints it: column headings, then rows of text.

    Attributes:
        columns: the column headings (without the row headings' column).
        rows: the rows, in order.
        has_index: whether each row starts with a heading cell (a frame's index).
    """

    columns: list[str]
    rows: list[Row]
    has_index: bool = False

    @classmethod
    def of(cls, frame: pd.DataFrame, index: bool = False) -> Table:
        """``frame``'s cells as text (missing values empty); ``index=True`` keeps its index as row
        headings."""
        rows = [
            Row(str(heading) if index else "", [_cell(value) for value in values])
            for heading, values in zip(frame.index, frame.itertuples(index=False, name=None), strict=True)
        ]
        return cls([str(column) for column in frame.columns], rows, index)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _png_data_uri(path: Path) -> str:
    """A PNG file as a ``data:`` URI, so the page needs no other file."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


@functools.cache
def environment() -> jinja2.Environment:
    """The templates' environment: package data, autoescape on, an undefined name is an error.

    Filters: ``duration`` (seconds as ``40ms``, ``5m``), ``fmt`` (a Python format spec:
    ``{{ x | fmt(".4g") }}``), ``png_data_uri`` (a chart file embedded in the page).
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("toctou_sim.reporting", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["duration"] = format_duration
    env.filters["fmt"] = format
    env.filters["png_data_uri"] = _png_data_uri
    return env


def render_report(
    *,
    model: ModelSpec,
    comparison: ComparisonResult,
    recommendation: Recommendation,
    results: pd.DataFrame,
    budget: pd.DataFrame,
    alerts: pd.DataFrame,
    charts: Sequence[Chart],
    reps: int,
    seed: int,
    version: str,
    files: Sequence[Path],
    headroom: Mapping[str, HeadroomResult] | None = None,
    sensitivity: Sequence[SensitivityResult] | None = None,
    sensitivity_chart: Chart | None = None,
) -> str:
    """``report.html``: the verdict, the results, error-budget, alert and headroom tables, the
    sensitivity ranking, the charts, the recommendation, the model as given and the files.

    Args:
        model: the model the comparison ran.
        comparison: the comparison (its strategies and baseline head the page).
        recommendation: the verdict (:func:`toctou_sim.reporting.verdict.recommend`).
        results, budget, alerts: the tables of :mod:`toctou_sim.reporting.tables` (``results``
            with its metrics as the index).
        charts: the charts, in page order.
        reps, seed, version: what the page says the run was.
        files: every file of the bundle, listed (by name) at the end.
        headroom: each strategy's headroom, when it was searched.
        sensitivity, sensitivity_chart: the sensitivity analyses and their chart, when run.
    """
    rate = model.clients.arrival.poisson.rate
    headroom_section = None
    if headroom:
        first = next(iter(headroom.values()))
        headroom_section = {
            "limit": "none" if math.isinf(first.p99_limit_ms) else format_duration(first.p99_limit_ms / 1e3),
            "error_budget": first.error_budget,
            "table": Table.of(headroom_table(headroom)),
        }
    sensitivity_section = None
    if sensitivity and sensitivity_chart is not None:
        sensitivity_section = {
            "n": sensitivity[0].n,
            "chart": sensitivity_chart,
            "tables": [(result.strategy, Table.of(result.table())) for result in sensitivity],
        }
    evaluable = bool(len(alerts)) and not alerts["fired in"].str.startswith("not evaluable").all()
    return environment().get_template("report.html.j2").render(
        model=model,
        strategies=comparison.strategies,
        baseline=comparison.baseline,
        reps=reps,
        seed=seed,
        version=version,
        recommendation=recommendation,
        headroom_sentence=headroom_line(headroom, rate) if headroom else None,
        arrival_rate=rate,
        results=Table.of(results, index=True),
        budget=Table.of(budget),
        alerts=Table.of(alerts) if len(alerts) else None,
        alerts_evaluable=evaluable,
        headroom=headroom_section,
        sensitivity=sensitivity_section,
        charts=list(charts),
        model_text=model.text or json.dumps(model.model_dump(mode="json", by_alias=True), indent=2),
        files=[path.name for path in files],
    )


def render_sweep(*, title: str, parameters: Sequence[str], strategies: Sequence[str], headline: pd.DataFrame,
                 charts: Sequence[Chart]) -> str:
    """``sweep.html``: the sweep chart(s) and the headline table
    (:func:`toctou_sim.reporting.sweep_page.headline_table`)."""
    return environment().get_template("sweep.html.j2").render(
        title=title,
        parameters=list(parameters),
        strategies=list(strategies),
        headline=Table.of(headline),
        charts=list(charts),
    )
