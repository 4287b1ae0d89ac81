"""replay-train: continual learning over a task sequence T0 → T1 → … with LoRA, a replay buffer and a
replay adapter (METHOD.md, "replay-train").

Strategies, all with the same optimizer steps S and examples S·B per task (replayed examples take places in
a batch, they are not extra):

* ``naive`` — one adapter, trained on T1, then further on T2, … (the forgetting baseline).
* ``replay`` — as naive, with a share ρ of every batch drawn from the replay buffer.
* ``replay-adapter`` — for task t a fresh task adapter A_t learns T_t for round((1−ρ)·S) steps; then, with
  A_t frozen but active, the shared replay adapter R trains for the remaining ρ·S steps on batches of which
  a share ``consolidation_new`` comes from T_t and the rest from the buffer. The model after task t is
  base + A_t + R; earlier task adapters are kept on disk but no longer used.
* ``joint`` — one adapter on the union of all tasks so far (anchor included), the reference upper bound.

The first task is the anchor: evaluated and put in the buffer, not trained unless ``train_first``. After
each task every dev set is scored (LM: NLL, bits per byte, perplexity; VQA: accuracy of greedy answers) and the R-matrix rows are written to
RUN_DIR/metrics.parquet at once, so a killed run keeps what it measured; ``resume`` restarts at the first
task not completed and, being deterministic on CPU, gives the same metrics as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from cstool import artifacts
from cstool.console import log, warn
from cstool.errors import ConfigError, InputError, SchemaError, at_least

STRATEGIES = ("naive", "replay", "replay-adapter", "joint")
TASK_TYPES = ("lm", "vqa")
CS_MODES = ("none", "pos", "random")
MAIN = "main"  # the single adapter of naive / replay / joint
REPLAY = "replay"  # the replay adapter of replay-adapter
STATE, DONE, BUFFER, METRICS = "state.json", "done.json", "buffer.parquet", "metrics.parquet"

BUFFER_SCHEMA = artifacts.REPLAY_BUFFER


@dataclass(frozen=True)
class ReplayConfig:
    strategy: str = "replay-adapter"
    cs: str = "none"
    replay_ratio: float = 0.25
    buffer_per_task: int = 500
    consolidation_new: float = 0.25
    task_adapter_init: str = "fresh"  # replay-adapter: "fresh" (METHOD.md) or "previous" (start from A_{t-1})
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    target_modules: str = "auto"
    train_embeddings: bool = False
    steps_per_task: int = 200
    batch_size: int = 8
    max_length: int = 128
    lr: float = 1e-3
    kd_teacher: str | None = None
    kd_alpha: float = 0.5
    kd_temperature: float = 2.0
    train_first: bool = False
    text_column: str | None = None  # default: text_cs with --cs, else text
    eval_batch_size: int = 16
    seed: int = 1234
    resume: bool = False
    run_name: str | None = None
    device: str = "auto"
    task_type: str = "lm"  # lm: text; vqa: image + question → answer (cstool.vqa)
    max_new_tokens: int = 10  # vqa: greedy answer length limit on dev sets

    def __post_init__(self) -> None:
        problems = []
        if self.task_type not in TASK_TYPES:
            problems.append(f"--task-type must be one of {', '.join(TASK_TYPES)}, got {self.task_type!r}")
        if self.task_type == "vqa" and self.kd_teacher:
            problems.append("--kd-teacher is for --task-type lm (a VQA teacher would need the images too)")
        if self.strategy not in STRATEGIES:
            problems.append(f"--strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.cs not in CS_MODES:
            problems.append(f"--cs must be one of {', '.join(CS_MODES)}, got {self.cs!r}")
        if not 0.0 <= self.replay_ratio < 1.0:
            problems.append(f"--replay-ratio must lie in [0, 1), got {self.replay_ratio}")
        if not 0.0 <= self.consolidation_new < 1.0:
            problems.append(f"--consolidation-new must lie in [0, 1), got {self.consolidation_new}")
        if self.task_adapter_init not in ("fresh", "previous"):
            problems.append(f"--task-adapter-init must be fresh or previous, got {self.task_adapter_init!r}")
        if not 0.0 <= self.kd_alpha <= 1.0:
            problems.append(f"--kd-alpha must lie in [0, 1], got {self.kd_alpha}")
        problems += at_least(self, 1, "buffer_per_task", "lora_r", "lora_alpha", "steps_per_task", "batch_size",
                             "max_length", "eval_batch_size", "max_new_tokens")
        if self.lr <= 0:
            problems.append(f"--lr must be positive, got {self.lr}")
        ConfigError.collect(problems, "see cstool replay-train --help")

    @property
    def column(self) -> str:
        plain = "question" if self.task_type == "vqa" else "text"
        return self.text_column or ("text_cs" if self.cs != "none" else plain)


# ---------------------------------------------------------------------------------------------------------
# Data


@dataclass
class Task:
    name: str
    path: str
    train: list[list[str]]  # texts per curriculum epoch (one epoch without a curriculum)
    replay: list[tuple[int, str, str]]  # (row, id, text) of the pure-language rows, for the buffer
    source: artifacts.Source


def _read_task(name: str, path: str, config: ReplayConfig, *, trained: bool) -> Task:
    if config.task_type == "vqa":
        from cstool.vqa.train import read_task

        return read_task(name, path, config, trained=trained)
    src = artifacts.open_source(path)
    table = src.read_all()
    cols = table.schema.names
    column = config.column if trained else "text"
    if column not in cols:
        hint = (
            f"make code-switched data with: cstool switch TAGGED --lexicon LEX --strategy {config.cs} -o {Path(path).name}"
            if column == "text_cs" else "choose the text column with --text-column NAME"
        )
        raise SchemaError(f"task {name}: {path} has no column {column!r}; columns there: [{', '.join(cols)}]", hint)
    if trained and config.cs != "none" and "strategy" in cols:
        made = set(table.column("strategy").to_pylist())
        if made != {config.cs}:
            raise InputError(
                f"task {name}: {path} was switched with strategy {sorted(made)}, but --cs is {config.cs}",
                f"give the output of cstool switch --strategy {config.cs}, or set --cs to match",
            )
    texts = table.column(column).to_pylist()
    epochs = table.column("cs_epoch").to_pylist() if "cs_epoch" in cols and trained else [0] * len(texts)
    by_epoch: dict[int, list[str]] = {}
    for t, e in zip(texts, epochs, strict=True):
        if t and t.strip():
            by_epoch.setdefault(int(e or 0), []).append(t)
    pure = table.column("text").to_pylist() if "text" in cols else texts
    ids = table.column("id").to_pylist() if "id" in cols else [str(i) for i in range(len(pure))]
    first_epoch = epochs[0] if epochs else 0
    replay = [(i, str(ids[i]), t) for i, t in enumerate(pure) if t and t.strip() and epochs[i] == first_epoch]
    if not by_epoch:
        raise InputError(f"task {name}: {path} has no text in column {column!r}", "give a non-empty artifact")
    return Task(name, path, [by_epoch[e] for e in sorted(by_epoch)], replay, src)


def _read_dev(name: str, path: str, config: ReplayConfig) -> tuple[list, artifacts.Source]:
    if config.task_type == "vqa":
        from cstool.vqa.train import read_dev

        return read_dev(name, path)
    src = artifacts.open_source(path)
    if "text" not in src.schema.names:
        raise SchemaError(f"dev set {name}: {path} has no column 'text'; columns there: [{', '.join(src.schema.names)}]",
                          "dev sets are scored on their plain text; produce them with cstool tag")
    texts = [t for t in src.read_all().column("text").to_pylist() if t and t.strip()]
    if not texts:
        raise InputError(f"dev set {name}: {path} has no text", "give a non-empty dev artifact")
    return texts, src


def parse_named(specs: list[str], flag: str) -> list[tuple[str, str]]:
    out = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"{flag} {spec!r} is not NAME=PATH", f"e.g. {flag} hi=hi.parquet")
        out.append((name, path))
    for name, _ in out:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name) or name == REPLAY or name.startswith(f"{REPLAY}-after-"):
            raise ConfigError(f"{flag} name {name!r} is not usable",
                              "use letters, digits, '-' and '_' (names become adapter folders); 'replay' is reserved")
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"{flag} names repeat: {names}", "give each task one name")
    return out


# ---------------------------------------------------------------------------------------------------------
# The run


def replay_train(
    *, base: str, tasks: list[tuple[str, str]], devs: list[tuple[str, str]], output_dir: str | os.PathLike, config: ReplayConfig
) -> dict:
    """Train the task sequence and write RUN_DIR (adapters, buffer, metrics, final model). Returns a summary."""
    from cstool.continual import Learner

    out = Path(output_dir)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("replay-train runs in a single process (its run folder, buffer and metrics are not "
                          "shared between ranks)", "run it without torchrun/accelerate launch; use --device cuda for a GPU")
    if len(tasks) < 2:
        raise ConfigError("replay-train needs at least two tasks (the anchor, then a task to learn)",
                          "e.g. --task en=en.parquet --task hi=hi.parquet")
    names = [n for n, _ in tasks]
    unknown = [n for n, _ in devs if n not in names]
    if unknown:
        raise ConfigError(f"--dev for tasks not in the sequence: {', '.join(unknown)}", f"the tasks are: {', '.join(names)}")
    for n in names:
        if n not in dict(devs):
            warn(f"task {n} has no --dev set: its column of the R matrix stays empty")
    identity = {"base": str(base), "tasks": [list(t) for t in tasks], "devs": [list(d) for d in devs]}
    existed = out.exists()
    state = _prepare_dir(out, config, identity)
    if (out / DONE).is_file():
        log(f"{out} is complete; nothing to do")
        return json.loads((out / DONE).read_text())
    try:  # every input is read and the model loaded before a new run folder is started
        data = [_read_task(n, p, config, trained=(i > 0 or config.train_first)) for i, (n, p) in enumerate(tasks)]
        dev_sets = {n: _read_dev(n, p, config) for n, p in devs}
        run = config.run_name or out.name
        prov = artifacts.make_provenance(
            "replay-train",
            options={**artifacts.jsonable(config), "base": base, "tasks": tasks, "devs": devs, "run": run},
            seed=config.seed,
            inputs=[t.source for t in data] + [s for _, s in dev_sets.values()],
        )
        hashes = [r["sha256"] for r in prov["inputs"]]
        if state.setdefault("inputs", hashes) != hashes:
            raise InputError(f"the task or dev files changed since {out} was started",
                             "resume with the same files, or start a new run folder")
        learner = Learner(base=base, out=out, config=config, tasks=data, provenance=prov)
    except BaseException:
        if not existed:
            shutil.rmtree(out, ignore_errors=True)
        raise
    _write_json(out / STATE, state)
    learner.steps, learner.examples = state.setdefault("steps", {}), state.setdefault("examples", {})
    learner.train_seconds = state.get("train_seconds", 0.0)
    # rows of a task whose state was not recorded are measured again, not kept twice
    metrics = [m for m in _load_metrics(out) if m["after_task"] in state["done"]]
    for i, task in enumerate(data):
        if task.name in state["done"]:
            continue
        learner.restore(state["done"])
        if i > 0 or config.train_first:
            log(f"task {i}: {task.name} ({config.strategy}, cs={config.cs}, {config.steps_per_task} steps)")
            learner.learn(i)
        scores = learner.evaluate({n: texts for n, (texts, _) in dev_sets.items()})
        for eval_task, values in scores.items():
            for metric, value in values.items():
                metrics.append({"run": run, "strategy": config.strategy, "cs": config.cs, "seed": config.seed,
                                "after_task": task.name, "eval_task": eval_task, "metric": metric, "value": value})
        learner.save_after(i)
        artifacts.write_table(out / METRICS, pa.Table.from_pylist(metrics, schema=artifacts.SCHEMAS["metrics"]),
                              kind="metrics", provenance=prov)
        state["done"].append(task.name)
        state["train_seconds"] = learner.train_seconds
        _write_json(out / STATE, state)
    learner.restore(state["done"])  # a resumed run whose tasks were all done still composes its final model
    learner.save_final(out / "final")
    shutil.rmtree(out / "work", ignore_errors=True)
    summary = {"run": run, "tasks": names, "strategy": config.strategy, "cs": config.cs,
               "steps_per_task": config.steps_per_task, "steps": learner.steps, "examples": learner.examples,
               "train_seconds": round(learner.train_seconds, 3)}
    artifacts.write_sidecar(out, prov)
    _write_json(out / DONE, summary)
    return summary


def _prepare_dir(out: Path, config: ReplayConfig, identity: dict) -> dict:
    """Fail before any training when RUN_DIR is unusable; return the resume state."""
    state_file = out / STATE
    if out.exists() and any(out.iterdir()):
        if not config.resume:
            raise InputError(f"{out} already holds a run", "pass --resume to continue it, or choose another -o")
        if not state_file.is_file():
            raise InputError(f"{out} is not a replay-train run folder (no {STATE})", "choose another -o")
        state = json.loads(state_file.read_text())
        same = lambda c: {k: v for k, v in c.items() if k != "resume"}  # noqa: E731
        if same(state.get("config", {})) != same(artifacts.jsonable(config)) or state.get("identity") != identity:
            raise InputError(f"{out} was made with other options or inputs (--base, --task, --dev)",
                             "resume with the options of the first call")
        return state
    artifacts.check_writable(out / METRICS)
    free = shutil.disk_usage(out).free
    if free < 50 * 2**20:
        raise InputError(f"only {free // 2**20} MiB free under {out}", "free some disk space or choose another -o")
    return {"config": artifacts.jsonable(config), "identity": identity, "done": []}


def _load_metrics(out: Path) -> list[dict]:
    path = out / METRICS
    return artifacts.open_source(path).read_all().to_pylist() if path.is_file() else []


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)

