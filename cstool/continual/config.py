"""The options of replay-train (:class:`ReplayConfig`), the names it gives adapters and files, and a
:class:`Task` as read from its artifact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cstool.base import devices, specs
from cstool.base.errors import ConfigError, at_least
from cstool.base.fields import SEED, device_option, offline_option, option
from cstool.continual import strategies
from cstool.continual.strategies import FULL, MAIN, REPLAY  # noqa: F401 (the run folder's names, used here too)
from cstool.io import artifacts
from cstool.vqa.metrics import check_normalization

TASK_TYPES = ("lm", "vqa")
CS_MODES = ("none", "pos", "random")
COMPOSITIONS = ("drop", "keep", "merge")
SCHEDULES = ("consolidate", "concurrent", "replay-consolidate")
REPORT_TO = ("none", "tensorboard")  # as cstool.lm.reporting.REPORT_TO (not imported here: it loads torch)
STATE, DONE, BUFFER, METRICS_FILE = "state.json", "done.json", "buffer.parquet", "metrics.parquet"


def parse_named(values: list[str], flag: str) -> list[tuple[str, str]]:
    """``--task``/``--dev`` values → (name, path); names become adapter folders, so 'replay' is reserved."""
    return specs.parse_named(values, flag, reserved=(REPLAY, FULL))


@dataclass(frozen=True)
class ReplayConfig:
    strategy: str = option(
        "replay-adapter",
        "naive, replay, replay-adapter or joint; the peers replay-rewarm (LR re-warming with replay) and "
        "ema-replay (interpolated LoRA with replay), and without replay o-lora (orthogonal task adapters) and osf "
        "(peft's orthogonal subspace fine-tuning).",
    )
    cs: str = option("none", "none, pos or random: train on code-switched text_cs (from cstool switch).")
    replay_ratio: float = option(
        0.25,
        "Share of each batch from the replay buffer (replay); share of steps for the replay adapter (replay-adapter).",
    )
    buffer_per_task: int = option(500, "Examples kept per earlier task (seeded reservoir).", high=100000000)
    consolidation_new: float = option(
        0.6,
        "Share of the replay adapter's batches from the new task (0.25 in the first design; see docs/results/ud.md).",
    )
    task_adapter_init: str = option(
        "fresh", "replay-adapter: each task adapter starts fresh (docs/method.md) or from the previous one, A_(t-1)."
    )
    composition: str = option(
        "merge",
        "replay-adapter: what becomes of A_(t-1) when A_t starts: merge it into the frozen weights (default; the "
        "same function as keep), keep it frozen and active, or drop it (the first design).",
    )
    replay_schedule: str = option(
        "replay-consolidate",
        "replay-adapter: A_t trains with a share --replay-ratio of its batches from the buffer, then the replay "
        "adapter consolidates (replay-consolidate, the default: docs/results/ud.md, Sequences); the replay adapter "
        "after an A_t trained on new examples only (consolidate, the earlier default) or with it (concurrent).",
    )
    warmup_share: float = option(
        0.1,
        "replay-rewarm: share of each task's steps that re-warm the learning rate linearly from 0 to --lr; the "
        "rest re-decay it by a cosine to 0 (Ibrahim et al. 2024).",
    )
    ema_decay: float = option(
        0.99,
        "ema-replay: after every optimizer step the slow adapter becomes decay × slow + (1 − decay) × fast "
        "(I-LoRA's interpolation, Ren et al. 2024); the slow adapter is the model scored and kept. 0.99 averages "
        "over about 100 steps, one task at the benchmarks' budgets (set from the budget, not swept).",
    )
    olora_lambda: float = option(
        0.5,
        "o-lora: weight λ of the orthogonality penalty λ·Σ ||A_t·A_kᵀ||² between the new task adapter's LoRA A "
        "matrices and every earlier task's (0.5: O-LoRA's λ1 in its reference setups, not swept here).",
        low=0,
        high=1000000,
    )
    full_finetune: bool = option(False, "naive, replay and joint without LoRA: every weight of the base trains.")
    lora_r: int = option(8, "LoRA rank.", high=4096)
    lora_alpha: int = option(16, "LoRA alpha.", high=65536)
    lora_dropout: float = option(0.0, "LoRA dropout.", low=0, below=1)
    target_modules: str = option("auto", "auto, or comma-separated module names.")
    train_embeddings: bool = option(False, "Also train embeddings and LM head (peft modules_to_save).")
    steps_per_task: int = option(200, "Optimizer steps per task (every strategy).", high=10000000)
    batch_size: int = option(
        8, "Examples per optimizer step (under torchrun: split evenly over the processes).", high=65536
    )
    max_length: int = option(128, "Tokens per example (longer ones are cut).", high=1048576)
    lr: float = option(1e-3, "Learning rate (constant; replay-rewarm: the peak).", high=10)
    kd_teacher: str | None = option(None, "Teacher for a KD term on replayed examples.")
    kd_alpha: float = option(0.5, "Weight of CE against the KD term.")
    kd_temperature: float = option(2.0, "Temperature τ of the KD term.", low=0.01, high=100)
    train_first: bool = option(False, "Train on the first task too (it is otherwise the known anchor).")
    text_column: str | None = option(
        None, "Training text column [default: text_cs with --cs, else text (question for vqa)]."
    )
    probe_distractors: int = option(
        4, "Translation probes (--probe): distractor targets ranked against each true target.", high=1000
    )
    eval_batch_size: int = option(16, "Examples per batch when scoring dev sets.", high=65536)
    seed: int = option(1234, "Random seed.", **SEED)
    resume: bool = option(
        False, "Continue a killed run in the same folder (same options and inputs).", changes_result=False
    )
    run_name: str | None = option(None, "Name of the run in metrics [default: the folder name].")
    device: str = device_option()
    offline: bool = offline_option()
    dtype: str = option(
        "float32",
        "float32, bfloat16 or float16: mixed precision of training and dev scoring, and the KD teacher's weights "
        "(the trained weights stay float32); float16 needs a GPU.",
    )
    gradient_checkpointing: bool = option(
        False,
        "Recompute activations in the backward pass: less memory, more compute.",
        changes_result=False,
    )
    score_phases: bool = option(
        False,
        "Also score every dev set right after each training phase of a task (replay-adapter: the task adapter, "
        "then the consolidation), as extra rows of metrics.parquet named in its phase column.",
        changes_result=False,
    )
    report_to: str = option(
        "none",
        "none or tensorboard: log the training losses as TensorBoard event files in "
        "OUT/tensorboard/TASK-PHASE (one folder per task and training phase), and the dev scores after each task "
        "(and phase, with --score-phases) in OUT/tensorboard/dev.",
        changes_result=False,
    )
    task_type: str = option("lm", "lm (text) or vqa (image + question → answer; dev metric accuracy).")
    max_new_tokens: int = option(10, "vqa: greedy answer length limit on dev sets.", high=4096)
    vqa_normalization: str = option(
        "multilingual",
        "vqa: answer normalisation of dev accuracy, multilingual (language-aware) or official (the official VQA "
        "evaluation script's, for English).",
    )

    def __post_init__(self) -> None:
        problems = []
        if self.task_type not in TASK_TYPES:
            problems.append(f"--task-type must be one of {', '.join(TASK_TYPES)}, got {self.task_type!r}")
        if self.task_type == "vqa" and self.kd_teacher:
            problems.append("--kd-teacher is for --task-type lm (a VQA teacher would need the images too)")
        if self.report_to not in REPORT_TO:
            problems.append(f"--report-to must be one of {', '.join(REPORT_TO)}, got {self.report_to!r}")
        if self.strategy not in strategies.names():
            problems.append(f"--strategy must be one of {', '.join(strategies.names())}, got {self.strategy!r}")
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
        if self.strategy in strategies.names():
            problems += strategies.option_problems(self)
            problems += strategies.strategy_class(self.strategy).problems(self)
        if self.full_finetune and self.kd_teacher:
            problems.append("--full-finetune with --kd-teacher is not supported (the teacher term is for adapters)")
        if not 0.0 <= self.warmup_share < 1.0:
            problems.append(f"--warmup-share must lie in [0, 1), got {self.warmup_share}")
        if not 0.0 <= self.ema_decay < 1.0:
            problems.append(f"--ema-decay must lie in [0, 1), got {self.ema_decay}")
        if self.olora_lambda < 0:
            problems.append(f"--olora-lambda must be at least 0, got {self.olora_lambda}")
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
            "probe_distractors",
        )
        if problem := check_normalization(self.vqa_normalization):
            problems.append(problem)
        if self.lr <= 0:
            problems.append(f"--lr must be positive, got {self.lr}")
        if problem := devices.device_problem(self.device):
            problems.append(problem)
        if problem := devices.dtype_problem(self.dtype):
            problems.append(problem)
        ConfigError.collect(problems, "see cstool replay-train --help")

    @property
    def label(self) -> str:
        """The strategy with its variant, as metrics and reports name it (``naive/full``,
        ``replay-adapter/merge+replay+new0.6``): each strategy names its own variants."""
        return strategies.strategy_class(self.strategy).label(self)

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
