"""The Hugging Face Trainer subclasses that train causal LMs: :class:`KDTrainer` (CE plus an optional KD term
from a teacher run on the fly or a top-k cache, with per-token means over all processes) and
:class:`ScheduledTrainer` (batches read in their planned order, new and replayed examples counted, gradients
optionally routed per example), with the padding collator of variable-length examples. Used by ``cstool
distill`` and reusable by any stage that trains a causal LM (e.g. replay-train's adapters with a KD term).

Because everything runs through ``transformers.Trainer``, ``accelerate launch -m cstool ...`` and
``torchrun -m cstool ...`` train on several GPUs with no code change.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import torch
from transformers import Trainer, TrainerCallback

from cstool.base.errors import CstoolError
from cstool.lm.blocks import collate_blocks
from cstool.lm.kd import KINDS, causal_ce, kd_loss, topk_kd_loss


class TrainingDiverged(CstoolError):
    """The loss became NaN or infinite."""


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
    ``topk_logprobs``, ``tail_logprob``; across tokenizers ``teacher_sorted_logprobs`` and ``align``) arrive
    in the batch. With neither, or α = 1, it is plain causal-LM
    training. Logs carry ``ce``, ``kd`` and ``tokens_per_s`` next to the Trainer's ``loss`` and
    ``learning_rate``; a NaN/inf loss stops training with the step number.

    Each (micro-)batch's loss is a mean over its predicted tokens. On several processes (``torchrun``) that
    batch is split among them, and a plain per-process mean would weigh a process's tokens by its own count,
    as DDP does, so a batch holding the short last block would count its tokens differently from one process.
    With ``global_token_mean`` (the default) every process scales its mean by ``its tokens × processes /
    the micro-batch's tokens over all processes`` (one all-reduce of a count per micro-batch; DDP's gradient
    average then divides by the number of processes), so the loss, ``ce`` and ``kd`` are means over the
    global micro-batch's tokens, exactly what one process computes for the same batch. The Trainer's own
    ``num_items_in_batch`` (with ``average_tokens_across_devices``) is the count over all the micro-batches
    of a gradient-accumulation step; normalising by it would change single-process losses whenever
    ``grad_accum`` > 1, so it is not used: one process computes exactly what it computed before.
    """

    global_token_mean = True

    def __init__(
        self,
        *args: Any,
        teacher: torch.nn.Module | None = None,
        alpha: float = 1.0,
        temperature: float = 2.0,
        divergence: str = "fkl",
        vocab_size: int | None = None,
        cross_tokenizer: str | None = None,
        **kwargs: Any,
    ):
        if divergence not in KINDS:
            raise ValueError(f"divergence must be one of {KINDS}, got {divergence!r}")
        kwargs.setdefault("data_collator", collate_blocks)
        super().__init__(*args, **kwargs)
        self.alpha, self.temperature, self.divergence = alpha, temperature, divergence
        self.vocab_size = vocab_size  # compare only the first V logits when the models pad their heads
        self.cross_tokenizer = cross_tokenizer  # uld | spans: the batch carries teacher_ids and align
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
            elif "teacher_sorted_logprobs" in inputs:  # a cross-tokenizer cache: the teacher's sorted top k
                from cstool.lm.cross_tokenizer import cached_span_loss

                kd = cached_span_loss(
                    logits,
                    inputs["teacher_sorted_logprobs"],
                    inputs["align"],
                    mask,
                    temperature=self.temperature,
                    tail_logprob=inputs["teacher_tail_logprob"],
                    teacher_vocab=int(inputs["teacher_vocab"][0]),
                )
            elif self.teacher is not None and self.cross_tokenizer:
                kd = self._cross_kd(logits, inputs, mask)
            elif self.teacher is not None:
                with torch.no_grad():
                    t_logits = self.teacher(
                        input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
                    ).logits[..., :v]
                kd = kd_loss(s_logits, t_logits, mask, temperature=self.temperature, kind=self.divergence)
        if model.training and self.global_token_mean and self.accelerator.num_processes > 1:
            ce, kd = ce * (scale := self._token_share(mask)), kd * scale
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

    def _cross_kd(self, logits: torch.Tensor, inputs: dict[str, torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        """ULD at the positions ``align`` pairs (see :mod:`cstool.lm.cross_tokenizer`)."""
        from cstool.lm.cross_tokenizer import span_loss

        t_ids = inputs["teacher_ids"]
        t_mask = torch.arange(t_ids.shape[1], device=t_ids.device) < inputs["teacher_length"].unsqueeze(1)
        with torch.no_grad():
            t_logits = self.teacher(input_ids=t_ids, attention_mask=t_mask.long()).logits
        return span_loss(logits, t_logits, inputs["align"], mask, temperature=self.temperature)

    def _token_share(self, mask: torch.Tensor) -> torch.Tensor:
        """``this process's tokens × processes / the micro-batch's tokens over all processes``."""
        import torch.distributed as dist

        mine = mask.sum()
        total = mine.detach().clone()
        dist.all_reduce(total)
        return mine.to(torch.float32) * self.accelerator.num_processes / total.clamp_min(1).to(torch.float32)

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


def predicted_positions(labels: torch.Tensor) -> torch.Tensor:
    """How many positions of a batch predict a token (the positions :func:`causal_ce` averages over)."""
    return labels[:, 1:].ne(-100).sum()


class ScheduledTrainer(KDTrainer):
    """A KDTrainer that reads its dataset in order (the batch composition is planned in the dataset, see
    :func:`cstool.continual.buffer.mixed_schedule`) and counts the new and replayed examples it trained on
    (``is_replay`` flags in the batch).

    On several processes (with ``split_batches``, each process gets its slice of every planned batch) every
    mean of the loss is taken over the whole planned batch, not over the slice: :meth:`global_mean` turns a
    slice's mean into its share of the batch's mean, so the averaged gradient equals one process's
    (KDTrainer's own ``global_token_mean`` is off: :meth:`global_mean` replaces it)."""

    global_token_mean = False

    def __init__(self, *args: Any, route: tuple[list, list] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fed = {"new": 0, "replay": 0}
        self.route = route  # (parameters new examples update, parameters replayed examples update)
        self._counts: dict[str, torch.Tensor] | None = None  # the whole batch's sizes, on several processes
        self._scope = "all"  # the examples of the (sub-)batch being scored: all, new or replay

    def _get_train_sampler(self, train_dataset=None):
        return torch.utils.data.SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)

    def batch_loss(self, model, inputs, return_outputs=False):
        """The loss of one (sub-)batch; subclasses define it (with :meth:`global_mean` for each mean)."""
        loss, outputs = KDTrainer.compute_loss(self, model, inputs, return_outputs=True)
        loss = self.global_mean(loss, predicted_positions(inputs["labels"]))
        return (loss, outputs) if return_outputs else loss

    def global_mean(self, mean: torch.Tensor, count: torch.Tensor, scope: str | None = None) -> torch.Tensor:
        """``mean`` over ``count`` positions of this process's examples in ``scope`` (default: the examples
        being scored) as its share of the mean over those of the whole batch, times the number of processes
        (DDP averages the processes' gradients). Unchanged in one process."""
        if self._counts is None:
            return mean
        total = self._counts[f"{scope or self._scope}_positions"]
        return mean * (count * self.accelerator.num_processes / total.clamp_min(1))

    def _batch_counts(self, inputs: dict) -> dict[str, torch.Tensor] | None:
        """Positions and examples, new and replayed, of the whole batch (summed over the processes)."""
        if self.accelerator.num_processes == 1:
            return None
        labels = inputs["labels"]
        replay = inputs.get("is_replay", torch.zeros(len(labels), dtype=torch.bool, device=labels.device))
        positions = labels[:, 1:].ne(-100).sum(1)
        local = torch.stack([positions[~replay].sum(), positions[replay].sum(), (~replay).sum(), replay.sum()]).to(
            self.args.device
        )
        new_pos, rep_pos, new_n, rep_n = self.accelerator.reduce(local, reduction="sum")
        return {
            "all_positions": new_pos + rep_pos,
            "new_positions": new_pos,
            "replay_positions": rep_pos,
            "new_examples": new_n,
            "replay_examples": rep_n,
        }

    #: a term added to every training batch's loss, ``penalty()`` (a tensor on the parameters, e.g. O-LoRA's
    #: orthogonality of a task adapter to earlier ones); None: none
    penalty: Any = None

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """:meth:`routed_loss`, plus :attr:`penalty` while training."""
        out = self.routed_loss(model, inputs, return_outputs=return_outputs)
        if self.penalty is None or not model.training:
            return out
        if return_outputs:
            return out[0] + self.penalty(), out[1]
        return out + self.penalty()

    def routed_loss(self, model, inputs, return_outputs=False):
        """:meth:`batch_loss`, or with ``route`` gradients routed per example: the new examples of the batch
        are a sub-batch whose forward pass has only ``route[0]`` trainable, the replayed ones a sub-batch with
        only ``route[1]`` trainable, so each update reaches only its own parameters. The batch loss is the
        mean of the two sub-batch losses weighted by their numbers of examples. On several processes every
        process runs both passes (one without examples of a kind runs that pass on its slice, weighted 0)."""
        self._counts = self._batch_counts(inputs) if model.training else None
        self._scope = "all"
        if self.route is None or not model.training:
            return self.batch_loss(model, inputs, return_outputs=return_outputs)
        replay = inputs["is_replay"]
        total = None
        for is_replay, trainable, frozen in ((False, *self.route), (True, *reversed(self.route))):
            chosen = replay == is_replay
            n = int(chosen.sum())
            stand_in = n == 0 and self._counts is not None
            if n == 0 and not stand_in:
                continue
            if stand_in:  # every process runs both passes (DDP): this one on its slice, weighted 0, not counted
                chosen = torch.ones_like(replay)
            sub = {k: v[chosen] if torch.is_tensor(v) and v.shape[:1] == replay.shape else v for k, v in inputs.items()}
            for p in frozen:
                p.requires_grad_(False)
            for p in trainable:
                p.requires_grad_(True)
            self._scope = "replay" if is_replay else "new"
            if self._counts is None:
                share = n / len(replay)
            else:  # the sub-batch's share of the whole batch
                c = self._counts
                share = 0.0 if stand_in else c[f"{self._scope}_examples"] / (c["new_examples"] + c["replay_examples"])
            fed = dict(self.fed)
            if self._counts is not None and not is_replay:
                # DDP synchronises one backward pass per step: the new examples' pass is backpropagated here,
                # unsynchronised; the replayed examples' pass, backpropagated by the Trainer, reduces both
                with self.accelerator.no_sync(model):
                    loss = self.batch_loss(model, sub) * share
                    self.accelerator.backward(loss)
                loss = loss.detach()
            else:
                loss = self.batch_loss(model, sub) * share
            if stand_in:
                self.fed = fed
            total = loss if total is None else total + loss
        self._scope = "all"
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
