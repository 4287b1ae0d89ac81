"""The learner behind replay-train: holds the base model, its peft adapters and the replay buffer, runs the
training phases a strategy asks for (:mod:`cstool.continual.strategies`) with the HF Trainer, scores dev sets,
and saves/restores state between tasks. What is trained when, and which adapters exist, is the strategy's.

Every training phase runs ``transformers.Trainer`` (via cstool's KDTrainer) on a dataset laid out by
:func:`cstool.continual.buffer.mixed_schedule` and read sequentially, so the batch composition is exactly the
planned one. Under ``torchrun``/``accelerate launch`` every process holds the learner and trains its slice of
every planned batch (``--batch-size`` is the whole batch, split evenly); process 0 alone scores the dev sets
and writes adapters and the buffer (:mod:`cstool.base.ranks`).
"""

from __future__ import annotations

import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from cstool.base import devices, ranks
from cstool.base.console import log
from cstool.base.errors import ConfigError
from cstool.continual import adapters, strategies
from cstool.continual.buffer import mixed_schedule, reservoir_sample
from cstool.continual.config import BUFFER, FULL, ReplayConfig, Task
from cstool.continual.state import RunState
from cstool.continual.tasks import TaskKind, task_kind
from cstool.io import artifacts, atomic
from cstool.lm.reporting import TENSORBOARD_DIR, StepProgress, report_callbacks
from cstool.models import hf

# transformers 5 warns about its own deprecated property whenever a peft model is trained or saved.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)


