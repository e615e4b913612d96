"""The notebooks run top to bottom with small settings (``TOCTOU_SIM_FAST=1``), and every chart
cell shows its chart: an ``image/png`` output, as Jupyter's inline backend produces it."""

from __future__ import annotations

import os
import re

import nbformat
import pytest
from conftest import ROOT
from nbclient import NotebookClient
from unwritten import preamble

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
DRAWS = re.compile(r"plt\.show\(\)|display\(Image|plots\.plot_|\.plot\(")
REQUIRED_CHARTS = {"04_eventual_consistency": ("geo_quorum_three_regions",)}
"""Per notebook, texts that a chart cell with an image must contain (a chart that must be there)."""


SHOWN = re.compile(r"(\w+)\.png")
"""Chart file names in a chart cell (``out / "verdict.png"``): the report charts a notebook shows.
Before the notebook runs, its kernel is told to build the other charts a report writes to its
bundle without rendering them, and to render the PNG only of those it shows (``unwritten.preamble``):
the bundle's charts are the subject of ``tests/models/test_report.py``, which renders and checks
every one in both formats; the chart cells' images are rendered and checked here."""


def _images(cell: nbformat.NotebookNode) -> int:
    return sum("image/png" in output.get("data", {}) for output in cell.get("outputs", []))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_shows_its_charts(path, monkeypatch) -> None:
    monkeypatch.setenv("TOCTOU_SIM_FAST", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's own (inline) backend, as in Jupyter
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.get("outputs") for cell in code), "commit notebooks without outputs"
    charts = [cell for cell in code if "chart" in cell.metadata.get("tags", [])]
    untagged = [cell.source.splitlines()[0] for cell in code if DRAWS.search(cell.source) and cell not in charts]
    assert not untagged, f"cells that draw need the 'chart' tag: {untagged}"
    shown = sorted({stem for cell in charts for stem in SHOWN.findall(cell.source)})
    notebook.cells.insert(0, nbformat.v4.new_code_cell(preamble(shown, svg=False)))
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    assert os.environ["TOCTOU_SIM_FAST"] == "1"
    blank = [cell.source.splitlines()[0] for cell in charts if _images(cell) == 0]
    assert not blank, f"{path.name}: chart cells with no image output: {blank}"
    for needle in REQUIRED_CHARTS.get(path.stem, ()):
        assert any(needle in cell.source and _images(cell) for cell in charts), f"{path.name}: no chart of {needle}"
