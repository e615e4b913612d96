"""The suite's own layout: every test module lives in the directory of its kind, and the
documentation's table of those directories is the one on disk."""

from __future__ import annotations

from conftest import ROOT

TESTS = ROOT / "tests"
KINDS = {
    "unit": "one layer at a time: specs, statistics, recorder, plugins, CLI, sweeps, the import graph",
    "timelines": "mechanisms as exact SimPy-style timelines with constant delays",
    "properties": "invariants over random configurations (hypothesis) and exhaustive exploration",
    "theory": "the simulator against closed forms, and the fast engine against the DES engine",
    "models": "bundled models end to end: the guide's findings, verdicts, reports, golden numbers",
    "docs": "what the documentation promises: README and docs examples, notebooks, the wheel, the site",
}


def test_every_test_module_is_in_the_directory_of_its_kind() -> None:
    stray = sorted(p.name for p in TESTS.glob("test_*.py"))
    assert not stray, f"test modules outside a kind directory: {stray}"
    kinds = {p.parent.name for p in TESTS.glob("*/test_*.py")}
    assert kinds == set(KINDS), kinds
    deeper = sorted(str(p.relative_to(TESTS)) for p in TESTS.glob("*/*/test_*.py"))
    assert not deeper, deeper


def test_the_architecture_page_lists_the_directories() -> None:
    page = (ROOT / "docs" / "explanation" / "architecture.md").read_text(encoding="utf-8")
    for kind in KINDS:
        assert f"`tests/{kind}/`" in page, kind
