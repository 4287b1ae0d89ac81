"""replay-train: continual learning over a task sequence T0 → T1 → … with LoRA, a replay buffer and a
replay adapter (docs/method.md, "replay-train").

Strategies, all with the same optimizer steps S and examples S·B per task (replayed examples take places in
a batch, they are not extra):

* ``naive`` — one adapter, trained on T1, then further on T2, … (the forgetting baseline).
* ``replay`` — as naive, with a share ρ of every batch drawn from the replay buffer.
* ``replay-adapter`` — for task t a fresh task adapter A_t learns T_t for round((1−ρ)·S) steps, a share ρ of
  its batches from the buffer (``replay_schedule="replay-consolidate"``, the default; ``"consolidate"``, the
  earlier default and the first design's, trains A_t on T_t alone); then, with A_t frozen but active, the
  shared replay adapter R trains for the remaining ρ·S steps on batches of which a share ``consolidation_new``
  (default 0.6) comes from T_t and the rest from the buffer. By default (``composition="merge"``) A_(t−1) is
  merged into the frozen weights when A_t starts, so the model after task t is base + A_1 + … + A_t + R. The
  first design is ``composition="drop"``, ``consolidation_new=0.25``, ``replay_schedule="consolidate"``:
  A_(t−1) is dropped (kept on disk only) and the model after task t is base + A_t + R. The variants live in
  :mod:`cstool.continual.strategies`.
* ``joint`` — one adapter on the union of all tasks so far (anchor included), the reference upper bound.

The first task is the anchor: evaluated and put in the buffer, not trained unless ``train_first``. After
each task every dev set is scored (LM: NLL, bits per byte, perplexity; VQA: accuracy of greedy answers) and
the R-matrix rows are written to RUN_DIR/metrics.parquet at once, so a killed run keeps what it measured;
``resume`` restarts at the first task not completed and, being deterministic on CPU, gives the same metrics
as an uninterrupted run.

Under ``torchrun --nproc_per_node N`` or ``accelerate launch`` every process trains its slice of every planned
batch (``batch_size`` is the whole batch, a multiple of N); process 0 alone scores the dev sets and writes
the run folder, the others wait for it at barriers (:mod:`cstool.base.ranks`).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from cstool.base import ranks
from cstool.base.console import log, set_quiet, warn
from cstool.base.errors import ConfigError, CstoolError, InputError, Interrupted
from cstool.continual.config import DONE, METRICS_FILE, STATE, ReplayConfig
from cstool.continual.state import RunState
from cstool.continual.tasks import task_kind
from cstool.io import artifacts, atomic, locks, paths, runstate

__all__ = ["ReplayConfig", "ReplayTrainResult", "run"]

# how a resume refused names the inputs (run()'s keywords) in its message
LABELS = {"base": "--base", "tasks": "--task", "devs": "--dev", "probes": "--probe"}


@dataclass(frozen=True)
class ReplayTrainResult:
    """What a run did (RUN_DIR/done.json holds the same, but ``output``)."""

    output: Path
    run: str  # the run's name in the metrics
    tasks: list[str]
    strategy: str  # the strategy's label (with its variant)
    cs: str
    steps_per_task: int
    steps: dict[str, int]  # optimizer steps per task, all phases
    examples: dict[str, dict[str, int]]  # per task: {"new": n, "replay": n}
    train_seconds: float

    def summary(self) -> dict[str, Any]:
        """done.json's content: every field but ``output``."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "output"}

    @classmethod
    def read(cls, out: Path) -> ReplayTrainResult:
        """The result a complete run folder recorded in done.json."""
        value = runstate.read_json(out / DONE, "replay-train summary")
        names = [f.name for f in dataclasses.fields(cls) if f.name != "output"]
        if missing := [n for n in names if n not in value]:
            raise InputError(
                f"the replay-train summary {out / DONE} is damaged (no {', '.join(missing)})", runstate.DAMAGED_HINT
            )
        return cls(output=out, **{n: value[n] for n in names})

    def line(self) -> str:
        return f"replay-train {self.strategy} (cs={self.cs}) done → {self.output}"


