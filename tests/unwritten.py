"""Charts built but not rendered, for tests whose subject is not the pictures.

No pytest here: a notebook's kernel and a ``toctou-sim`` subprocess load it as well (see
:func:`install`); in the test process, ``conftest.unwritten_charts`` uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def unwritten_save(keep: Iterable[str] = (), svg: bool = True) -> Callable[..., list[Path]]:
    """A stand-in for ``plots.save`` that closes the figure and leaves empty ``.png``/``.svg``
    files where it would have written them; charts named in ``keep`` (file stems) are rendered as
    usual (``svg=False``: their PNG only, as ``plots.save`` writes it, and an empty SVG). Rendering
    is about a second of CPU per chart and format."""
    import matplotlib.pyplot as plt

    from toctou_sim.reporting import plots

    rendered = plots.save
    kept = frozenset(keep)

    def unwritten(fig: Any, stem: str | Path, dpi: int = 110, close: bool = False) -> list[Path]:
        if Path(stem).name in kept:
            if not svg:
                savefig = fig.savefig

                def png_only(path: Any, *args: Any, **kwargs: Any) -> None:
                    if Path(path).suffix == ".svg":
                        Path(path).touch()
                    else:
                        savefig(path, *args, **kwargs)

                fig.savefig = png_only
            return rendered(fig, stem, dpi=dpi, close=close)
        plt.close(fig)
        paths = [Path(stem).with_suffix(".png"), Path(stem).with_suffix(".svg")]
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        return paths

    return unwritten


def install(keep: Iterable[str] = (), svg: bool = True) -> None:
    """Replace ``plots.save`` in this process for good (a kernel or a subprocess of one test)."""
    from toctou_sim.reporting import plots

    plots.save = unwritten_save(keep, svg)  # type: ignore[assignment]


def preamble(keep: Iterable[str] = (), svg: bool = True) -> str:
    """Python source that makes the process running it leave its charts unwritten (but ``keep``)."""
    tests = str(Path(__file__).resolve().parent)
    return (f"import sys; sys.path.insert(0, {tests!r}); import unwritten; sys.path.remove({tests!r}); "
            f"unwritten.install({sorted(keep)!r}, svg={svg!r})")
