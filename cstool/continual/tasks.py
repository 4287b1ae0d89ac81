"""Task kinds: what replay-train needs to know about one kind of task, behind one protocol.

A :class:`TaskKind` loads the base model, reads task and dev artifacts, encodes examples into training
items, collates them, makes the Trainer for a phase, and scores a dev set. :class:`LmKind` does this for
text (causal LM; NLL, bits per byte, perplexity) and :class:`VqaKind` for image + question → answer (a
Llava-style VLM; accuracy of greedy answers). The learner (:mod:`cstool.continual.learner`) holds no
branch on the kind: a new kind of task is a new class here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import torch

from cstool.base.errors import InputError
from cstool.continual.config import ReplayConfig, Task
from cstool.io import artifacts
from cstool.lm.kd import kd_loss
from cstool.lm.training import ScheduledTrainer, pad_examples
from cstool.models import hf
from cstool.vqa.examples import VqaExample, read_examples


class Examples(torch.utils.data.Dataset):
    """Encoded items with their is_replay flag, in the planned order."""

    def __init__(self, items: list[tuple[dict, bool]]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        item, replayed = self.items[i]
        return {**item, "is_replay": replayed}


class TaskKind(Protocol):
    """What the learner calls; ``tokenizer`` exists after :meth:`load`, which returns the base model."""

    name: str
    tokenizer: Any

    def load(self, base: str, device: str) -> Any: ...
    def lora_targets(
        self, model: Any, targets: list[str], save_modules: list[str] | None
    ) -> tuple[Any, list[str] | None]: ...
    def read_task(self, name: str, path: str, *, trained: bool, anchor: bool = False) -> Task: ...
    def read_dev(self, name: str, path: str) -> tuple[list, artifacts.Source | str]: ...
    def encode(self, examples: list) -> list[dict]: ...
    def collate(self, items: list[dict]) -> dict[str, torch.Tensor]: ...
    def trainer(
        self, *, model: Any, args: Any, items: list[tuple[dict, bool]], teacher: Any, route: Any = None
    ) -> ScheduledTrainer: ...
    def score(self, model: Any, examples: list) -> dict[str, float]: ...
    def save_tokenizer(self, path: str) -> None: ...


def task_kind(config: ReplayConfig) -> TaskKind:
    return VqaKind(config) if config.task_type == "vqa" else LmKind(config)


# ---------------------------------------------------------------------------------------------------------
# Language modelling


class ReplayTrainer(ScheduledTrainer):
    """CE on every example; with a KD teacher, ``α·CE + (1−α)·τ²·KL`` where the KL term covers only the
    replayed examples of the batch (the teacher anchors what earlier tasks knew)."""

    def __init__(self, *args: Any, kd_teacher=None, kd_alpha: float = 0.5, kd_temperature: float = 2.0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.kd_teacher, self.kd_alpha, self.kd_temperature = kd_teacher, kd_alpha, kd_temperature

    def batch_loss(self, model, inputs, return_outputs=False):
        """``α·CE + (1−α)·τ²·KL`` on every batch when there is a teacher; the KL term (per token of the
        replayed examples) is 0 in batches without replayed examples, so CE always has weight α."""
        replay = self.pop_replay_flags(model, inputs)
        loss, outputs = super().batch_loss(model, inputs, return_outputs=True)
        if self.kd_teacher is not None and self.kd_alpha < 1.0:
            kd = torch.zeros((), device=loss.device)
            if bool(replay.any()):
                labels = inputs["labels"][replay]
                mask = torch.nn.functional.pad(labels[:, 1:], (0, 1), value=-100).ne(-100)  # as causal_ce
                with torch.no_grad():
                    t_logits = self.kd_teacher(
                        input_ids=inputs["input_ids"][replay], attention_mask=inputs["attention_mask"][replay]
                    ).logits
                v = min(t_logits.shape[-1], outputs.logits.shape[-1])  # heads padded past the vocabulary
                kd = kd_loss(outputs.logits[replay][..., :v], t_logits[..., :v], mask, temperature=self.kd_temperature)
                kd = self.global_mean(kd, mask.sum(), scope="replay")
            loss = self.kd_alpha * loss + (1.0 - self.kd_alpha) * kd
        return (loss, outputs) if return_outputs else loss


def switch_hint(name: str, path: str, columns: list[str], cs: str) -> str:
    """How to make the code-switched file a task ``NAME=PATH`` lacks: from PATH (tagged) or its tagged
    version, into a new file (never PATH itself), then give that file as the task."""
    stem = Path(path).name.split(".")[0] or name
    switched = str(Path(path).with_name(f"{stem}.cs-{cs}.parquet"))
    steps = []
    tagged = path
    if not {"tokens", "upos"} <= set(columns):
        tagged = str(Path(path).with_name(f"{stem}.tagged.parquet"))
        steps.append(f"cstool tag {path} --lang LANG -o {tagged}")
    steps.append(f"cstool switch {tagged} --lexicon LEX --strategy {cs} -o {switched}")
    return f"{path} is not code-switched; make it so with: {' && '.join(steps)}, then give {name}={switched}"


class LmKind:
    """Text tasks: a causal LM learns the text (CE on every token); dev sets are scored by NLL and bits per byte."""

    name = "lm"

    def __init__(self, config: ReplayConfig):
        self.config = config
        self._encoded: dict[int, tuple[list, list]] = {}

    def load(self, base: str, device: str) -> Any:
        self.tokenizer = hf.load_tokenizer(base, offline=self.config.offline)
        return hf.load_causal_lm(base, offline=self.config.offline, device=device)

    def lora_targets(
        self, model: Any, targets: list[str], save_modules: list[str] | None
    ) -> tuple[Any, list[str] | None]:
        return targets, save_modules

    def read_task(self, name: str, path: str, *, trained: bool, anchor: bool = False) -> Task:
        """The task's training texts (per curriculum epoch) and its pure rows for the buffer. The anchor is
        what the others switch into, so with ``--train-first`` it trains on its plain text even with ``--cs``."""
        config = self.config
        src = artifacts.open_source(path)
        column = config.column if trained and not anchor else "text"
        hint = (
            switch_hint(name, path, src.schema.names, config.cs)
            if column == "text_cs" and column not in src.schema.names
            else "choose the text column with --text-column NAME"
        )
        artifacts.require_text_column(src.schema, column, where=f"task {name}: {path}", hint=hint)
        table = src.read_all()
        cols = table.schema.names
        if trained and not anchor and config.cs != "none" and "strategy" in cols:
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

    def read_dev(self, name: str, path: str) -> tuple[list, artifacts.Source | str]:
        """The texts of a dev artifact, or of a .txt/.jsonl/CoNLL-U file read as ``tag`` and ``eval`` read it."""
        from cstool.text import corpus

        if corpus.is_text_file(path):
            src, table = path, corpus.read_text_table(path)
        else:
            src = artifacts.open_source(path)
            artifacts.require_text_column(
                src.schema,
                "text",
                where=f"dev set {name}: {path}",
                hint="dev sets are scored on their plain text: an artifact with a text column, or a .txt, .jsonl "
                "or .conllu file",
            )
            table = src.read_all()
        # Whitespace-only texts stay: their bytes count in bits per byte, as in lm-evaluation-harness.
        texts = [t for t in table.column("text").to_pylist() if t]
        if not any(t.strip() for t in texts):
            raise InputError(f"dev set {name}: {path} has no text", "give a non-empty dev artifact")
        return texts, src

    def encode(self, texts: list) -> list[dict]:
        """``{"input_ids"}`` per text (BOS … EOS, truncated to max_length), memoised per list object."""
        cached = self._encoded.get(id(texts))
        if cached is None or cached[0] is not texts:  # the list itself is kept, so its id is never reused
            eos = self.tokenizer.eos_token_id
            enc = self.tokenizer(texts, add_special_tokens=True, truncation=True, max_length=self.config.max_length - 1)
            cached = (texts, [{"input_ids": ids + [eos] if eos is not None else ids} for ids in enc["input_ids"]])
            self._encoded[id(texts)] = cached
        return cached[1]

    def collate(self, items: list[dict]) -> dict[str, torch.Tensor]:
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        return pad_examples(items, pad)

    def trainer(
        self, *, model: Any, args: Any, items: list[tuple[dict, bool]], teacher: Any, route: Any = None
    ) -> ScheduledTrainer:
        c = self.config
        return ReplayTrainer(
            model=model,
            args=args,
            train_dataset=Examples(items),
            data_collator=self.collate,
            route=route,
            kd_teacher=teacher,
            kd_alpha=c.kd_alpha,
            kd_temperature=c.kd_temperature,
        )

    def score(self, model: Any, texts: list) -> dict[str, float]:
        from cstool.lm.scoring import score_lm

        s = score_lm(model, self.tokenizer, texts, batch_size=self.config.eval_batch_size)
        return {"nll": s.mean_nll, "bpb": s.bpb, "ppl": s.ppl}

    def save_tokenizer(self, path: str) -> None:
        self.tokenizer.save_pretrained(path)


# ---------------------------------------------------------------------------------------------------------
# Visual question answering


class VqaKind:
    """Image + question → answer with a VLM (:mod:`cstool.vqa`): loss on the answer tokens; dev sets are
    scored by VQA accuracy of greedy answers. LoRA adapts the language model only."""

    name = "vqa"

    def __init__(self, config: ReplayConfig):
        self.config = config
        self.codec: Any = None

    def load(self, base: str, device: str) -> Any:
        from cstool.vqa.codec import VqaCodec
        from cstool.vqa.vlm import require_vision

        model, processor = hf.load_vlm(base, offline=self.config.offline, device=device)
        require_vision(model, base)
        self.codec, self.tokenizer = VqaCodec(processor), processor.tokenizer
        return model

    def lora_targets(
        self, model: Any, targets: list[str], save_modules: list[str] | None
    ) -> tuple[Any, list[str] | None]:
        """LoRA on the language model only (the vision tower stays frozen); with --train-embeddings also the
        vision→text projector."""
        from cstool.vqa.vlm import projector_modules, text_only_targets

        return text_only_targets(targets), (save_modules + projector_modules(model)) if save_modules else save_modules

    def read_task(self, name: str, path: str, *, trained: bool, anchor: bool = False) -> Task:
        """A replay-train task of VQA examples (the VQA counterpart of the LM kind's): training
        examples per curriculum epoch (questions from ``config.column``), and the pure-language rows of the
        first epoch for the replay buffer."""
        config = self.config
        column = config.column if trained and not anchor else "question"
        examples, epochs, src = read_examples(name, path, column)
        if trained and not anchor and config.cs != "none" and "strategy" in src.schema.names:
            made = set(src.read_all().column("strategy").to_pylist())
            if made != {config.cs}:
                raise InputError(
                    f"task {name}: {path} was switched with strategy {sorted(made)}, but --cs is {config.cs}",
                    f"give the output of cstool switch --strategy {config.cs}, or set --cs to match",
                )
        by_epoch: dict[int, list[VqaExample]] = {}
        for ex, e in zip(examples, epochs, strict=True):
            by_epoch.setdefault(e, []).append(ex)
        pure = examples if column == "question" else read_examples(name, path, "question")[0]
        replay = [(i, ex.id, ex) for i, ex in enumerate(pure) if epochs[i] == epochs[0]]
        return Task(name, path, [by_epoch[e] for e in sorted(by_epoch)], replay, src)

    def read_dev(self, name: str, path: str) -> tuple[list[VqaExample], artifacts.Source]:
        examples, _, src = read_examples(name, path, "question", what="dev set")
        return examples, src

    def encode(self, examples: list) -> list[dict]:
        return self.codec.encode(examples)

    def collate(self, items: list[dict]) -> dict[str, torch.Tensor]:
        return self.codec.collate(items)

    def trainer(
        self, *, model: Any, args: Any, items: list[tuple[dict, bool]], teacher: Any, route: Any = None
    ) -> ScheduledTrainer:
        from cstool.vqa.codec import VqaTrainer

        return VqaTrainer(
            model=model, args=args, train_dataset=Examples(items), data_collator=self.collate, route=route
        )

    def score(self, model: Any, examples: list) -> dict[str, float]:
        c = self.config
        return {
            "accuracy": self.codec.accuracy(
                model,
                examples,
                batch_size=c.eval_batch_size,
                max_new_tokens=c.max_new_tokens,
                normalization=c.vqa_normalization,
            )
        }

    def save_tokenizer(self, path: str) -> None:
        self.codec.processor.save_pretrained(path)
