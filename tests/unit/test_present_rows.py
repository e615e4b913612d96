"""The results table and ``--json`` printed from a result's rows (``to_rows()``, no pandas) are
the same bytes as printed from its tidy frame (``to_frame()``, rendered by pandas).

The frame path is the independent record: its blocks go through pandas' own
``DataFrame.to_string()`` and its JSON through pandas' column types (``to_dict``); the row path
through :func:`toctou_sim.reporting.present.text_table` and the rows' Python values.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from conftest import MODELS
from hypothesis import given, settings
from hypothesis import strategies as st

from toctou_sim.experiment.montecarlo import ComparisonResult, SimulationResult, compare, simulate
from toctou_sim.reporting.present import comparison_table, results_json, shown_metrics, text_table
from toctou_sim.spec.model import load_model

SMALL = {"model.horizon": "2s", "model.warmup": "0.25s"}


@pytest.fixture(scope="module")
def compared() -> ComparisonResult:
    """Four strategies with ``none`` (so each gets the M8 rows, whose differences are NaN); one
    strategy marked unstable, for the warning line under the table."""
    spec = load_model(MODELS / "flash_sale.toml", SMALL)
    result = compare(spec, ["none", "cas", "lock", "reservation"], reps=3, seed=5, engine="auto")
    for replication in result.results["lock"].replications:
        replication.metrics["unstable"] = 1.0
    return result


@pytest.fixture(scope="module")
def ran() -> SimulationResult:
    spec = load_model(MODELS / "quorum_stale_read.toml", SMALL)
    return simulate(spec, reps=2, seed=1)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _same_value(left: object, right: object) -> bool:
    """Equal, and of the same kind (a bool, an integer or a float: ``--json`` prints each its way);
    a missing value (None or NaN) matches a missing one."""
    if _missing(left) or _missing(right):
        return _missing(left) and _missing(right)
    kinds = (bool, float)
    return left == right and [isinstance(left, k) for k in kinds] == [isinstance(right, k) for k in kinds]


def _render_both(result: ComparisonResult | SimulationResult) -> None:
    frame, rows = result.to_frame(), result.to_rows()
    assert len(rows) == len(frame) and list(rows[0]) == list(frame.columns)
    for row, record in zip(rows, frame.to_dict(orient="records"), strict=True):
        assert all(_same_value(row[key], record[key]) for key in record), (row, record)
    assert shown_metrics(rows) == shown_metrics(frame)
    assert results_json(rows) == results_json(frame)
    assert results_json(rows, failed=0) == results_json(frame, failed=0)
    for metrics in (shown_metrics(frame), None, ("harm_rate", "latency_p99_ms", "error_budget_consumed")):
        assert comparison_table(rows, metrics) == comparison_table(frame, metrics)


def test_a_comparison_renders_the_same_from_rows_and_from_its_frame(compared: ComparisonResult) -> None:
    _render_both(compared)
    text = comparison_table(compared.to_rows(), shown_metrics(compared.to_rows()))
    assert "UNSTABLE lock" in text and "paired difference vs none" in text  # both parts were compared
    rows = compared.to_rows()
    assert [r["metric"] for r in rows if r["baseline"] == "none" and math.isnan(r["diff"])][:2] == [
        "latency_added_mean_ms", "latency_added_p99_ms"]


def test_a_comparison_against_another_baseline_renders_the_same(compared: ComparisonResult) -> None:
    other = ComparisonResult(compared.model, "cas", {k: v for k, v in compared.results.items() if k != "none"},
                             compared.seed)
    _render_both(other)
    assert "paired difference vs cas" in comparison_table(other.to_rows())


def test_a_run_renders_the_same_from_rows_and_from_its_frame(ran: SimulationResult) -> None:
    _render_both(ran)
    assert "diff" not in ran.to_rows()[0]


def test_text_table_is_pandas_to_string_on_the_tables_it_prints() -> None:
    index = ["[harm]", "  harm_rate", "  x"]
    rows = [["", ""], ["5.60% ± 1.7%", "none seen (< 13%)"], ["−945 µs ± 1,467 µs", ""]]
    for columns in (["none", "conditional_decrement"], ["a", "b"]):
        assert text_table(rows, index, columns) == pd.DataFrame(rows, index=index, columns=columns).to_string()
    assert text_table([], [], ["a", "b"]) == pd.DataFrame([], index=[], columns=["a", "b"]).to_string()


TEXT = st.text(st.sampled_from("ab ±×µ−%.,<()[]_\t\n\r9"), max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 4), st.integers(0, 4), st.data())
def test_text_table_is_pandas_to_string(n_rows: int, n_columns: int, data: st.DataObject) -> None:
    index = data.draw(st.lists(TEXT, min_size=n_rows, max_size=n_rows, unique=True))
    columns = data.draw(st.lists(TEXT.filter(bool), min_size=n_columns, max_size=n_columns, unique=True))
    rows = [data.draw(st.lists(TEXT, min_size=n_columns, max_size=n_columns)) for _ in range(n_rows)]
    expected = pd.DataFrame(rows, index=index, columns=columns).to_string()
    assert text_table(rows, index, columns) == expected
