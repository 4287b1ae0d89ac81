"""report: replay-train runs → R matrices, continual-learning metrics, a comparison table and plots.

Reads the ``metrics`` artifact (``RUN_DIR/metrics.parquet``, long form ``(run, strategy, cs, seed,
after_task, eval_task, metric, value)``) of one or more runs, builds each run's R matrix per metric,
computes Last, Avg, BWT, FWT and Forgetting (:mod:`cstool.continual.forgetting`, scores oriented higher-is-better:
accuracy, −nll, −bpb), and summarises them per (strategy, cs) as mean ± 95 % CI over seeds.

With VQA accuracy, the answer normalisation the runs used (``--vqa-normalization``, from their provenance; runs
that differ are refused) is written below the Markdown table and into the report's provenance.

Writes to REPORT_DIR: ``summary.parquet`` (the ``summary`` artifact), ``summary.md`` (a Markdown table with
each metric in its natural direction and which way is better),
``rmatrix_<run>.png`` (a heatmap of each run's R matrix for the plotted metric), ``forgetting.png``
(Forgetting per strategy and cs, with 95 % CI whiskers) and, for each run scored after every training phase
(``replay-train --score-phases``), ``phases_<run>.png`` (each language's score across the phases). The files
appear together or not at all, and heatmaps an earlier report left for runs not in this one are removed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from cstool.base.errors import ConfigError
from cstool.base.fields import option
from cstool.continual import forgetting
from cstool.continual.rmatrix import Run, baseline_vectors, load_runs, read_baseline, summarize
from cstool.io import artifacts, atomic, paths

__all__ = ["ReportConfig", "ReportResult", "run"]

# The metric people read: VQA accuracy, else bits per byte (comparable across tokenizers), then the rest.
PLOT_PREFERENCE = ("accuracy", "bpb", "nll", "ppl")


@dataclass(frozen=True)
class ReportConfig:
    metric: str | None = option(
        None,
        "Metric of the terminal table and the plots: accuracy, bpb, nll or ppl (default: accuracy for VQA runs, "
        "else bits per byte; the first present in that order).",
    )
    all_metrics: bool = option(False, "Show a terminal table for every metric the runs have, not only --metric's.")
    markdown: bool = option(False, "Also print the table as Markdown on stdout (every metric).")
    fwt_baseline: str | None = option(
        None,
        "Scores artifact (cstool eval) of the model before training or of a random init: FWT is then GEM's, "
        "R[j-1][j] - baseline[j]; without it FWT's reference is R[0][j], the model after the anchor task.",
    )

    def __post_init__(self) -> None:
        problems = []
        if self.metric is not None and self.metric not in PLOT_PREFERENCE:
            problems.append(f"--metric must be one of {', '.join(PLOT_PREFERENCE)}, got {self.metric!r}")
        ConfigError.collect(problems, "see cstool report --help")


@dataclass(frozen=True)
class ReportResult:
    summary: pa.Table  # the summary artifact (summary.parquet)
    markdown: str  # summary.md
    files: list[Path]  # every file written, summary.parquet first
    metric: str  # the metric of the terminal table and the plots
    vqa_normalization: str | None  # how the runs' VQA accuracies normalised answers; None without VQA
    heatmap_scale: tuple[float, float] | None  # the one colour range of every heatmap

    def tables(self, *, all_metrics: bool = False) -> list[tuple[str, list[str], list[list[str]]]]:
        """(title, header, rows) of the terminal: the table of ``metric``, or of every metric."""
        return console_tables(self.summary, None if all_metrics else [self.metric])


def _fmt(mean: float | None, ci: float | None) -> str:
    if mean is None:
        return "—"
    return f"{mean:.3f} ± {ci:.3f}" if ci is not None else f"{mean:.3f}"


def summary_rows(summary: pa.Table, *, natural: bool = False) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the comparison table: one row per (strategy, cs, score), one column per metric.

    ``natural``: each metric in its own direction (bits per byte, not −bpb; see
    :func:`forgetting.natural`), the row named by the raw metric and which way its Last is better."""
    data = summary.to_pylist()
    keys: dict[tuple[str, str, str], dict[str, str]] = {}
    ns: dict[tuple[str, str, str], int] = {}
    for d in data:
        label, mean = d["score"], d["mean"]
        if natural:
            metric, sign, _ = forgetting.natural(d["score"], d["metric"])
            label = f"{metric} ({forgetting.natural(d['score'], 'Last')[2]} is better)"
            mean = None if mean is None else sign * mean + 0.0  # + 0.0: no "-0.000"
        key = (d["strategy"], d["cs"], label)
        keys.setdefault(key, {})[d["metric"]] = _fmt(mean, d["ci95"])
        ns[key] = max(ns.get(key, 0), d["n"])
    header = ["strategy", "cs", "metric" if natural else "score", *forgetting.CL_METRICS, "seeds"]
    return header, [[*k, *(v.get(m, "—") for m in forgetting.CL_METRICS), str(ns[k])] for k, v in keys.items()]


