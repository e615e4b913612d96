"""The documentation site builds without a warning, and its generated reference is complete."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from toctou_sim.reporting.reference import metric_catalogue_markdown, model_file_markdown, model_file_sections
from toctou_sim.spec.model import ACTOR_SPECS, FAULT_SPECS, READ_PATH_SPECS, STRATEGY_SPECS
from toctou_sim.spec.schema import model_file_schema


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    """Every page, link, API object and CLI command resolves (strict: a warning fails the build)."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    model_file = (tmp_path / "site" / "reference" / "model-file" / "index.html").read_text()
    assert "read_latency" in model_file and "<!-- generated" not in model_file
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "toctou-sim init" in cli and "toctou-sim schema" in cli
    metrics = (tmp_path / "site" / "reference" / "metrics" / "index.html").read_text()
    assert "mismatch_rate" in metrics and "M10" in metrics


def test_every_page_in_the_nav_exists() -> None:
    import re

    nav = re.findall(r":\s*([\w/-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), flags=re.MULTILINE)
    assert len(nav) >= 14
    assert all((ROOT / "docs" / page).is_file() for page in nav)


def test_the_reference_lists_every_field_once() -> None:
    """Checked against the JSON Schema, generated from the same models by another path."""
    sections = model_file_sections()
    paths = [section.path for section in sections]
    assert len(paths) == len(set(paths))
    documented = {section.model.__name__: [row.name for row in section.rows] for section in sections}
    assert len(documented) == len(sections), "a table is described twice"
    schema = model_file_schema()
    definitions = schema["$defs"]
    for name, fields in documented.items():
        schema_fields = [f for f in definitions.get(name, schema).get("properties", {}) if f != "kind"]
        assert sorted(fields) == sorted(schema_fields), name
    for registry in (STRATEGY_SPECS, READ_PATH_SPECS, FAULT_SPECS, ACTOR_SPECS):
        for cls in registry.values():
            assert cls.__name__ in documented


def test_generated_markdown_has_one_row_per_field_and_metric() -> None:
    text = model_file_markdown()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    families = text.split("### Distributions")[1].count("\n| `")
    assert len(rows) - families == sum(len(section.rows) for section in model_file_sections())
    from toctou_sim.measure.catalogue import CATALOGUE

    metric_rows = [line for line in metric_catalogue_markdown().splitlines() if line.startswith("| `")]
    assert len(metric_rows) == len(CATALOGUE)
