"""What a training run reports: its log rows as a ``train_metrics`` table, one line per log on the console,
and (``--report-to tensorboard``) the Trainer's TensorBoard event files under the output folder.
"""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
from transformers import TrainerCallback

from cstool.base.console import log, progress
from cstool.base.errors import ConfigError
from cstool.io import artifacts


def metrics_table(log_history: list[dict]) -> pa.Table:
    """The training log rows (those with ce/kd) as a ``train_metrics`` table, one row per logged step."""
    rows = [h for h in log_history if "ce" in h and "loss" in h]
    return pa.table(
        {
            "step": pa.array([int(h["step"]) for h in rows], pa.int64()),
            "loss": pa.array([float(h["loss"]) for h in rows], pa.float64()),
            "ce": pa.array([float(h["ce"]) for h in rows], pa.float64()),
            "kd": pa.array([float(h["kd"]) for h in rows], pa.float64()),
            "lr": pa.array([float(h.get("learning_rate", math.nan)) for h in rows], pa.float64()),
            "tokens_per_s": pa.array([float(h["tokens_per_s"]) for h in rows], pa.float64()),
        },
        schema=artifacts.TRAIN_METRICS,
    )


REPORT_TO = ("none", "tensorboard")
TENSORBOARD_DIR = "tensorboard"  # under a training stage's output folder


def report_callbacks(report_to: str, log_dir: str | Path) -> list:
    """Trainer callbacks for ``--report-to``: none, or the Trainer's own TensorBoard integration writing its
    event files to ``log_dir`` (transformers' default, OUTPUT_DIR/runs/DATE_HOST, would lie inside the
    checkpoint folder, which is deleted at the end)."""
    if report_to == "none":
        return []
    from transformers.integrations import TensorBoardCallback

    try:
        callback = TensorBoardCallback()
    except RuntimeError:  # neither tensorboard nor tensorboardX is installed
        raise ConfigError("--report-to tensorboard needs the tensorboard package", "pip install tensorboard") from None
    callback.logging_dir = str(log_dir)
    return [callback]


class DevScalars:
    """Dev scores as TensorBoard scalars in ``log_dir`` (``--report-to tensorboard`` of replay-train):
    ``dev/SET/METRIC`` after each task and ``dev-phase/SET/METRIC`` after each training phase, at the run's
    optimizer steps so far, so a resumed run writes the same points again rather than new ones."""

    def __init__(self, log_dir: str | Path):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir))

    def add(self, rows: list[dict], *, step: int) -> None:
        """``rows``: long-form metrics rows (eval_task, metric, value, phase) of one scoring."""
        for r in rows:
            prefix = "dev-phase" if r.get("phase") else "dev"
            self.writer.add_scalar(f"{prefix}/{r['eval_task']}/{r['metric']}", r["value"], global_step=step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class ConsoleLog(TrainerCallback):
    """Training logs as one line each on stderr (the Trainer's own printer writes to stdout)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs and "ce" in logs:
            log(
                f"step {state.global_step}/{state.max_steps}  loss {logs['loss']:.4f}  ce {logs['ce']:.4f}  "
                f"kd {logs['kd']:.4f}  lr {logs.get('learning_rate', 0):.2e}  {logs['tokens_per_s']:.0f} tok/s"
            )


class StepProgress(TrainerCallback):
    """A progress bar over a Trainer's optimizer steps (count of the total, time spent and left) on stderr;
    silent with --quiet, when stderr is not a terminal, and on every process but the first."""

    def __init__(self, description: str):
        self.description = description
        self.bar = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.bar = progress(self.description, total=state.max_steps)
            self.bar.start()
            self.bar.update(self.bar.task_ids[0], completed=state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(self.bar.task_ids[0], completed=state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
