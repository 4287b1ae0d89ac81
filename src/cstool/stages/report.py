"""report: replay-train runs → R matrices, continual-learning metrics, a comparison table and plots.

Reads the ``metrics`` artifact (``RUN_DIR/metrics.parquet``, long form ``(run, strategy, cs, seed,
after_task, eval_task, metric, value)``) of one or more runs, builds each run's R matrix per metric,
computes Last, Avg, BWT, FWT and Forgetting (:mod:`cstool.forgetting`, scores oriented higher-is-better:
accuracy, −nll, −bpb), and summarises them per (strategy, cs) as mean ± 95 % CI over seeds.

Writes to REPORT_DIR: ``summary.parquet`` (the ``summary`` artifact), ``summary.md`` (a Markdown table),
``rmatrix_<run>.png`` (a heatmap of each run's R matrix for the plotted metric) and ``forgetting.png``
(Forgetting per strategy and cs, with 95 % CI whiskers). Every file is written atomically.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from cstool import artifacts, forgetting
from cstool.errors import ConfigError, InputError, SchemaError

PLOT_PREFERENCE = ("accuracy", "bpb", "nll", "ppl")


@dataclass(frozen=True)
class ReportConfig:
    metric: str | None = None  # raw metric to plot (default: accuracy, else bpb, else nll)
    markdown: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.metric is not None and self.metric not in PLOT_PREFERENCE:
            problems.append(f"--metric must be one of {', '.join(PLOT_PREFERENCE)}, got {self.metric!r}")
        ConfigError.collect(problems, "see cstool report --help")


@dataclass(frozen=True)
class Run:
    """One run's R matrices: ``matrices[metric][i][j]`` = raw value on tasks[j] after tasks[i] (or None)."""

    name: str
    strategy: str
    cs: str
    seed: int
    tasks: tuple[str, ...]
    matrices: dict[str, list[list[float | None]]]
    source: str

    def scores(self, metric: str) -> list[list[float | None]]:
        """The R matrix of ``metric`` oriented so that higher is better."""
        sign, _ = forgetting.orient(metric)
        return [[None if v is None else sign * v for v in row] for row in self.matrices[metric]]


# ---------------------------------------------------------------------------------------------------------
# Reading


def metrics_path(spec: str | os.PathLike) -> Path:
    p = Path(spec)
    path = p / "metrics.parquet" if p.is_dir() else p
    if not path.is_file():
        raise InputError(f"no metrics file at {path}", "give a RUN_DIR written by cstool replay-train (it holds metrics.parquet)")
    return path


def read_metrics(spec: str | os.PathLike) -> tuple[pa.Table, artifacts.Source]:
    """Read and check one run's metrics artifact (columns and types of this cstool's ``metrics`` schema)."""
    path = metrics_path(spec)
    src = artifacts.open_source(path)
    kind = (src.schema.metadata or {}).get(artifacts.KIND_KEY, b"").decode()
    written_by = (src.provenance or {}).get("cstool_version")
    try:
        if kind and kind != "metrics":
            raise SchemaError(f"{path} is a '{kind}' artifact, not a replay-train metrics file", "")
        artifacts.require_columns(src.schema, "metrics", stage="report")
    except SchemaError as e:
        from cstool import __version__

        by = f" (written by cstool {written_by})" if written_by and written_by != __version__ else ""
        raise SchemaError(
            f"{path} does not match the metrics schema of cstool {__version__}{by}: {e.message}",
            "re-run its replay-train with this cstool, or report it with the cstool version that wrote it",
        ) from None
    table = src.read_all().select(artifacts.METRICS.names)
    if table.num_rows == 0:
        raise InputError(f"{path} holds no metrics", "the run recorded nothing; run replay-train until a task completes")
    return table, src