# ---------------------------------------------------------------------------------------------------------
# The run


@locks.locks_output("replay-train", "output", resumable=True)
def run(
    config: ReplayConfig,
    *,
    base: str,
    tasks: list[tuple[str, str]],
    devs: list[tuple[str, str]] = (),
    probes: list[tuple[str, str]] = (),
    output: str | os.PathLike,
) -> ReplayTrainResult:
    """Train the task sequence and write the run folder ``output`` (adapters, buffer, metrics, final model).
    ``tasks``/``devs``: (name, path), as :func:`cstool.continual.config.parse_named` reads them; ``probes``:
    (name, "KIND:PATH") scored after every task like the dev sets (:mod:`cstool.lm.probes`)."""
    from cstool.continual.learner import Learner

    out = Path(output)
    devs = list(devs)
    world, main = ranks.world_size(), ranks.is_main()
    if world > 1 and config.batch_size % world:
        raise ConfigError(
            f"--batch-size {config.batch_size} does not split evenly over {world} processes",
            f"--batch-size is the whole batch of a step: give a multiple of {world}",
        )
    sharded = [name for name in ("FSDP", "DEEPSPEED") if os.environ.get(f"ACCELERATE_USE_{name}", "").lower() == "true"]
    if world > 1 and sharded:
        raise ConfigError(
            f"replay-train does not run under {sharded[0]}: process 0 scores and saves the whole model, so every "
            "process holds all of it (DDP)",
            "launch it with torchrun or accelerate launch --multi_gpu (no FSDP/DeepSpeed plugin)",
        )
    if not main:
        set_quiet(True)  # one log, process 0's
    if len(tasks) < 2:
        raise ConfigError(
            "replay-train needs at least two tasks (the anchor, then a task to learn)",
            "e.g. --task en=en.parquet --task hi=hi.parquet",
        )
    names = [n for n, _ in tasks]
    unknown = [n for n, _ in devs if n not in names]
    if unknown:
        raise ConfigError(
            f"--dev for tasks not in the sequence: {', '.join(unknown)}", f"the tasks are: {', '.join(names)}"
        )
    probes = list(probes)
    if clash := sorted({n for n, _ in probes} & (set(names) | {n for n, _ in devs})):
        raise ConfigError(f"--probe names repeat task or dev names: {clash}", "give each probe a name of its own")
    if probes and config.task_type != "lm":
        raise ConfigError("--probe is for --task-type lm", "drop --probe, or use --task-type lm")
    for n in names:
        if n not in dict(devs):
            warn(f"task {n} has no --dev set: its column of the R matrix stays empty")
    paths.check_outputs(
        {"-o": out},
        [("--base", base), ("--kd-teacher", config.kd_teacher)]
        + [(f"--task {n}", p) for n, p in tasks]
        + [(f"--dev {n}", p) for n, p in devs]
        + [(f"--probe {n}", spec.split(":", 1)[1]) for n, spec in probes],
        folders=["-o"],
    )
    from cstool.lm.reporting import report_callbacks

    report_callbacks(config.report_to, out)  # a missing tensorboard fails now, before the run folder starts
    existed = out.exists()
    state, saved = _prepare_dir(out, config, names)
    try:  # every input is read and checked, and the model loaded, before a new run folder is started
        kind = task_kind(config)
        data = [
            kind.read_task(n, p, trained=(i > 0 or config.train_first), anchor=i == 0) for i, (n, p) in enumerate(tasks)
        ]
        dev_sets = {n: kind.read_dev(n, p) for n, p in devs}
        probe_sets = _read_probes(probes, config)
        run_name = config.run_name or out.name
        prov = artifacts.make_provenance(
            "replay-train",
            options={
                **artifacts.jsonable(config),
                **{"base": base, "tasks": tasks, "devs": devs, "probes": probes, "run": run_name},
            },
            seed=config.seed,
        )
        read = [
            artifacts.input_records(t.source for t in data),
            artifacts.input_records(s for _, s in dev_sets.values()),
        ]
        prov["inputs"] = read[0] + read[1]
        record = _run_record(config, base=base, tasks=tasks, devs=devs, probes=probes, read=read)
        if saved is not None:
            runstate.check_same_run(saved, record, where=out)
            if (out / DONE).is_file():
                log(f"{out} is complete; nothing to do")
                return ReplayTrainResult.read(out)
        if record.contents.get("base"):  # adapters name their base by content: eval refuses another one
            prov["base_content"] = record.contents["base"]
        learner = Learner(base=base, out=out, config=config, tasks=data, provenance=prov, kind=kind, state=state)
    except BaseException:
        if not existed and main:
            shutil.rmtree(out, ignore_errors=True)
        raise
    ranks.barrier()  # every process checked the run folder before process 0 starts writing it
    if main:
        out.mkdir(parents=True, exist_ok=True)  # every check passed: the run folder starts here
        if saved is None:
            runstate.write_run_record(out, record)  # first, so a folder with a state has its record
        state.write(out / STATE)
    # rows of a task whose state was not recorded are measured again, not kept twice
    metrics = [m for m in _load_metrics(out) if m["after_task"] in state.done]
    dev_texts = {n: texts for n, (texts, _) in dev_sets.items()}
    learner.probes = probe_sets
    from cstool.lm.reporting import TENSORBOARD_DIR, DevScalars

    board = DevScalars(out / TENSORBOARD_DIR / "dev") if main and config.report_to == "tensorboard" else None

    def scored(rows: list[dict]) -> list[dict]:
        if board is not None:
            board.add(rows, step=sum(state.steps.values()))
        return rows

    if config.score_phases:
        learner.after_phase = lambda task, phase: metrics.extend(
            scored(_rows(learner.evaluate(dev_texts), config, run_name, task, phase=phase))
        )
    try:
        for i, task in enumerate(data):
            if task.name in state.done:
                continue
            learner.restore(state.done)
            if i > 0 or config.train_first:
                log(f"task {i}: {task.name} ({config.strategy}, cs={config.cs}, {config.steps_per_task} steps)")
                learner.learn(i)
            metrics += scored(_rows(learner.evaluate(dev_texts), config, run_name, task.name, phase=None))
            learner.save_after(i)
            if main:
                artifacts.write_table(
                    out / METRICS_FILE,
                    pa.Table.from_pylist(metrics, schema=artifacts.SCHEMAS["metrics"]),
                    kind="metrics",
                    provenance=prov,
                )
            state.done.append(task.name)
            if main:
                state.write(out / STATE)
            ranks.barrier()  # the others wait while process 0 scores and writes
        learner.restore(state.done)  # a resumed run whose tasks were all done still composes its final model
        if main:
            learner.save_final(out / "final")
            shutil.rmtree(out / "work", ignore_errors=True)
    except KeyboardInterrupt:
        done = ", ".join(state.done) or "none yet"
        raise Interrupted(
            f"interrupted; kept {out} (tasks completed: {done})",
            "continue with the same command and --resume",
        ) from None
    finally:
        if board is not None:
            board.close()
    result = ReplayTrainResult(
        output=out,
        run=run_name,
        tasks=names,
        strategy=config.label,
        cs=config.cs,
        steps_per_task=config.steps_per_task,
        steps=state.steps,
        examples=state.examples,
        train_seconds=round(state.train_seconds, 3),
    )
    if main:
        artifacts.write_sidecar(out, prov)
        _write_json(out / DONE, result.summary())
    ranks.barrier()  # every process returns once the run folder is complete
    return result


