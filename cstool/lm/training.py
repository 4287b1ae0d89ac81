"""Causal-LM training machinery on the Hugging Face Trainer: packed token blocks, the KD-capable trainer,
held-out loss and the metrics table. Used by ``cstool distill`` and reusable by any stage that trains a
causal LM (e.g. replay-train's adapters with a KD term).

Because everything runs through ``transformers.Trainer``, ``accelerate launch -m cstool ...`` and
``torchrun -m cstool ...`` train on several GPUs with no code change.
"""

from __future__ import annotations

import gc
import json
import math
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from transformers import Trainer, TrainerCallback

from cstool import artifacts, atomic
from cstool.console import warn
from cstool.errors import CstoolError, InputError
from cstool.lm.kd import KINDS, causal_ce, kd_loss, topk_kd_loss
from cstool.lm.scoring import encode_ids


class TrainingDiverged(CstoolError):
    """The loss became NaN or infinite."""


# ---------------------------------------------------------------------------------------------------------
# Data: texts → one token stream → blocks of block_size


def read_texts(specs: Sequence[str], text_column: str) -> tuple[list[str], list[artifacts.Source]]:
    """Non-empty texts of ``text_column`` from every input artifact, in order, and the opened sources."""
    texts: list[str] = []
    sources = []
    for spec in specs:
        src = artifacts.open_source(spec)
        artifacts.require_text_column(
            src.schema,
            text_column,
            where=spec,
            hint="choose the text column with --text-column NAME (e.g. text, or text_cs after cstool switch)",
        )
        for batch in src.iter_batches():
            texts.extend(t for t in batch.column(text_column).to_pylist() if t and t.strip())
        sources.append(src)
    if not texts:
        raise InputError(
            f"no text to train on: column {text_column!r} of {', '.join(specs)} is empty",
            "give an artifact with at least one non-empty text (e.g. from cstool tag)",
        )
    return texts, sources