def build_runs(table: pa.Table, source: str) -> list[Run]:
    """One Run per ``run`` value. Task order = order of first appearance of ``after_task``; a repeated
    (after_task, eval_task, metric) keeps its last value (a resumed run re-measured it)."""
    cols = {name: table.column(name).to_pylist() for name in table.schema.names}
    by_run: dict[str, list[int]] = {}
    for i, run in enumerate(cols["run"]):
        by_run.setdefault(run, []).append(i)
    runs = []
    for name, rows in by_run.items():
        ident = {(cols["strategy"][i], cols["cs"][i], cols["seed"][i]) for i in rows}
        if len(ident) > 1:
            raise InputError(f"run {name} in {source} has several (strategy, cs, seed): {sorted(ident)}",
                             "give each run its own name")
        strategy, cs, seed = ident.pop()
        tasks: list[str] = []
        for i in rows:
            if cols["after_task"][i] not in tasks:
                tasks.append(cols["after_task"][i])
        extra = sorted({cols["eval_task"][i] for i in rows} - set(tasks))
        if extra:
            raise InputError(f"run {name} in {source} evaluates tasks {extra} that are not in its sequence {tasks}",
                             "every eval_task must be a task of the run's sequence")
        index = {t: k for k, t in enumerate(tasks)}
        matrices: dict[str, list[list[float | None]]] = {}
        for i in rows:
            metric = cols["metric"][i]
            try:
                forgetting.orient(metric)
            except KeyError:
                continue  # counts such as tokens/examples are not scores
            m = matrices.setdefault(metric, [[None] * len(tasks) for _ in tasks])
            v = cols["value"][i]
            m[index[cols["after_task"][i]]][index[cols["eval_task"][i]]] = None if v is None or math.isnan(v) else v
        if not matrices:
            raise InputError(f"run {name} in {source} has no score metrics (accuracy, nll, bpb or ppl)",
                             "the metrics file must hold R-matrix rows")
        runs.append(Run(name, strategy, cs, int(seed), tuple(tasks), matrices, source))
    return runs


def load_runs(specs: Sequence[str | os.PathLike]) -> tuple[list[Run], list[artifacts.Source]]:
    """Every run in ``specs``; refuses duplicate runs and runs whose task sequences differ."""
    if not specs:
        raise InputError("no runs given", "give one or more RUN_DIRs written by cstool replay-train")
    runs: list[Run] = []
    sources = []
    for spec in specs:
        table, src = read_metrics(spec)
        runs += build_runs(table, str(metrics_path(spec)))
        sources.append(src)
    seen: dict[object, Run] = {}
    for r in runs:
        for key in (("name", r.name), ("ident", r.strategy, r.cs, r.seed)):
            if key in seen:
                other = seen[key]
                raise InputError(
                    f"runs {other.name} ({other.source}) and {r.name} ({r.source}) are the same "
                    f"strategy={r.strategy}, cs={r.cs}, seed={r.seed}" if key[0] == "ident"
                    else f"run name {r.name} appears in both {other.source} and {r.source}",
                    "give each run once; seeds of one configuration must differ",
                )
            seen[key] = r
    sequences: dict[tuple[str, ...], list[str]] = {}
    for r in runs:
        sequences.setdefault(r.tasks, []).append(r.name)
    if len(sequences) > 1:
        groups = "; ".join(f"{'→'.join(t)}: {', '.join(names)}" for t, names in sequences.items())
        raise InputError(f"the runs have different task sequences ({groups})",
                         "report runs of one task sequence together; run cstool report once per sequence")
    return runs, sources


# ---------------------------------------------------------------------------------------------------------
# Summary


def summarize(runs: Sequence[Run]) -> pa.Table:
    """The ``summary`` table: per (strategy, cs, score, metric), mean ± 95 % CI over the runs' seeds."""
    groups: dict[tuple[str, str, str], list[Run]] = {}
    for r in runs:
        for metric in r.matrices:
            groups.setdefault((r.strategy, r.cs, metric), []).append(r)
    rows: dict[str, list] = {name: [] for name in artifacts.SUMMARY.names}
    for (strategy, cs, metric), members in sorted(groups.items()):
        per_run = [(r, forgetting.all_metrics(r.scores(metric))) for r in sorted(members, key=lambda r: r.seed)]
        for name in forgetting.METRICS:
            values = [(r.name, m[name]) for r, m in per_run if m[name] is not None]
            mean, ci, n = forgetting.mean_ci95([v for _, v in values])
            rows["tasks"].append("→".join(members[0].tasks))
            rows["strategy"].append(strategy)
            rows["cs"].append(cs)
            rows["score"].append(forgetting.orient(metric)[1])
            rows["metric"].append(name)
            rows["mean"].append(mean)
            rows["ci95"].append(ci)
            rows["n"].append(n)
            rows["runs"].append([name for name, _ in values])
    return pa.table(rows, schema=artifacts.SUMMARY)