class Learner:
    def __init__(
        self,
        *,
        base: str,
        out: Path,
        config: ReplayConfig,
        tasks: list[Task],
        provenance: dict,
        kind: TaskKind | None = None,
        state: RunState | None = None,
    ):
        self.config, self.out, self.tasks, self.provenance = config, out, tasks, provenance
        self.base_path = hf.locate(base, offline=config.offline)  # a Hub id: its snapshot in the cache
        self.device = ranks.join(devices.resolve_device(config.device))
        self.dtype = devices.torch_dtype(config.dtype, self.device)
        self.kind: TaskKind = kind or task_kind(config)
        self.base = self.kind.load(self.base_path, self.device)
        self.tokenizer = self.kind.tokenizer
        self.targets = adapters.resolve_target_modules(self.base, config.target_modules)
        save_modules = adapters.embedding_modules(self.base) if config.train_embeddings else None
        self.lora_targets, self.save_modules = self.kind.lora_targets(self.base, self.targets, save_modules)
        log(
            f"LoRA r={config.lora_r} on {', '.join(self.targets)}"
            f"{' of the language model' if self.kind.name == 'vqa' else ''}"
            + (f"; also training {', '.join(self.save_modules)}" if self.save_modules else "")
        )
        self.model: Any = self.base  # becomes a PeftModel once the first adapter exists
        self.teacher = self._load_teacher() if config.kd_teacher else None
        self._check_limits()
        self.buffer: list[dict] = []
        self._buf_cache: tuple[int, list] = (-1, [])
        self.state = state or RunState()  # steps, examples and seconds are counted into it
        self.strategy = strategies.create(config)
        self._done: list[str] | None = None
        self.after_phase: Any = None  # called as after_phase(task, phase) when a training phase ends
        self.probes: list = []  # cstool.lm.probes.Probe, scored with the dev sets

    # ---- data -----------------------------------------------------------------------------------------

    def _add_to_buffer(self, i: int) -> None:
        task = self.tasks[i]
        kept = reservoir_sample(task.replay, self.config.buffer_per_task, seed=self.config.seed, task=task.name)
        self.buffer += [{"task": task.name, "row": row, "id": rid, "text": text} for _, (row, rid, text) in kept]

    def buffer_texts(self) -> list[str]:
        if self._buf_cache[0] != len(self.buffer):
            self._buf_cache = (len(self.buffer), [b["text"] for b in self.buffer])
        return self._buf_cache[1]

    # ---- adapters -------------------------------------------------------------------------------------

    def _lora(self, with_embeddings: bool):
        c = self.config
        return adapters.lora_config(
            r=c.lora_r,
            alpha=c.lora_alpha,
            dropout=c.lora_dropout,
            targets=self.lora_targets,
            modules_to_save=self.save_modules if with_embeddings else None,
        )

    def add_adapter(self, name: str, with_embeddings: bool = True, peft_config: Any = None) -> None:
        """A fresh LoRA adapter ``name`` (the run's rank and targets), or one of another peft method
        (``peft_config``, e.g. OSF's)."""
        from peft import get_peft_model

        torch.manual_seed(self.config.seed)  # the same fresh adapter whatever ran before
        peft_config = peft_config or self._lora(with_embeddings)
        if self.model is self.base:
            self.model = get_peft_model(self.base, peft_config, adapter_name=name)
        else:
            self.model.add_adapter(name, peft_config)

    def has(self, name: str) -> bool:
        return self.model is not self.base and name in self.model.peft_config

    def load(self, name: str, path: Path) -> None:
        self.model = hf.load_adapter(self.model, path, adapter_name=name, trainable=True)

    # ---- training ---------------------------------------------------------------------------------------

    def learn(self, i: int) -> None:
        """Train task ``i`` as the run's strategy does it."""
        self.strategy.learn(self, i)

    def activate(self, active: list[str], trainable: list[str]) -> None:
        adapters.activate(self.model, active, trainable)

    def merge(self, name: str, *, keep: str | None = None) -> None:
        """Merge adapter ``name`` into the base weights (frozen); adapter ``keep`` stays a separate adapter."""
        self.base, self.model = adapters.merge_into_base(self.model, name, keep=keep)

    def unfreeze_base(self) -> None:
        """Full fine-tuning: every weight of the language model trains (a VLM's vision tower stays frozen)."""
        for n, p in self.base.named_parameters():
            p.requires_grad_("vision_tower" not in n)

    def train(
        self,
        task: str,
        phase: str,
        steps: int,
        new: list[list],
        replay: list,
        ratio: float,
        route: Any = None,
        *,
        schedule: dict | None = None,
        callbacks: tuple = (),
        penalty: Any = None,
    ) -> None:
        """One training phase of ``task``: ``steps`` optimizer steps on batches of which a share ``ratio`` comes
        from ``replay`` (one list of texts per curriculum epoch in ``new``). ``route``: (new, replayed)
        parameter lists, each example's gradient reaching only its own. ``schedule``: TrainingArguments fields
        of the learning-rate schedule (default constant, no warm-up); ``callbacks``: more TrainerCallbacks;
        ``penalty``: a function of no arguments whose tensor is added to every batch's loss."""
        from transformers import PrinterCallback, ProgressCallback

        from cstool.lm.trainer_args import training_arguments

        if steps <= 0:
            return
        c, B = self.config, self.config.batch_size
        new_ids = [self.kind.encode(texts) for texts in new]
        rep_ids = self.kind.encode(replay) if replay else []
        items: list[tuple[dict, bool]] = []
        E = len(new)
        for e in range(E):  # curriculum: epoch e's variant fills the e-th slice of the steps
            seg = round((e + 1) * steps / E) - round(e * steps / E)
            for batch in mixed_schedule(
                n_new=len(new_ids[e]),
                n_replay=len(rep_ids),
                steps=seg,
                batch_size=B,
                ratio=ratio,
                seed=c.seed,
                key=(task, phase, e),
            ):
                items += [
                    (rep_ids[s.index], True) if s.source == "replay" else (new_ids[e][s.index], False) for s in batch
                ]
        work = self.out / "work" / f"{task}-{phase}"
        args = training_arguments(
            output_dir=str(work),
            batch_size=B,  # on several processes the whole batch, which each one slices
            lr=c.lr,
            seed=c.seed,
            device=self.device,
            dtype=c.dtype,
            gradient_checkpointing=c.gradient_checkpointing,
            max_steps=steps,
            accelerator_config={"split_batches": ranks.world_size() > 1},
            **(schedule or {"lr_scheduler_type": "constant", "warmup_steps": 0}),
            weight_decay=0.0,
            logging_steps=max(1, steps // 5),
            save_strategy="no",
            train_sampling_strategy="sequential",
        )
        n_rep = sum(r for _, r in items)
        log(
            f"  {phase}: {steps} steps × {B} examples ({n_rep} replayed), "
            f"{adapters.count_trainable(self.model):,} trainable parameters"
        )
        with warnings.catch_warnings():  # transformers' own deprecation notices about peft models
            warnings.filterwarnings("ignore", category=FutureWarning)
            trainer = self.kind.trainer(model=self.model, args=args, items=items, teacher=self.teacher, route=route)
            trainer.penalty = penalty
            trainer.remove_callback(PrinterCallback)
            trainer.remove_callback(ProgressCallback)
            trainer.add_callback(StepProgress(f"{task} {phase}"))
            for callback in report_callbacks(c.report_to, self.out / TENSORBOARD_DIR / f"{task}-{phase}"):
                trainer.add_callback(callback)
            for callback in callbacks:
                trainer.add_callback(callback)
            started = time.perf_counter()
            result = trainer.train()
            seconds = time.perf_counter() - started
        log(f"  {phase}: mean loss {result.training_loss:.4f}")
        counted = torch.tensor([trainer.fed["new"], trainer.fed["replay"]], device=trainer.args.device)
        if ranks.world_size() > 1:  # each process counted its slices
            counted = trainer.accelerator.reduce(counted, reduction="sum")
        self.state.count(
            task, steps=trainer.state.global_step, new=int(counted[0]), replay=int(counted[1]), seconds=seconds
        )
        if ranks.is_main():
            shutil.rmtree(work, ignore_errors=True)
        if self.after_phase is not None:
            self.after_phase(task, phase)

    # ---- evaluation -----------------------------------------------------------------------------------

    def evaluate(self, devs: dict[str, list]) -> dict[str, dict[str, float]]:
        """Every dev set's scores; on several processes only process 0 scores (the others get ``{}``)."""
        out: dict[str, dict[str, float]] = {}
        if not ranks.is_main():
            return out
        for name, examples in devs.items():
            with self._autocast():
                out[name] = self.kind.score(self.model, examples)
            log(f"  dev {name}: " + "  ".join(f"{k} {v:.4f}" for k, v in out[name].items() if k != "ppl"))
        for probe in self.probes:
            from cstool.lm.probes import score_probe

            with self._autocast(), torch.no_grad():
                out[probe.name] = score_probe(self.model, self.tokenizer, probe, batch_size=self.config.eval_batch_size)
            log(f"  probe {probe.name}: " + "  ".join(f"{k} {v:.4f}" for k, v in out[probe.name].items()))
        return out

    def _autocast(self) -> Any:
        """Dev scoring in the precision training runs in (--dtype); float32: as is."""
        import contextlib

        import torch

        if self.config.dtype == "float32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=torch.device(self.device).type, dtype=self.dtype)

    # ---- saving and restoring -------------------------------------------------------------------------

    def save_adapter(self, name: str, dest: Path) -> None:
        with atomic.atomic_dir(dest, subdir=name) as tmp:  # peft saves a named adapter in tmp/NAME/
            self.model.save_pretrained(str(tmp), selected_adapters=[name])
            src = tmp / name if (tmp / name).is_dir() else tmp
            base = hf.record_adapter_base(src, self.base_path, lives_at=dest)
            artifacts.write_sidecar(src, {**self.provenance, "adapter": name, "base": base})

    def save_full(self, adir: Path, task: str) -> None:
        """Full fine-tuning: the whole model's weights after ``task``, as ``full-after-<task>``; snapshots
        older than the previous task's are removed (a resume needs at most the last two)."""
        dest = adir / f"{FULL}-after-{task}"
        names = [t.name for t in self.tasks]
        for old in adir.glob(f"{FULL}-after-*"):
            if old.name.removeprefix(f"{FULL}-after-") in names[: max(0, names.index(task) - 1)]:
                shutil.rmtree(old, ignore_errors=True)
        with atomic.atomic_dir(dest) as tmp:
            self.base.save_pretrained(str(tmp))
            artifacts.write_sidecar(tmp, self.provenance)

    def save_after(self, i: int) -> None:
        """After task i is scored: snapshot what the strategy needs to resume, add the task to the buffer, write
        buffer.parquet (on several processes every one adds to its buffer, process 0 alone writes)."""
        task = self.tasks[i].name
        self._add_to_buffer(i)
        if ranks.is_main():
            if i > 0 or self.config.train_first:
                self.strategy.save(self, task, self.out / "adapters")
            rows = [{**b, "text": str(b["text"])} for b in self.buffer]  # a VQA example records its question
            table = artifacts.pa.Table.from_pylist(rows, schema=artifacts.SCHEMAS["replay_buffer"])
            artifacts.write_table(self.out / BUFFER, table, kind="replay_buffer", provenance=self.provenance)
        self._done = [t.name for t in self.tasks[: i + 1]]

    def restore(self, done: list[str]) -> None:
        """Bring the in-memory state to "after the tasks in ``done``" (a no-op unless resuming)."""
        if self._done == done or (self._done is None and not done):
            self._done = list(done)
            return
        k = len(done)
        self.buffer = []
        for i in range(k):
            self._add_to_buffer(i)
        trained = [t.name for i, t in enumerate(self.tasks[:k]) if i > 0 or self.config.train_first]
        if trained:
            self.strategy.restore(self, trained, self.out / "adapters")
        self._done = list(done)
        log(f"resumed after task {done[-1]}")

    def save_final(self, dest: Path) -> None:
        """The composed model (base + active adapters, merged) as a plain save_pretrained folder."""
        if self.model is self.base:
            merged = self.base
        else:
            active = self.model.active_adapters
            merged = self.model.merge_and_unload(adapter_names=list(active))
        with atomic.atomic_dir(dest) as tmp:
            merged.save_pretrained(str(tmp))
            self.kind.save_tokenizer(str(tmp))
            artifacts.write_sidecar(tmp, self.provenance)

    def _check_limits(self) -> None:
        """What would fail only once training runs is refused now: examples longer than a model's positions,
        token ids past a model's embedding table."""
        from cstool.lm.scoring import check_model_tokenizer

        for model, role in ((self.base, "base"), (self.teacher, "KD teacher")):
            if model is not None:
                hf.check_positions(model, self.config.max_length, role, flag="--max-length")
                check_model_tokenizer(model, self.tokenizer)

    def _load_teacher(self):
        teacher_tok = hf.load_tokenizer(self.config.kd_teacher, offline=self.config.offline)
        if hf.tokenizer_fingerprint(teacher_tok) != hf.tokenizer_fingerprint(self.tokenizer):
            raise ConfigError(
                f"--kd-teacher {self.config.kd_teacher} has another vocabulary than --base",
                "distillation needs the same tokenizer: use the teacher the base was distilled from",
            )
        teacher = hf.load_causal_lm(
            self.config.kd_teacher, offline=self.config.offline, device=self.device, dtype=self.dtype
        ).eval()
        teacher.requires_grad_(False)
        return teacher