def _run_record(
    config: ReplayConfig,
    *,
    base: str,
    tasks: list[tuple[str, str]],
    devs: list[tuple[str, str]],
    probes: list[tuple[str, str]],
    read: list[list[dict]],
) -> runstate.RunRecord:
    """What identifies the run: its result options, its inputs, the contents of the local models and of the
    task and dev files read (``read``: the provenance records of the tasks' files, then of the devs')."""
    models = {"base": base, **({"kd_teacher": config.kd_teacher} if config.kd_teacher else {})}
    hashes = [[r["sha256"] or (r.get("dataset") or {}).get("fingerprint") or "-" for r in rs] for rs in read]
    return runstate.run_record(
        config,
        inputs={
            "base": str(base),
            "tasks": [list(t) for t in tasks],
            "devs": [list(d) for d in devs],
            "probes": [list(p) for p in probes],
        },
        contents={
            **{name: runstate.fingerprint(p) for name, p in models.items() if Path(p).exists()},
            "tasks": runstate.texts_fingerprint(hashes[0]),
            "devs": runstate.texts_fingerprint(hashes[1]),
        },
        labels=LABELS,
    )


def _read_probes(probes: list[tuple[str, str]], config: ReplayConfig) -> list:
    """Every probe read and checked before the model is loaded."""
    from cstool.lm.probes import probe_from_table, read_probe_table

    out = []
    for name, spec in probes:
        kind, path = spec.split(":", 1)
        table = read_probe_table(path)
        out.append(probe_from_table(name, kind, table, distractors=config.probe_distractors, seed=config.seed))
    return out


