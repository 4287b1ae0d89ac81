"""PNG plots of the report: an R-matrix heatmap per run, a forgetting bar chart with CI whiskers, and for a run
scored after every training phase (``replay-train --score-phases``) each language's score across the phases.

The heatmaps of one report share one colour scale (:func:`heatmap_scale`), so a colour means the same value
in every run's picture.

matplotlib with the Agg backend (no display needed); each file is written to a temporary name in its
folder and renamed, like every cstool output.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from cstool.continual.forgetting import orient
from cstool.io import atomic

if TYPE_CHECKING:
    from cstool.continual.rmatrix import Run


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> None:
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png", metadata={"Software": None})


def heatmap_scale(runs: Sequence[Run], metric: str) -> tuple[float, float] | None:
    """(lowest, highest) raw value of ``metric`` over every run's R matrix; None when there is none."""
    values = [v for r in runs for row in r.matrices.get(metric, []) for v in row if v is not None and math.isfinite(v)]
    return (min(values), max(values)) if values else None


def plot_rmatrix(
    run: Run, metric: str, path: str | os.PathLike, scale: tuple[float, float] | None = None
) -> tuple[float, float] | None:
    """Heatmap of ``run``'s raw R matrix for ``metric``: rows = after task, columns = eval task. ``scale``:
    the colour range (default: this run's own); returns the range used."""
    import numpy as np

    plt = _pyplot()
    values = np.array([[np.nan if v is None else v for v in row] for row in run.matrices[metric]], dtype=float)
    n = len(run.tasks)
    lower_is_better = orient(metric)[0] < 0
    fig, ax = plt.subplots(figsize=(1.2 * n + 2.5, 1.0 * n + 1.8))
    cmap = plt.get_cmap("viridis_r" if lower_is_better else "viridis").with_extremes(bad="lightgrey")
    scale = scale or heatmap_scale([run], metric)
    lo, hi = scale if scale else (None, None)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, aspect="auto", vmin=lo, vmax=hi)
    ax.set_xticks(range(n), run.tasks)
    ax.set_yticks(range(n), run.tasks)
    ax.set_xlabel("evaluated on")
    ax.set_ylabel("after training on")
    middle = (lo + hi) / 2 if scale else 0.0
    for i in range(n):
        for j in range(n):
            v = values[i, j]
            text = "—" if np.isnan(v) else f"{v:.3g}"
            dark = not np.isnan(v) and ((v > middle) == lower_is_better)
            ax.text(j, i, text, ha="center", va="center", fontsize=9, color="white" if dark else "black")
    better = "lower" if lower_is_better else "higher"
    ax.set_title(
        f"{run.name}: {metric} ({better} is better)\n{run.strategy}, cs={run.cs}, seed={run.seed}", fontsize=10
    )
    fig.colorbar(image, ax=ax, label=f"{metric} (one scale for every run of the report)")
    _save(fig, path)
    plt.close(fig)
    return scale


def plot_forgetting(summary: pa.Table, score: str, path: str | os.PathLike) -> None:
    """Bar chart of Forgetting (on ``score``) per strategy, one bar per cs setting, 95 % CI whiskers."""
    import numpy as np

    plt = _pyplot()
    rows = [d for d in summary.to_pylist() if d["metric"] == "Forgetting" and d["score"] == score]
    strategies = list(dict.fromkeys(d["strategy"] for d in rows))
    cs_values = list(dict.fromkeys(d["cs"] for d in rows))
    width = 0.8 / max(1, len(cs_values))
    fig, ax = plt.subplots(figsize=(1.6 * max(2, len(strategies)) + 2, 3.8))
    for k, cs in enumerate(cs_values):
        lookup = {d["strategy"]: d for d in rows if d["cs"] == cs}
        means = [np.nan if lookup.get(s, {}).get("mean") is None else lookup[s]["mean"] for s in strategies]
        errs = [0.0 if lookup.get(s, {}).get("ci95") is None else lookup[s]["ci95"] for s in strategies]
        x = np.arange(len(strategies)) + (k - (len(cs_values) - 1) / 2) * width
        ax.bar(x, means, width, yerr=errs, capsize=4, label=f"cs={cs}")
    many = len(strategies) > 6  # long variant labels would overlap side by side
    ax.set_xticks(range(len(strategies)), strategies, rotation=30 if many else 0, ha="right" if many else "center")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_ylabel(f"Forgetting on {score} (lower is better)")
    ax.set_title("Forgetting per strategy (mean ± 95 % CI over seeds)", fontsize=10)
    if not rows:
        ax.text(0.5, 0.5, "no run has a Forgetting value (1-task runs)", transform=ax.transAxes, ha="center")
    elif len(cs_values) > 1 or cs_values != ["none"]:
        ax.legend(fontsize=8)
    _save(fig, path)
    plt.close(fig)


def plot_phases(run: Run, metric: str, path: str | os.PathLike) -> None:
    """Each eval task's raw ``metric`` at every point ``run`` was scored (each training phase, then each task's
    end), one line per eval task; a dotted line marks where each task starts."""
    plt = _pyplot()
    points, values = run.phases, run.trajectory[metric]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(points) + 2.5), 3.8))
    x = list(range(len(points)))
    for task, ys in values.items():
        ax.plot(x, [math.nan if v is None else v for v in ys], marker="o", label=task)
    ax.set_xticks(x, [f"{t}: {p}" if p else f"{t}: end" for t, p in points], rotation=45, ha="right")
    for k in range(1, len(points)):
        if points[k][0] != points[k - 1][0]:
            ax.axvline(k - 0.5, color="grey", linestyle=":", linewidth=0.8)
    better = "lower" if orient(metric)[0] < 0 else "higher"
    ax.set_ylabel(f"{metric} ({better} is better)")
    ax.set_title(f"{run.name}: {metric} after each phase")
    ax.legend(title="eval task", fontsize="small")
    _save(fig, path)
    plt.close(fig)