def _fmt(mean: float | None, ci: float | None) -> str:
    if mean is None:
        return "—"
    return f"{mean:.3f} ± {ci:.3f}" if ci is not None else f"{mean:.3f}"


def summary_rows(summary: pa.Table) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the comparison table: one row per (strategy, cs, score), one column per metric."""
    data = summary.to_pylist()
    keys: dict[tuple[str, str, str], dict[str, str]] = {}
    ns: dict[tuple[str, str, str], int] = {}
    for d in data:
        key = (d["strategy"], d["cs"], d["score"])
        keys.setdefault(key, {})[d["metric"]] = _fmt(d["mean"], d["ci95"])
        ns[key] = max(ns.get(key, 0), d["n"])
    header = ["strategy", "cs", "score", *forgetting.METRICS, "seeds"]
    return header, [[*k, *(v.get(m, "—") for m in forgetting.METRICS), str(ns[k])] for k, v in keys.items()]


def console_tables(summary: pa.Table) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) per score, narrow enough for an 80-column terminal."""
    header, rows = summary_rows(summary)
    tasks = summary.column("tasks")[0].as_py() if summary.num_rows else ""
    scores = list(dict.fromkeys(r[2] for r in rows))
    return [
        (f"{tasks} · score {score} (higher is better) · mean ± 95 % CI over n seeds",
         ["strategy", "cs", "n", *forgetting.METRICS],
         [[r[0], r[1], r[-1], *(v.replace(" ± ", "\n±") for v in r[3:-1])] for r in rows if r[2] == score])
        for score in scores
    ]


def markdown_table(summary: pa.Table) -> str:
    header, rows = summary_rows(summary)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def plot_metric(runs: Sequence[Run], wanted: str | None) -> str:
    available = set().union(*(r.matrices for r in runs))
    if wanted is not None:
        if wanted not in available:
            raise ConfigError(f"--metric {wanted}: the runs have only {', '.join(sorted(available))}",
                              "choose one of those")
        return wanted
    return next(m for m in PLOT_PREFERENCE if m in available)


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "run"


# ---------------------------------------------------------------------------------------------------------
# The report stage


def report(*, runs: Sequence[str | os.PathLike], output_dir: str | os.PathLike, config: ReportConfig) -> dict:
    """Read the runs, write the report files into ``output_dir``; return {"summary", "markdown", "files"}.

    Every input is read and checked before anything is written, so a bad input leaves no output.
    """
    from cstool.plots import plot_forgetting, plot_rmatrix

    loaded, sources = load_runs(runs)
    metric = plot_metric(loaded, config.metric)
    summary = summarize(loaded)
    md = markdown_table(summary)
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"cannot write the report to {out}: it is a file", "give a folder for -o")
    artifacts.check_writable(out / "summary.parquet")
    prov = artifacts.make_provenance("report", options={**artifacts.jsonable(config), "plot_metric": metric},
                                     inputs=sources)
    names = {r.name: safe_name(r.name) for r in loaded}
    if len(set(names.values())) < len(names):
        names = {r.name: f"{safe_name(r.name)}_{k}" for k, r in enumerate(loaded)}
    files = [out / "summary.parquet", out / "summary.md", out / "forgetting.png"]
    artifacts.write_table(files[0], summary, kind="summary", provenance=prov)
    _write_text(files[1], md)
    plot_forgetting(summary, forgetting.orient(metric)[1], files[2])
    for r in loaded:
        path = out / f"rmatrix_{names[r.name]}.png"
        plot_rmatrix(r, metric, path)
        files.append(path)
    return {"summary": summary, "markdown": md, "files": files, "metric": metric}


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