DIRECTIONS = (
    "Each metric in its own direction: Last and Avg are the metric itself (accuracy: higher is better; nll, bpb "
    "and ppl: lower is better). BWT is its change on earlier tasks from when each was learnt to the end, FWT "
    "its change on each next task from training on the earlier ones, both in the metric's units (for a "
    "lower-is-better metric a negative change is good). Forgetting is how far each earlier task ends below its "
    "best, in the metric's units: lower is better, 0 is nothing forgotten. Mean ± 95 % CI over seeds."
)


def console_tables(
    summary: pa.Table, metrics: Sequence[str] | None = None
) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) per score, narrow enough for an 80-column terminal: the scores of ``metrics`` (raw
    metric names: bpb, accuracy, …; None: every score), in that order, each metric in its natural direction
    (as in summary.md). A metric's table has only the columns reported over it (no BWT or FWT over perplexity)."""
    header, rows = summary_rows(summary)
    natural = summary_rows(summary, natural=True)[1]  # the same rows in the same order, values in natural direction
    tasks = summary.column("tasks")[0].as_py() if summary.num_rows else ""
    present = list(dict.fromkeys(r[2] for r in rows))
    by_score = {forgetting.orient(m)[1]: m for m in PLOT_PREFERENCE}
    scores = present if metrics is None else [forgetting.orient(m)[1] for m in metrics]
    tables = []
    for score in (s for s in scores if s in present):
        shown = forgetting.cl_metrics(by_score.get(score, ""))
        cols = [header.index(m) for m in shown]
        metric, _, better = forgetting.natural(score, "Last")
        tables.append(
            (
                f"{tasks} · {metric} ({better} is better) · mean ± 95 % CI over n seeds",
                ["strategy", "n", *shown],
                [
                    [f"{r[0]}\ncs={r[1]}", r[-1], *(nat[i].replace(" ± ", "\n±") for i in cols)]
                    for r, nat in zip(rows, natural)
                    if r[2] == score
                ],
            )
        )
    return tables


