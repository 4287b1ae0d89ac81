"""Runs as R matrices: reading replay-train ``metrics`` artifacts into :class:`Run` objects (one R matrix per
metric) and summarising runs per (strategy, cs) as mean ± 95 % CI over seeds of the metrics of
:mod:`cstool.continual.forgetting`."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from cstool.base.errors import InputError, SchemaError
from cstool.continual import forgetting
from cstool.io import artifacts

NOT_RECORDED = "not recorded"  # a run written before replay-train recorded --vqa-normalization


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
    vqa_normalization: str | None = None  # how its VQA accuracy normalised answers (from the run's provenance)
    probes: dict[tuple[str, str], list[float | None]] = dataclasses.field(default_factory=dict)
    # (probe, metric) → its value after each task: eval_tasks outside the sequence scored with probe metrics
    phases: tuple[tuple[str, str | None], ...] = ()
    # (after_task, phase) in the order scored: each training phase (--score-phases) and each task's end (None)
    trajectory: dict[str, dict[str, list[float | None]]] = dataclasses.field(default_factory=dict)
    # metric → eval_task → its raw value at each point of ``phases``; empty when the run scored no phases

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
        raise InputError(
            f"no metrics file at {path}", "give a RUN_DIR written by cstool replay-train (it holds metrics.parquet)"
        )
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
        required = [n for n in artifacts.METRICS.names if n != "phase"]  # older files have no phase column
        artifacts.require_columns(src.schema, "metrics", stage="report", columns=required)
    except SchemaError as e:
        from cstool import __version__

        by = f" (written by cstool {written_by})" if written_by and written_by != __version__ else ""
        raise SchemaError(
            f"{path} does not match the metrics schema of cstool {__version__}{by}: {e.message}",
            "re-run its replay-train with this cstool, or report it with the cstool version that wrote it",
        ) from None
    table = src.read_all()
    if "phase" not in table.schema.names:
        table = table.append_column("phase", pa.nulls(table.num_rows, pa.string()))
    table = table.select(artifacts.METRICS.names)
    if table.num_rows == 0:
        raise InputError(
            f"{path} holds no metrics", "the run recorded nothing; run replay-train until a task completes"
        )
    return table, src


def build_runs(table: pa.Table, source: str) -> list[Run]:
    """One Run per ``run`` value. Task order = order of first appearance of ``after_task``; a repeated
    (after_task, eval_task, metric) keeps its last value (a resumed run re-measured it)."""
    cols = {name: table.column(name).to_pylist() for name in table.schema.names}
    by_run: dict[str, list[int]] = {}
    phases = cols.get("phase") or [None] * len(cols["run"])
    for i, run in enumerate(cols["run"]):
        if phases[i] is None:  # rows of a phase within a task (--score-phases) are not R-matrix rows
            by_run.setdefault(run, []).append(i)
    runs = []
    for name, rows in by_run.items():
        ident = {(cols["strategy"][i], cols["cs"][i], cols["seed"][i]) for i in rows}
        if len(ident) > 1:
            raise InputError(
                f"run {name} in {source} has several (strategy, cs, seed): {sorted(ident)}",
                "give each run its own name",
            )
        strategy, cs, seed = ident.pop()
        tasks: list[str] = []
        for i in rows:
            if cols["after_task"][i] not in tasks:
                tasks.append(cols["after_task"][i])
        probe_rows = {i for i in rows if cols["eval_task"][i] not in tasks}
        probe_tasks = {cols["eval_task"][i] for i in probe_rows if cols["metric"][i] in forgetting.PROBE_METRICS}
        extra = sorted({cols["eval_task"][i] for i in probe_rows} - probe_tasks)
        if extra:
            raise InputError(
                f"run {name} in {source} evaluates tasks {extra} that are not in its sequence {tasks}",
                "every eval_task must be a task of the run's sequence, or a probe scored with acc, acc_norm or mrr",
            )
        index = {t: k for k, t in enumerate(tasks)}
        matrices: dict[str, list[list[float | None]]] = {}
        probes: dict[tuple[str, str], list[float | None]] = {}
        for i in rows:
            metric = cols["metric"][i]
            if i in probe_rows:
                if metric in forgetting.PROBE_METRICS:
                    v = cols["value"][i]
                    column = probes.setdefault((cols["eval_task"][i], metric), [None] * len(tasks))
                    column[index[cols["after_task"][i]]] = None if v is None or math.isnan(v) else v
                continue
            try:
                forgetting.orient(metric)
            except KeyError:
                continue  # counts such as tokens/examples are not scores
            m = matrices.setdefault(metric, [[None] * len(tasks) for _ in tasks])
            v = cols["value"][i]
            m[index[cols["after_task"][i]]][index[cols["eval_task"][i]]] = None if v is None or math.isnan(v) else v
        if not matrices:
            raise InputError(
                f"run {name} in {source} has no score metrics (accuracy, nll, bpb or ppl)",
                "the metrics file must hold R-matrix rows",
            )
        points, trajectory = _trajectory(cols, name, tasks, matrices)
        runs.append(
            Run(
                name,
                strategy,
                cs,
                int(seed),
                tuple(tasks),
                matrices,
                source,
                probes=probes,
                phases=points,
                trajectory=trajectory,
            )
        )
    return runs


def _trajectory(cols: dict, name: str, tasks: list[str], matrices: dict) -> tuple[tuple, dict]:
    """The run's scores at every point it was scored, phases (``--score-phases`` rows) and task ends, in the
    order they were written, for the metrics and eval tasks of its R matrices. Empty without phase rows."""
    phases = cols.get("phase") or [None] * len(cols["run"])
    mine = [i for i, run in enumerate(cols["run"]) if run == name and cols["eval_task"][i] in tasks]
    if not any(phases[i] is not None for i in mine):
        return (), {}
    points: list[tuple[str, str | None]] = []
    for i in mine:
        point = (cols["after_task"][i], phases[i])
        if point in points:
            points.remove(point)  # a resumed run re-measured it: the later place (and value) counts
        points.append(point)
    at = {p: k for k, p in enumerate(points)}
    out: dict[str, dict[str, list[float | None]]] = {m: {t: [None] * len(points) for t in tasks} for m in matrices}
    for i in mine:
        m, v = cols["metric"][i], cols["value"][i]
        if m in out:
            point = (cols["after_task"][i], phases[i])
            out[m][cols["eval_task"][i]][at[point]] = None if v is None or math.isnan(v) else v
    return tuple(points), out


def load_runs(specs: Sequence[str | os.PathLike]) -> tuple[list[Run], list[artifacts.Source]]:
    """Every run in ``specs``; refuses duplicate runs and runs whose task sequences differ."""
    if not specs:
        raise InputError("no runs given", "give one or more RUN_DIRs written by cstool replay-train")
    runs: list[Run] = []
    sources = []
    for spec in specs:
        table, src = read_metrics(spec)
        options = (src.provenance or {}).get("options") or {}
        runs += [
            dataclasses.replace(r, vqa_normalization=options.get("vqa_normalization", NOT_RECORDED))
            if "accuracy" in r.matrices
            else r
            for r in build_runs(table, str(metrics_path(spec)))
        ]
        sources.append(src)
    seen: dict[object, Run] = {}
    for r in runs:
        for key in (("name", r.name), ("ident", r.strategy, r.cs, r.seed)):
            if key in seen:
                other = seen[key]
                raise InputError(
                    f"runs {other.name} ({other.source}) and {r.name} ({r.source}) are the same "
                    f"strategy={r.strategy}, cs={r.cs}, seed={r.seed}"
                    if key[0] == "ident"
                    else f"run name {r.name} appears in both {other.source} and {r.source}",
                    "give each run once; seeds of one configuration must differ",
                )
            seen[key] = r
    normalizations: dict[str, list[str]] = {}
    for r in runs:
        if r.vqa_normalization is not None:
            normalizations.setdefault(r.vqa_normalization, []).append(r.name)
    if len(normalizations) > 1:
        groups = "; ".join(f"{n}: {', '.join(names)}" for n, names in normalizations.items())
        raise InputError(
            f"the runs' VQA accuracies normalise answers differently ({groups})",
            "report runs scored with one --vqa-normalization together; re-run the others with it",
        )
    sequences: dict[tuple[str, ...], list[str]] = {}
    for r in runs:
        sequences.setdefault(r.tasks, []).append(r.name)
    if len(sequences) > 1:
        groups = "; ".join(f"{'→'.join(t)}: {', '.join(names)}" for t, names in sequences.items())
        raise InputError(
            f"the runs have different task sequences ({groups})",
            "report runs of one task sequence together; run cstool report once per sequence",
        )
    return runs, sources


# ---------------------------------------------------------------------------------------------------------
# Summary


def read_baseline(spec: str | os.PathLike) -> tuple[dict[str, dict[str, float]], artifacts.Source]:
    """A ``scores`` artifact (``cstool eval`` of the model before training) → {metric: {eval_task: value}}."""
    src = artifacts.open_source(spec)
    artifacts.require_columns(src.schema, "scores", stage="report --fwt-baseline")
    out: dict[str, dict[str, float]] = {}
    for row in src.read_all().select(["run", "eval_task", "metric", "value"]).to_pylist():
        seen = out.setdefault(row["metric"], {})
        if row["eval_task"] in seen:
            raise InputError(
                f"--fwt-baseline {spec} has several {row['metric']} values for {row['eval_task']}",
                "give the scores of one model (one cstool eval output)",
            )
        if row["value"] is not None and not math.isnan(row["value"]):
            seen[row["eval_task"]] = row["value"]
    return out, src


def baseline_vectors(runs: Sequence[Run], baseline: dict[str, dict[str, float]], source: str) -> dict:
    """{metric: oriented baseline per task of the runs' sequence}, for every metric with an FWT; refuses gaps."""
    out: dict[str, list[float | None]] = {}
    missing = []
    for metric in sorted(set().union(*(r.matrices for r in runs))):
        if "FWT" not in forgetting.cl_metrics(metric):
            continue
        tasks = runs[0].tasks
        values = baseline.get(metric, {})
        missing += [f"{metric} of {t}" for t in tasks[1:] if t not in values]
        sign, _ = forgetting.orient(metric)
        out[metric] = [sign * values[t] if t in values else None for t in tasks]
    if missing:
        raise InputError(
            f"--fwt-baseline {source} has no {', '.join(missing)}",
            "score the untrained model on every task after the first: cstool eval --model BASE --data TASK=DEV ...",
        )
    return out


def summarize(runs: Sequence[Run], baselines: dict[str, list[float | None]] | None = None) -> pa.Table:
    """The ``summary`` table: per (strategy, cs, score, metric), mean ± 95 % CI over the runs' seeds.
    ``baselines`` ({metric: oriented scores per task}, :func:`baseline_vectors`) make FWT GEM's."""
    groups: dict[tuple[str, str, str], list[Run]] = {}
    for r in runs:
        for metric in r.matrices:
            groups.setdefault((r.strategy, r.cs, metric), []).append(r)
    rows: dict[str, list] = {name: [] for name in artifacts.SUMMARY.names}
    for (strategy, cs, metric), members in sorted(groups.items()):
        per_run = [
            (r, forgetting.all_metrics(r.scores(metric), (baselines or {}).get(metric)))
            for r in sorted(members, key=lambda r: r.seed)
        ]
        for name in forgetting.cl_metrics(metric):
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
    probe_groups: dict[tuple[str, str, str, str], list[Run]] = {}
    for r in runs:
        for probe, metric in r.probes:
            probe_groups.setdefault((r.strategy, r.cs, probe, metric), []).append(r)
    for (strategy, cs, probe, metric), members in sorted(probe_groups.items()):
        per_run = [
            (r, forgetting.probe_metrics(r.probes[probe, metric])) for r in sorted(members, key=lambda r: r.seed)
        ]
        for name in forgetting.PROBE_CL_METRICS:
            values = [(r.name, m[name]) for r, m in per_run if m[name] is not None]
            mean, ci, n = forgetting.mean_ci95([v for _, v in values])
            for key, value in (
                ("tasks", "→".join(members[0].tasks)),
                ("strategy", strategy),
                ("cs", cs),
                ("score", f"{probe}:{metric}"),
                ("metric", name),
                ("mean", mean),
                ("ci95", ci),
                ("n", n),
                ("runs", [name for name, _ in values]),
            ):
                rows[key].append(value)
    return pa.table(rows, schema=artifacts.SUMMARY)
