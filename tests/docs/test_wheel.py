"""An installed wheel works outside the repository: bundled models by name, ``init``, ``compare``.

The wheel is built from a copy of the package's source (``pip wheel``), installed without
dependencies into a fresh virtual environment in a temporary folder, and run from there. The
dependencies (numpy, SimPy, ...) come from this environment through a ``.pth`` line instead of a
second download; ``.pth`` lines do not process the editable install's finder, so the package
itself can only come from the wheel, which the test checks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)})


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the fresh environment's bin folder, a working folder outside the repository)."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "toctou_sim", source / "toctou_sim", ignore=shutil.ignore_patterns("__pycache__"))
    built = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", base / "dist", source, cwd=base)
    if built.returncode != 0:
        pytest.skip(f"pip wheel could not build (no package index?): {built.stderr.strip()[-300:]}")
    (wheel,) = (base / "dist").glob("toctou_sim-*.whl")

    environment = base / "env"
    venv.create(environment, with_pip=False)
    python = environment / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_run(python, "-c", purelib, cwd=base).stdout.strip())
    (site / "toctou_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel, cwd=base)
    assert installed.returncode == 0, installed.stderr
    work = base / "work"
    work.mkdir()
    where = _run(python, "-c", "import toctou_sim; print(toctou_sim.__file__)", cwd=work).stdout.strip()
    assert Path(where).is_relative_to(site), where
    return environment / "bin", work


def test_models_lists_the_packaged_models(installed: tuple[Path, Path]) -> None:
    bin_dir, work = installed
    result = _run(bin_dir / "toctou-sim", "models", cwd=work)
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == sorted(p.stem for p in (ROOT / "toctou_sim" / "models").glob("*.toml"))


def test_compare_runs_a_bundled_model_by_name(installed: tuple[Path, Path]) -> None:
    bin_dir, work = installed
    # --engine des: the wheel's own copy of the kernel would compile anew (a minute); packaging is
    # what is tested here, the engines are tested in place.
    result = _run(bin_dir / "toctou-sim", "compare", "flash_sale", "--reps", "2", "--set", "model.horizon=5s",
                  "--set", "model.warmup=0", "--engine", "des", "--json", cwd=work)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["results"]
    strategies = {row["strategy"] for row in rows}  # the default set: none and the model's own strategies
    assert "none" in strategies and len(strategies) >= 2


def test_init_writes_a_model_the_installed_package_runs(installed: tuple[Path, Path]) -> None:
    bin_dir, work = installed
    result = _run(bin_dir / "toctou-sim", "init", "--invariant", "exists", "--read-path", "replica", cwd=work)
    assert result.returncode == 0, result.stderr
    assert (work / "model.toml").is_file()
    result = _run(bin_dir / "toctou-sim", "run", "model.toml", "--reps", "1", "--set", "model.horizon=2s",
                  "--set", "model.warmup=0", cwd=work)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("model: strategy none")


def test_the_page_templates_ship_in_the_wheel(installed: tuple[Path, Path]) -> None:
    """report.html and sweep.html render from templates that are package data: the installed wheel
    loads and renders them (escaping) without the repository."""
    bin_dir, work = installed
    script = ("import pandas as pd; from toctou_sim.reporting.page import environment, render_sweep; "
              "print(sorted(environment().list_templates())); "
              "print(render_sweep(title='<b>t</b>', parameters=[], strategies=['none'], "
              "headline=pd.DataFrame([{'strategy': 'none'}]), charts=[]))")
    result = _run(bin_dir / "python", "-c", script, cwd=work)
    assert result.returncode == 0, result.stderr
    first, page = result.stdout.split("\n", 1)
    assert first == "['_macros.html.j2', 'report.html.j2', 'sweep.html.j2']"
    assert "<h1>Sweep: &lt;b&gt;t&lt;/b&gt;</h1>" in page and "<td>none</td>" in page