def pack_texts(texts: Iterable[str], tokenizer: Any, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Tokenise texts (with the tokenizer's special tokens, then EOS), concatenate, cut into blocks.

    Returns ``ids [N, block_size]`` int64 and ``lengths [N]``: every block is full except possibly the last,
    which is right-padded (its padding is masked out of every loss).
    """
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos if eos is not None else 0)
    stream: list[int] = []
    texts = list(texts)
    for start in range(0, len(texts), 1000):
        for ids in encode_ids(tokenizer, texts[start : start + 1000], add_special_tokens=True):
            stream.extend(ids)
            if eos is not None and (not ids or ids[-1] != eos):
                stream.append(eos)
    flat = np.asarray(stream, dtype=np.int64)
    n_full, rest = divmod(len(flat), block_size)
    blocks = [flat[: n_full * block_size].reshape(n_full, block_size)]
    lengths = [np.full(n_full, block_size, dtype=np.int64)]
    if rest >= 2:
        last = np.full((1, block_size), pad, dtype=np.int64)
        last[0, :rest] = flat[n_full * block_size :]
        blocks.append(last)
        lengths.append(np.array([rest], dtype=np.int64))
    return np.concatenate(blocks), np.concatenate(lengths)


class BlockDataset(torch.utils.data.Dataset):
    """Packed blocks, optionally with a teacher's top-k cache aligned to them (see teacher_cache)."""

    def __init__(self, ids: np.ndarray, lengths: np.ndarray, cache: dict[str, np.ndarray] | None = None):
        self.ids, self.lengths, self.cache = ids, lengths, cache

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {"input_ids": torch.from_numpy(self.ids[i]), "length": torch.tensor(int(self.lengths[i]))}
        if self.cache is not None:
            item["topk_ids"] = torch.from_numpy(self.cache["topk_ids"][i].astype(np.int64))
            item["topk_logprobs"] = torch.from_numpy(self.cache["topk_logprobs"][i].astype(np.float32))
            item["tail_logprob"] = torch.from_numpy(self.cache["tail_logprob"][i].astype(np.float32))
        return item


def collate_blocks(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack blocks; attention_mask and labels (−100 on padding) come from each block's length."""
    batch = {k: torch.stack([it[k] for it in items]) for k in items[0] if k != "length"}
    lengths = torch.stack([it["length"] for it in items])
    attn = torch.arange(batch["input_ids"].shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
    batch["attention_mask"] = attn.long()
    batch["labels"] = batch["input_ids"].masked_fill(~attn, -100)
    return batch


# ---------------------------------------------------------------------------------------------------------
# The trainer


class _GcThaw(TrainerCallback):
    """Thaws the objects :meth:`KDTrainer.train` froze, once training begins."""

    frozen = False

    def on_train_begin(self, *args: Any, **kwargs: Any) -> None:
        if self.frozen:
            gc.unfreeze()
            self.frozen = False


class KDTrainer(Trainer):
    """``transformers.Trainer`` whose loss is ``α·CE + (1−α)·τ²·D(teacher_τ ‖ student_τ)`` per token.

    The teacher is a model run on the fly (``teacher=``), or a top-k cache whose fields (``topk_ids``,
    ``topk_logprobs``, ``tail_logprob``) arrive in the batch. With neither, or α = 1, it is plain causal-LM
    training. Logs carry ``ce``, ``kd`` and ``tokens_per_s`` next to the Trainer's ``loss`` and
    ``learning_rate``; a NaN/inf loss stops training with the step number.
    """

    def __init__(
        self,
        *args: Any,
        teacher: torch.nn.Module | None = None,
        alpha: float = 1.0,
        temperature: float = 2.0,
        divergence: str = "fkl",
        vocab_size: int | None = None,
        **kwargs: Any,
    ):
        if divergence not in KINDS:
            raise ValueError(f"divergence must be one of {KINDS}, got {divergence!r}")
        kwargs.setdefault("data_collator", collate_blocks)
        super().__init__(*args, **kwargs)
        self.alpha, self.temperature, self.divergence = alpha, temperature, divergence
        self.vocab_size = vocab_size  # compare only the first V logits when the models pad their heads
        self.loss_is_scaled_for_ga = False  # our loss is a per-batch mean
        self.model_accepts_loss_kwargs = False
        self.teacher = None
        if teacher is not None:
            self.teacher = teacher.to(self.args.device).eval()
            self.teacher.requires_grad_(False)
        self._gc_thaw = _GcThaw()
        self.add_callback(self._gc_thaw)
        self._sums = torch.zeros(4, dtype=torch.float64)  # ce, kd, micro-steps, tokens since last log
        self._last_log = time.perf_counter()

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs["labels"]
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        logits = outputs.logits
        ce, mask = causal_ce(logits, labels)
        kd = torch.zeros((), device=logits.device)
        if self.alpha < 1.0:
            v = self.vocab_size or logits.shape[-1]
            s_logits = logits if v == logits.shape[-1] else logits[..., :v]
            if "topk_ids" in inputs:
                kd = topk_kd_loss(
                    s_logits,
                    inputs["topk_ids"],
                    inputs["topk_logprobs"],
                    inputs["tail_logprob"],
                    mask,
                    temperature=self.temperature,
                    kind=self.divergence,
                )
            elif self.teacher is not None:
                with torch.no_grad():
                    t_logits = self.teacher(
                        input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
                    ).logits[..., :v]
                kd = kd_loss(s_logits, t_logits, mask, temperature=self.temperature, kind=self.divergence)
        loss = self.alpha * ce + (1.0 - self.alpha) * kd if self.alpha < 1.0 else ce
        if model.training:
            values = torch.stack([ce.detach().double(), kd.detach().double()]).cpu()
            if not torch.isfinite(values).all():
                step = self.state.global_step + 1
                raise TrainingDiverged(
                    f"training diverged at step {step}: ce={values[0].item()}, kd={values[1].item()}",
                    "lower --lr (e.g. by 10×), check the data for empty or garbage text, or lower --temperature",
                )
            self._sums += torch.tensor([values[0].item(), values[1].item(), 1.0, float(inputs["attention_mask"].sum())])
        return (loss, outputs) if return_outputs else loss

    def train(self, *args: Any, **kwargs: Any):
        """``Trainer.train`` with the objects alive before it frozen for the garbage collector until training
        begins: the full collection the Trainer starts with (accelerate's ``free_memory``) then skips them, which
        otherwise costs a fraction of a second per call in a process holding models, tokenizers and encoded data.
        (They are thawed for the steps: with everything frozen, Python runs its full collections far more often.)"""
        if gc.get_freeze_count() == 0:
            gc.freeze()
            self._gc_thaw.frozen = True
        try:
            return super().train(*args, **kwargs)
        finally:
            self._gc_thaw.on_train_begin()

    def floating_point_ops(self, inputs: dict[str, Any]) -> int:
        """The Trainer's estimate (6 × tokens × non-embedding parameters), with the parameter count taken once
        per model rather than walking every module at every step."""
        model = self.model
        if getattr(self, "_flops_model", None) is not model:
            self._flops_model = model
            self._flops_params = (
                model.num_parameters(exclude_embeddings=True) if hasattr(model, "num_parameters") else 0
            )
        main = getattr(model, "main_input_name", "input_ids")
        return 6 * inputs[main].numel() * self._flops_params if main in inputs else 0

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._sums[2] > 0:
            sums = self._sums.to(self.args.device)
            if self.accelerator.num_processes > 1:
                sums = self.accelerator.reduce(sums, reduction="sum")
            now = time.perf_counter()
            ce, kd, n, tokens = sums.tolist()
            logs.update(
                ce=round(ce / n, 6), kd=round(kd / n, 6), tokens_per_s=round(tokens / (now - self._last_log), 1)
            )
            self._sums.zero_()
            self._last_log = now
        super().log(logs, start_time)


def pad_examples(items: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad variable-length examples (``input_ids`` and optional ``labels`` lists) into a batch with an
    attention mask; labels default to the ids (−100 on padding). ``is_replay`` flags are carried along."""
    width = max(len(it["input_ids"]) for it in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), -100, dtype=torch.long)
    attn = torch.zeros((len(items), width), dtype=torch.long)
    for r, it in enumerate(items):
        n = len(it["input_ids"])
        ids[r, :n] = torch.tensor(it["input_ids"])
        labels[r, :n] = torch.tensor(it.get("labels", it["input_ids"]))
        attn[r, :n] = 1
    batch = {"input_ids": ids, "attention_mask": attn, "labels": labels}
    if "is_replay" in items[0]:
        batch["is_replay"] = torch.tensor([bool(it["is_replay"]) for it in items])
    return batch


class ScheduledTrainer(KDTrainer):
    """A KDTrainer that reads its dataset in order (the batch composition is planned in the dataset, see
    :func:`cstool.continual.buffer.mixed_schedule`) and counts the new and replayed examples it trained on
    (``is_replay`` flags in the batch)."""

    def __init__(self, *args: Any, route: tuple[list, list] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fed = {"new": 0, "replay": 0}
        self.route = route  # (parameters new examples update, parameters replayed examples update)

    def _get_train_sampler(self, train_dataset=None):
        return torch.utils.data.SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)

    def batch_loss(self, model, inputs, return_outputs=False):
        """The loss of one (sub-)batch; subclasses define it."""
        return KDTrainer.compute_loss(self, model, inputs, return_outputs=return_outputs)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """:meth:`batch_loss`, or with ``route`` gradients routed per example: the new examples of the batch
        are a sub-batch whose forward pass has only ``route[0]`` trainable, the replayed ones a sub-batch with
        only ``route[1]`` trainable, so each update reaches only its own parameters. The batch loss is the
        mean of the two sub-batch losses weighted by their numbers of examples."""
        if self.route is None or not model.training:
            return self.batch_loss(model, inputs, return_outputs=return_outputs)
        replay = inputs["is_replay"]
        total = None
        for is_replay, trainable, frozen in ((False, *self.route), (True, *reversed(self.route))):
            chosen = replay == is_replay
            n = int(chosen.sum())
            if n == 0:
                continue
            sub = {k: v[chosen] if torch.is_tensor(v) and v.shape[:1] == replay.shape else v for k, v in inputs.items()}
            for p in frozen:
                p.requires_grad_(False)
            for p in trainable:
                p.requires_grad_(True)
            loss = self.batch_loss(model, sub) * (n / len(replay))
            total = loss if total is None else total + loss
        for p in (*self.route[0], *self.route[1]):
            p.requires_grad_(True)
        return total

    def pop_replay_flags(self, model: Any, inputs: dict) -> torch.Tensor | None:
        """Remove the ``is_replay`` flags from ``inputs`` and count them while training."""
        replay = inputs.pop("is_replay", None)
        if model.training and replay is not None:
            n_rep = int(replay.sum())
            self.fed["replay"] += n_rep
            self.fed["new"] += len(replay) - n_rep
        return replay


# ---------------------------------------------------------------------------------------------------------
# Checkpoints


def last_complete_checkpoint(ckpt_dir: Path) -> Path | None:
    """The newest ``checkpoint-N`` whose save finished (its trainer_state.json, written last, is whole).
    Newer ones that a kill cut off while saving are removed, so training continues from the complete one."""
    found = sorted(
        (int(p.name.removeprefix("checkpoint-")), p)
        for p in (ckpt_dir.glob("checkpoint-*") if ckpt_dir.is_dir() else [])
        if p.is_dir() and p.name.removeprefix("checkpoint-").isdigit()
    )
    for _, path in reversed(found):
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
            return path
        except (OSError, ValueError):
            warn(f"removing {path}: its save was cut off (no complete trainer_state.json)")
            atomic.discard(path)
    return None


# ---------------------------------------------------------------------------------------------------------
# Measurements


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


@torch.no_grad()
def heldout_loss(model: torch.nn.Module, ids: np.ndarray, lengths: np.ndarray, *, batch_size: int = 8) -> float:
    """Mean next-token cross-entropy (nats/token) of ``model`` over packed blocks."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    dataset = BlockDataset(ids, lengths)
    for start in range(0, len(dataset), batch_size):
        batch = collate_blocks([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        logits = model(
            input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)
        ).logits
        ce, mask = causal_ce(logits, batch["labels"].to(device))
        n = int(mask.sum())
        total += ce.item() * n
        count += n
    model.train(was_training)
    return total / max(count, 1)
