"""Learning-curve figures: per curve, the IQM over seeds of the greedy test return against env steps,
and its 95% bootstrap band (:func:`marlzoo.bench.stats.iqm_band`).

Figures are PNG, SVG or PDF, written atomically (a temp file, then a rename) and without dates in
their metadata, so the same runs draw the same file. matplotlib comes with ``pip install
"marlzoo[plots]"``.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from marlzoo.bench.runs import align, common_title, find_runs, group_runs
from marlzoo.bench.stats import iqm_band
from marlzoo.errors import UserError

FORMATS = ("png", "svg", "pdf")
BAND = "95% bootstrap CI of the IQM over seeds"
# No creation dates or software versions in the files: the same curves give the same bytes.
_METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
             "pdf": {"CreationDate": None, "Creator": None, "Producer": None}}
# Text stays text in SVG (editable, searchable) and PDF fonts are embedded as TrueType, not Type 3
# (which some venues refuse); fixed ids inside SVG files.
_RC = {"svg.fonttype": "none", "svg.hashsalt": "marlzoo", "pdf.fonttype": 42}


def pyplot() -> Any | None:
    """matplotlib's pyplot on the non-interactive Agg backend, or None if matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def check_format(path: Path) -> str:
    """The figure format named by ``path``'s suffix; another suffix is a :class:`UserError`."""
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise UserError(f"cannot draw {path}: name a .png, .svg or .pdf file")
    return fmt


def check_dpi(dpi: int) -> int:
    if dpi < 10 or dpi > 2400:
        raise UserError(f"--dpi must be between 10 and 2400, not {dpi}")
    return dpi


def draw_curves(series: Sequence[tuple[str, Sequence[np.ndarray]]], title: str, path: Path, dpi: int = 100) -> Path:
    """One figure of learning curves: ``series`` holds a label and its seeds' ``[n_evals, 2]`` curves.

    Each label gets the IQM over its seeds on the env steps they share, and the bootstrap band when it
    has two seeds or more.
    """
    plt = pyplot()
    if plt is None:
        raise UserError('drawing learning curves needs matplotlib: pip install "marlzoo[plots]"')
    check_format(path)
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        try:
            for label, curves in series:
                grid, values = align(curves)
                centre, low, high = iqm_band(values)
                n = len(curves)
                line, = ax.plot(grid, centre, label=f"{label} ({n} seed{'s' if n != 1 else ''})")
                if n > 1:
                    ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
            ax.set_xlabel("env steps")
            ax.set_ylabel("greedy test return (IQM over seeds)")
            ax.set_title(textwrap.fill(title, 60), fontsize="medium")
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small", title=f"band: {BAND}", title_fontsize="x-small")
            fig.tight_layout()
            save_figure(fig, path, dpi)
        finally:
            plt.close(fig)
    return path


def save_figure(fig: Any, path: Path, dpi: int) -> None:
    """Write ``fig`` to ``path`` atomically, in the format its suffix names, without dates in its metadata."""
    fmt = check_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fig.savefig(tmp, format=fmt, dpi=dpi, metadata=_METADATA[fmt])
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def plot_runs(paths: Sequence[str | Path], out: Path, dpi: int = 100, title: str | None = None) -> Path:
    """``marlzoo plot``: the learning curves of any runs in one figure, seeds of one config as one curve."""
    check_format(out)
    check_dpi(dpi)
    if pyplot() is None:
        raise UserError('marlzoo plot needs matplotlib: pip install "marlzoo[plots]"')
    groups = group_runs(find_runs(paths))
    series = [(g.label, [r.curve for r in g.runs]) for g in groups]
    return draw_curves(series, title or common_title(groups) or "learning curves", out, dpi)