def _rows(scores: dict, config: ReplayConfig, run: str, after: str, *, phase: str | None) -> list[dict]:
    """Long-form metrics rows of one scoring of the dev sets."""
    ident = {"run": run, "strategy": config.label, "cs": config.cs, "seed": config.seed, "after_task": after}
    return [
        {**ident, "eval_task": eval_task, "metric": metric, "value": value, "phase": phase}
        for eval_task, values in scores.items()
        for metric, value in values.items()
    ]


def _prepare_dir(out: Path, config: ReplayConfig, tasks: list[str]) -> tuple[RunState, dict | None]:
    """Fail before any training when RUN_DIR is unusable or holds another run; return the resume state and
    the run record saved in RUN_DIR (None: a new run)."""
    state_file = out / STATE
    if out.exists() and any(out.iterdir()):
        if not config.resume:
            raise InputError(f"{out} already holds a run", "pass --resume to continue it, or choose another -o")
        if not state_file.is_file():
            raise InputError(f"{out} is not a replay-train run folder (no {STATE})", "choose another -o")
        if not (out / runstate.RUN_FILE).is_file():
            raise InputError(
                f"{out} has no {runstate.RUN_FILE}: it was started by an older cstool and cannot be resumed",
                runstate.OLDER_HINT,
            )
        saved = runstate.read_run_record(out)
        state = RunState.read(state_file, tasks=tasks)
        _load_metrics(out)  # checked before anything is trained or written
        return state, saved
    free = shutil.disk_usage(paths.nearest_existing(out)).free
    if free < 50 * 2**20:
        raise InputError(f"only {free // 2**20} MiB free under {out}", "free some disk space or choose another -o")
    return RunState(), None


def _load_metrics(out: Path) -> list[dict]:
    """The rows of RUN_DIR/metrics.parquet (none when there is no file); one line when it is of another schema."""
    path = out / METRICS_FILE
    if not path.is_file():
        return []
    src = artifacts.open_source(path)
    try:
        required = [n for n in artifacts.METRICS.names if n != "phase"]  # older runs have no phase column
        artifacts.require_columns(src.schema, "metrics", stage="replay-train --resume", columns=required)
    except CstoolError as e:
        raise InputError(f"the metrics file {path} is damaged ({e.message})", runstate.DAMAGED_HINT) from None
    return src.read_all().to_pylist()


def _write_json(path: Path, value: Any) -> None:
    atomic.write_json(path, value, indent=2, sort_keys=True)
