"""The options of replay-train (:class:`ReplayConfig`), the names it gives adapters and files, and a
:class:`Task` as read from its artifact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cstool import artifacts
from cstool.errors import ConfigError, at_least

STRATEGIES = ("naive", "replay", "replay-adapter", "joint")
TASK_TYPES = ("lm", "vqa")
CS_MODES = ("none", "pos", "random")
MAIN = "main"  # the single adapter of naive / replay / joint
REPLAY = "replay"  # the replay adapter of replay-adapter
COMPOSITIONS = ("drop", "keep", "merge")
SCHEDULES = ("consolidate", "concurrent")
STATE, DONE, BUFFER, METRICS_FILE = "state.json", "done.json", "buffer.parquet", "metrics.parquet"


@dataclass(frozen=True)
class ReplayConfig:
    strategy: str = "replay-adapter"
    cs: str = "none"
    replay_ratio: float = 0.25
    buffer_per_task: int = 500
    consolidation_new: float = 0.25
    task_adapter_init: str = "fresh"  # replay-adapter: "fresh" (METHOD.md) or "previous" (start from A_{t-1})
    composition: str = "drop"  # replay-adapter: what becomes of A_{t-1} when A_t starts: drop, keep (frozen), merge
    replay_schedule: str = "consolidate"  # replay-adapter: R after A_t (consolidate) or with it (concurrent)
    full_finetune: bool = False  # naive/replay/joint without LoRA: every weight of the base trains
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
        if self.composition not in COMPOSITIONS:
            problems.append(f"--composition must be one of {', '.join(COMPOSITIONS)}, got {self.composition!r}")
        if self.replay_schedule not in SCHEDULES:
            problems.append(f"--replay-schedule must be one of {', '.join(SCHEDULES)}, got {self.replay_schedule!r}")
        variant = (self.composition, self.replay_schedule, self.task_adapter_init) != ("drop", "consolidate", "fresh")
        if variant and self.strategy != "replay-adapter":
            problems.append(
                "--composition, --replay-schedule and --task-adapter-init shape the replay adapter: "
                f"use them with --strategy replay-adapter, not {self.strategy}"
            )
        if self.composition == "keep" and self.task_adapter_init == "previous":
            problems.append("--composition keep with --task-adapter-init previous would count A_(t-1) twice")
        if self.full_finetune and self.strategy not in ("naive", "replay", "joint"):
            problems.append(f"--full-finetune is a reference for naive, replay and joint, not {self.strategy}")
        if self.full_finetune and self.kd_teacher:
            problems.append("--full-finetune with --kd-teacher is not supported (the teacher term is for adapters)")
        if not 0.0 <= self.kd_alpha <= 1.0:
            problems.append(f"--kd-alpha must lie in [0, 1], got {self.kd_alpha}")
        problems += at_least(
            self,
            1,
            "buffer_per_task",
            "lora_r",
            "lora_alpha",
            "steps_per_task",
            "batch_size",
            "max_length",
            "eval_batch_size",
            "max_new_tokens",
        )
        if self.lr <= 0:
            problems.append(f"--lr must be positive, got {self.lr}")
        ConfigError.collect(problems, "see cstool replay-train --help")

    @property
    def column(self) -> str:
        plain = "question" if self.task_type == "vqa" else "text"
        return self.text_column or ("text_cs" if self.cs != "none" else plain)


@dataclass
class Task:
    name: str
    path: str
    train: list[list[str]]  # texts per curriculum epoch (one epoch without a curriculum)
    replay: list[tuple[int, str, Any]]  # (row, id, text) of the pure-language rows, for the buffer
    source: artifacts.Source
