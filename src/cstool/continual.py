"""The learner behind replay-train: holds the base model, its peft adapters and the replay buffer, trains
one task at a time with the HF Trainer, scores dev sets, and saves/restores state between tasks.

Every training phase runs ``transformers.Trainer`` (via cstool's KDTrainer) on a dataset laid out by
:func:`cstool.replay_buffer.mixed_schedule` and read sequentially, so the batch composition is exactly the
planned one. replay-train runs in one process (CPU or one GPU); its run folder is not shared between ranks.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from cstool import adapters, artifacts, models
from cstool.console import log
from cstool.errors import ConfigError
from cstool.kd import kd_loss
from cstool.replay_buffer import mixed_schedule, reservoir_sample
from cstool.stages.replay import BUFFER, MAIN, REPLAY, ReplayConfig, Task
from cstool.training import KDTrainer

# transformers 5 warns about its own deprecated property whenever a peft model is trained or saved.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)


class _Examples(torch.utils.data.Dataset):
    def __init__(self, items: list[tuple[list[int], bool]]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        ids, replayed = self.items[i]
        if isinstance(ids, dict):  # an encoded VQA example (cstool.vqa.train)
            return {**ids, "is_replay": replayed}
        return {"input_ids": ids, "is_replay": replayed}


def _collate(pad_id: int):
    def collate(items: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(it["input_ids"]) for it in items)
        ids = torch.full((len(items), width), pad_id, dtype=torch.long)
        attn = torch.zeros((len(items), width), dtype=torch.long)
        for r, it in enumerate(items):
            ids[r, : len(it["input_ids"])] = torch.tensor(it["input_ids"])
            attn[r, : len(it["input_ids"])] = 1
        return {"input_ids": ids, "attention_mask": attn, "labels": ids.masked_fill(attn == 0, -100),
                "is_replay": torch.tensor([it["is_replay"] for it in items])}

    return collate


class ReplayTrainer(KDTrainer):
    """CE on every example; with a KD teacher, ``α·CE + (1−α)·τ²·KL`` where the KL term covers only the
    replayed examples of the batch (the teacher anchors what earlier tasks knew)."""

    def __init__(self, *args: Any, kd_teacher=None, kd_alpha: float = 0.5, kd_temperature: float = 2.0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.kd_teacher, self.kd_alpha, self.kd_temperature = kd_teacher, kd_alpha, kd_temperature
        self.fed = {"new": 0, "replay": 0}  # examples the Trainer actually trained on

    def _get_train_sampler(self, train_dataset=None):
        """Read the planned schedule in order (the batch composition is laid out in the dataset)."""
        return torch.utils.data.SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """``α·CE + (1−α)·τ²·KL`` on every batch when there is a teacher; the KL term (per token of the
        replayed examples) is 0 in batches without replayed examples, so CE always has weight α."""
        replay = inputs.pop("is_replay")
        if model.training:
            n_rep = int(replay.sum())
            self.fed["replay"] += n_rep
            self.fed["new"] += len(replay) - n_rep
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True)
        if self.kd_teacher is not None and self.kd_alpha < 1.0:
            kd = torch.zeros((), device=loss.device)
            if bool(replay.any()):
                labels = inputs["labels"][replay]
                mask = torch.nn.functional.pad(labels[:, 1:], (0, 1), value=-100).ne(-100)  # as causal_ce
                with torch.no_grad():
                    t_logits = self.kd_teacher(input_ids=inputs["input_ids"][replay],
                                               attention_mask=inputs["attention_mask"][replay]).logits
                v = min(t_logits.shape[-1], outputs.logits.shape[-1])  # heads padded past the vocabulary
                kd = kd_loss(outputs.logits[replay][..., :v], t_logits[..., :v], mask, temperature=self.kd_temperature)
            loss = self.kd_alpha * loss + (1.0 - self.kd_alpha) * kd
        return (loss, outputs) if return_outputs else loss


class Learner:
    def __init__(self, *, base: str, out: Path, config: ReplayConfig, tasks: list[Task], provenance: dict):
        self.config, self.out, self.tasks, self.provenance = config, out, tasks, provenance
        self.base_path = base
        self.device = "cuda" if config.device == "auto" and torch.cuda.is_available() else (
            "cpu" if config.device == "auto" else config.device)
        self.vqa = None  # a cstool.vqa.train.VqaCodec with --task-type vqa
        if config.task_type == "vqa":
            from cstool.vqa.model import require_vision
            from cstool.vqa.train import VqaCodec

            self.base, processor = models.load_vlm(base, device=self.device)
            require_vision(self.base, base)
            self.vqa, self.tokenizer = VqaCodec(processor), processor.tokenizer
        else:
            self.tokenizer = models.load_tokenizer(base)
            self.base = models.load_causal_lm(base, device=self.device)
        self.targets = adapters.resolve_target_modules(self.base, config.target_modules)
        self.lora_targets: Any = self.targets
        self.save_modules = adapters.embedding_modules(self.base) if config.train_embeddings else None
        if self.vqa:  # LoRA on the language model only; the vision tower stays frozen
            from cstool.vqa.model import projector_modules, text_only_targets

            self.lora_targets = text_only_targets(self.targets)
            if self.save_modules:  # --train-embeddings: also the vision→text projector
                self.save_modules += projector_modules(self.base)
        log(f"LoRA r={config.lora_r} on {', '.join(self.targets)}{' of the language model' if self.vqa else ''}"
            + (f"; also training {', '.join(self.save_modules)}" if self.save_modules else ""))
        self.model: Any = self.base  # becomes a PeftModel once the first adapter exists
        self.teacher = self._load_teacher() if config.kd_teacher else None
        self.buffer: list[dict] = []
        self.steps: dict[str, int] = {}
        self.train_seconds = 0.0  # wall time inside Trainer.train, all phases
        self._encoded: dict[int, tuple[list, list]] = {}
        self._buf_cache: tuple[int, list] = (-1, [])
        self.examples: dict[str, dict[str, int]] = {}  # per task: new and replayed examples trained on
        self._done: list[str] | None = None
        self._task_adapter: str | None = None

    # ---- data -----------------------------------------------------------------------------------------

    def _encode(self, texts: list) -> list:
        if self.vqa:
            return self.vqa.encode(texts)
        cached = self._encoded.get(id(texts))
        if cached is None or cached[0] is not texts:  # the list itself is kept, so its id is never reused
            eos = self.tokenizer.eos_token_id
            enc = self.tokenizer(texts, add_special_tokens=True, truncation=True, max_length=self.config.max_length - 1)
            cached = (texts, [ids + [eos] if eos is not None else ids for ids in enc["input_ids"]])
            self._encoded[id(texts)] = cached
        return cached[1]

    def _add_to_buffer(self, i: int) -> None:
        task = self.tasks[i]
        kept = reservoir_sample(task.replay, self.config.buffer_per_task, seed=self.config.seed, task=task.name)
        self.buffer += [{"task": task.name, "row": row, "id": rid, "text": text} for _, (row, rid, text) in kept]

    def _buffer_texts(self) -> list[str]:
        if self._buf_cache[0] != len(self.buffer):
            self._buf_cache = (len(self.buffer), [b["text"] for b in self.buffer])
        return self._buf_cache[1]

    # ---- adapters -------------------------------------------------------------------------------------

    def _lora(self, with_embeddings: bool):
        c = self.config
        return adapters.lora_config(r=c.lora_r, alpha=c.lora_alpha, dropout=c.lora_dropout, targets=self.lora_targets,
                                    modules_to_save=self.save_modules if with_embeddings else None)

    def _add_adapter(self, name: str, with_embeddings: bool = True) -> None:
        from peft import get_peft_model

        torch.manual_seed(self.config.seed)  # the same fresh adapter whatever ran before
        if self.model is self.base:
            self.model = get_peft_model(self.base, self._lora(with_embeddings), adapter_name=name)
        else:
            self.model.add_adapter(name, self._lora(with_embeddings))

    def _has(self, name: str) -> bool:
        return self.model is not self.base and name in self.model.peft_config

    def _load(self, name: str, path: Path) -> None:
        self.model = models.load_adapter(self.model, path, adapter_name=name, trainable=True)

    # ---- training -------------------------------------------------------------------------------------

    def learn(self, i: int) -> None:
        c, task = self.config, self.tasks[i]
        S, rho = c.steps_per_task, c.replay_ratio
        buffer = self._buffer_texts()
        if c.strategy in ("naive", "replay", "joint"):
            if not self._has(MAIN):
                self._add_adapter(MAIN)
            adapters.activate(self.model, [MAIN], [MAIN])
            if c.strategy == "joint":
                union = [t for k in range(i + 1) for t in (self.tasks[k].train[0] if k or c.train_first else
                                                           [r[2] for r in self.tasks[k].replay])]
                self._train(task.name, "joint", S, [union], [], 0.0)
            else:
                self._train(task.name, c.strategy, S, task.train, buffer, rho if c.strategy == "replay" else 0.0)
        else:
            previous, name = self._task_adapter, f"task-{task.name}"
            self._add_adapter(name)
            if c.task_adapter_init == "previous" and previous and self._has(previous):
                adapters.copy_weights(self.model, previous, name)
            adapters.activate(self.model, [name], [name])
            if previous and self._has(previous):  # A_{t-1} is on disk; the model after t is base + A_t + R
                self.model.delete_adapter(previous)
            self._task_adapter = name
            s_task = round((1.0 - rho) * S) if buffer else S  # nothing to consolidate yet: all steps to A_t
            self._train(task.name, "task-adapter", s_task, task.train, [], 0.0)
            if S - s_task > 0:
                if not self._has(REPLAY):
                    self._add_adapter(REPLAY, with_embeddings=False)
                adapters.activate(self.model, [name, REPLAY], [REPLAY])
                self._train(task.name, "replay-adapter", S - s_task, task.train, buffer, 1.0 - c.consolidation_new)
            adapters.activate(self.model, [name] + ([REPLAY] if self._has(REPLAY) else []), [])

    def _train(self, task: str, phase: str, steps: int, new: list[list[str]], replay: list[str], ratio: float) -> None:
        from transformers import PrinterCallback, ProgressCallback, TrainingArguments

        if steps <= 0:
            return
        c, B = self.config, self.config.batch_size
        new_ids = [self._encode(texts) for texts in new]
        rep_ids = self._encode(replay) if replay else []
        items: list[tuple[list[int], bool]] = []
        E = len(new)
        for e in range(E):  # curriculum: epoch e's variant fills the e-th slice of the steps
            seg = round((e + 1) * steps / E) - round(e * steps / E)
            for batch in mixed_schedule(n_new=len(new_ids[e]), n_replay=len(rep_ids), steps=seg, batch_size=B,
                                        ratio=ratio, seed=c.seed, key=(task, phase, e)):
                items += [(rep_ids[s.index], True) if s.source == "replay" else (new_ids[e][s.index], False) for s in batch]
        work = self.out / "work" / f"{task}-{phase}"
        args = TrainingArguments(
            output_dir=str(work), max_steps=steps, per_device_train_batch_size=B, learning_rate=c.lr,
            lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0, logging_steps=max(1, steps // 5),
            save_strategy="no", report_to=[], seed=c.seed, data_seed=c.seed, use_cpu=self.device == "cpu",
            remove_unused_columns=False, disable_tqdm=True, dataloader_num_workers=0,
            train_sampling_strategy="sequential", dataloader_pin_memory=self.device != "cpu",
        )
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        n_rep = sum(r for _, r in items)
        log(f"  {phase}: {steps} steps × {B} examples ({n_rep} replayed), "
            f"{adapters.count_trainable(self.model):,} trainable parameters")
        with warnings.catch_warnings():  # transformers' own deprecation notices about peft models
            warnings.filterwarnings("ignore", category=FutureWarning)
            if self.vqa:
                from cstool.vqa.train import VqaTrainer

                trainer = VqaTrainer(model=self.model, args=args, train_dataset=_Examples(items),
                                     data_collator=self.vqa.collate)
            else:
                trainer = ReplayTrainer(model=self.model, args=args, train_dataset=_Examples(items),
                                        data_collator=_collate(pad), kd_teacher=self.teacher, kd_alpha=c.kd_alpha,
                                        kd_temperature=c.kd_temperature)
            trainer.remove_callback(PrinterCallback)
            trainer.remove_callback(ProgressCallback)
            started = time.perf_counter()
            result = trainer.train()
            self.train_seconds += time.perf_counter() - started
        log(f"  {phase}: mean loss {result.training_loss:.4f}")
        self.steps[task] = self.steps.get(task, 0) + trainer.state.global_step
        fed = self.examples.setdefault(task, {"new": 0, "replay": 0})
        fed["new"] += getattr(trainer, "fed", {}).get("new", 0)
        fed["replay"] += getattr(trainer, "fed", {}).get("replay", 0)
        shutil.rmtree(work, ignore_errors=True)

    # ---- evaluation -----------------------------------------------------------------------------------

    def evaluate(self, devs: dict[str, list[str]]) -> dict[str, dict[str, float]]:
        from cstool.stages.evaluate import score_lm

        out = {}
        for name, texts in devs.items():
            if self.vqa:
                acc = self.vqa.accuracy(self.model, texts, batch_size=self.config.eval_batch_size,
                                        max_new_tokens=self.config.max_new_tokens)
                out[name] = {"accuracy": acc}
                log(f"  dev {name}: accuracy {acc:.4f}")
                continue
            score = score_lm(self.model, self.tokenizer, texts, batch_size=self.config.eval_batch_size)
            out[name] = {"nll": score.mean_nll, "bpb": score.bpb, "ppl": score.ppl}
            log(f"  dev {name}: nll {score.mean_nll:.4f}  bpb {score.bpb:.4f}")
        return out

    # ---- saving and restoring -------------------------------------------------------------------------

    def _save_adapter(self, name: str, dest: Path) -> None:
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        self.model.save_pretrained(str(tmp), selected_adapters=[name])
        src = tmp / name if (tmp / name).is_dir() else tmp
        artifacts.write_sidecar(src, {**self.provenance, "adapter": name})
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(src, dest)
        shutil.rmtree(tmp, ignore_errors=True)

    def save_after(self, i: int) -> None:
        """After task i is scored: snapshot its adapters, add it to the buffer, write buffer.parquet."""
        task = self.tasks[i].name
        adir = self.out / "adapters"
        if self._has(MAIN):
            self._save_adapter(MAIN, adir / task)
        if self._task_adapter and self._has(self._task_adapter):
            self._save_adapter(self._task_adapter, adir / task)
        if self._has(REPLAY):
            self._save_adapter(REPLAY, adir / f"{REPLAY}-after-{task}")
            self._save_adapter(REPLAY, adir / REPLAY)
        self._add_to_buffer(i)
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
        adir = self.out / "adapters"
        if trained and self.config.strategy != "replay-adapter":
            self._load(MAIN, adir / trained[-1])
        elif trained:
            self._task_adapter = f"task-{trained[-1]}"
            self._load(self._task_adapter, adir / trained[-1])
            if (adir / f"{REPLAY}-after-{trained[-1]}").is_dir():
                self._load(REPLAY, adir / f"{REPLAY}-after-{trained[-1]}")
            adapters.activate(self.model, [self._task_adapter] + ([REPLAY] if self._has(REPLAY) else []), [])
        self._done = list(done)
        log(f"resumed after task {done[-1]}")

    def save_final(self, dest: Path) -> None:
        """The composed model (base + active adapters, merged) as a plain save_pretrained folder."""
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        if self.model is self.base:
            merged = self.base
        else:
            active = self.model.active_adapters
            merged = self.model.merge_and_unload(adapter_names=list(active))
        merged.save_pretrained(str(tmp))
        (self.vqa.processor if self.vqa else self.tokenizer).save_pretrained(str(tmp))
        artifacts.write_sidecar(tmp, self.provenance)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)

    def _load_teacher(self):
        teacher_tok = models.load_tokenizer(self.config.kd_teacher)
        if models.tokenizer_fingerprint(teacher_tok) != models.tokenizer_fingerprint(self.tokenizer):
            raise ConfigError(
                f"--kd-teacher {self.config.kd_teacher} has another vocabulary than --base",
                "distillation needs the same tokenizer: use the teacher the base was distilled from",
            )
        teacher = models.load_causal_lm(self.config.kd_teacher, device=self.device).eval()
        teacher.requires_grad_(False)
        return teacher