def per_task_rows(runs: Sequence[Run], metric: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the per-language table: per (strategy, cs) and task, the final ``metric`` (raw, its own
    direction) and the forgetting on that task, each as mean ± 95 % CI over seeds."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        if metric in r.matrices:
            groups.setdefault((r.strategy, r.cs), []).append(r)
    sign, _ = forgetting.orient(metric)
    rows = []
    for (strategy, cs), members in groups.items():
        per_run = [forgetting.per_task(r.scores(metric)) for r in members]
        for j, task in enumerate(members[0].tasks):
            finals = [sign * p[j][0] for p in per_run if p[j][0] is not None]
            forgot = [p[j][1] for p in per_run if p[j][1] is not None]
            final_mean, final_ci, n = forgetting.mean_ci95(finals)
            forgot_mean, forgot_ci, _ = forgetting.mean_ci95(forgot)
            rows.append([strategy, cs, task, _fmt(final_mean, final_ci), _fmt(forgot_mean, forgot_ci), str(n)])
    better = "higher" if sign > 0 else "lower"
    return ["strategy", "cs", "task", f"final {metric} ({better} is better)", "Forgetting", "seeds"], rows


def markdown_table(
    summary: pa.Table,
    vqa_normalization: str | None = None,
    runs: Sequence[Run] = (),
    metric: str | None = None,
    fwt_baseline: str | None = None,
) -> str:
    """The comparison table, then (given ``runs`` and ``metric``) the per-language one; with VQA accuracy, a
    line below them says how answers were normalised."""
    header, rows = summary_rows(summary, natural=True)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", DIRECTIONS]
    if fwt_baseline is not None:
        lines += ["", f"FWT is GEM's: R[j-1][j] minus the baseline scores in {fwt_baseline} (--fwt-baseline)."]
    else:
        lines += ["", "FWT is R[j-1][j] - R[0][j] (row 0: after the anchor task), not GEM's; give --fwt-baseline."]
    lines += ["Forgetting is Chaudhry et al. (2018): the drop from each task's best earlier score."]
    if runs and metric is not None:
        header, rows = per_task_rows(runs, metric)
        lines += ["", f"Per language ({metric}, after the last task):", ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    if vqa_normalization is not None:
        lines += ["", f"VQA accuracy with answer normalisation: {vqa_normalization} (--vqa-normalization)."]
    return "\n".join(lines) + "\n"


def vqa_normalization(runs: Sequence[Run]) -> str | None:
    """How the runs' VQA accuracies normalised answers (load_runs refuses runs that differ); None without VQA."""
    return next((r.vqa_normalization for r in runs if r.vqa_normalization is not None), None)


def plot_metric(runs: Sequence[Run], wanted: str | None) -> str:
    available = set().union(*(r.matrices for r in runs))
    if wanted is not None:
        if wanted not in available:
            raise ConfigError(
                f"--metric {wanted}: the runs have only {', '.join(sorted(available))}", "choose one of those"
            )
        return wanted
    return next(m for m in PLOT_PREFERENCE if m in available)


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "run"


# ---------------------------------------------------------------------------------------------------------
# The report stage


def run(config: ReportConfig, *, runs: Sequence[str | os.PathLike], output: str | os.PathLike) -> ReportResult:
    """Read the runs, write the report files into the folder ``output``.

    Every input is read and checked before anything is written, so a bad input leaves no output.
    """
    from cstool.continual.plots import heatmap_scale, plot_forgetting, plot_phases, plot_rmatrix

    paths.check_outputs({"-o": output}, {"RUNS": list(runs)}, folders=["-o"])
    if config.fwt_baseline is not None:
        paths.check_outputs({"-o": output}, {"--fwt-baseline": config.fwt_baseline}, folders=["-o"])
    loaded, sources = load_runs(runs)
    metric = plot_metric(loaded, config.metric)
    baselines = None
    if config.fwt_baseline is not None:
        values, src = read_baseline(config.fwt_baseline)
        baselines = baseline_vectors(loaded, values, config.fwt_baseline)
        sources = [*sources, src]
    summary = summarize(loaded, baselines)
    normalization = vqa_normalization(loaded)
    md = markdown_table(summary, normalization, loaded, metric, config.fwt_baseline)
    out = Path(output)
    prov = artifacts.make_provenance(
        "report",
        options={**artifacts.jsonable(config), "plot_metric": metric, "vqa_normalization": normalization},
        inputs=sources,
    )
    names = {r.name: safe_name(r.name) for r in loaded}
    if len(set(names.values())) < len(names):
        names = {r.name: f"{safe_name(r.name)}_{k}" for k, r in enumerate(loaded)}
    files = [out / "summary.parquet", out / "summary.md", out / "forgetting.png"]
    files += [out / f"rmatrix_{names[r.name]}.png" for r in loaded]
    phased = [r for r in loaded if metric in r.trajectory]  # runs scored after every phase (--score-phases)
    files += [out / f"phases_{names[r.name]}.png" for r in phased]
    # the report appears whole or not at all; heatmaps an earlier report wrote (its manifest) and no longer
    # writes are removed, and no other file
    with atomic.folder_files(out, "report") as place:
        artifacts.write_table(place(files[0]), summary, kind="summary", provenance=prov)
        atomic.write_text(place(files[1]), md)
        plot_forgetting(summary, forgetting.orient(metric)[1], place(files[2]))
        scale = heatmap_scale(loaded, metric)  # one colour scale across the report's heatmaps
        for r, path in zip(loaded, files[3 : 3 + len(loaded)]):
            plot_rmatrix(r, metric, place(path), scale)
        for r, path in zip(phased, files[3 + len(loaded) :]):
            plot_phases(r, metric, place(path))
    return ReportResult(
        summary=summary, markdown=md, files=files, metric=metric, vqa_normalization=normalization, heatmap_scale=scale
    )
