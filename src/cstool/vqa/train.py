"""VQA examples → model inputs for replay-train ``--task-type vqa``: reading task/dev artifacts, encoding
with the model's processor (loss on the answer tokens only), the image preprocessing cache, the collator,
the trainer's loss, and dev accuracy by greedy generation.

* Encoding (:class:`VqaCodec`): the prompt is :func:`cstool.vqa_generate.vqa_prompt` (the same one eval
  generates from), run through the processor with the image (which expands the image token as the model
  needs); then the answer ``" " + answer`` and EOS are appended as tokenizer ids. Labels are −100 on the
  prompt, so the loss covers the answer and EOS only. The training answer of a row is its most frequent
  reference (the first on ties).
* Image cache: the pixel values the processor made for each distinct image (keyed by its bytes' hash or
  its path) are kept, so a training step only stacks tensors; ``cache_images=False`` re-decodes and
  re-processes the images of every batch instead (the benchmark's baseline).
* Images whose size differs from what the processor feeds the vision tower are resized by the processor;
  a warning says so once per run.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cstool import artifacts
from cstool.console import warn
from cstool.errors import InputError, SchemaError
from cstool.kd import causal_ce
from cstool.training import KDTrainer, TrainingDiverged


@dataclass(frozen=True)
class VqaExample:
    id: str
    question: str
    answers: tuple[str, ...]
    lang: str | None
    image: bytes | None = None
    image_path: str | None = None

    @property
    def answer(self) -> str:
        """The training target: the most frequent reference (first on ties)."""
        return Counter(self.answers).most_common(1)[0][0]

    @property
    def image_key(self) -> str:
        if self.image is not None:
            return hashlib.blake2b(self.image, digest_size=12).hexdigest()
        return f"path:{self.image_path}"

    def __str__(self) -> str:  # what the replay buffer artifact records in its text column
        return self.question


def _image_ok(ex: "VqaExample") -> bool:
    """Whether the example's image exists and its header decodes (cheap: no pixel decoding)."""
    from PIL import Image, UnidentifiedImageError

    if ex.image is None and not ex.image_path:
        return False
    try:
        with Image.open(io.BytesIO(ex.image) if ex.image is not None else ex.image_path) as im:
            im.verify()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        return False
    return True


def read_examples(name: str, path: str, column: str = "question", *, what: str = "task") -> tuple[list[VqaExample], list[int], artifacts.Source]:
    """VQA rows of an artifact as examples (question from ``column``), their ``cs_epoch`` (0 without), and
    the opened source. Empty questions or answer lists are errors naming the rows."""
    src = artifacts.open_source(path)
    names = src.schema.names
    image_col = "image" if "image" in names else "image_path"
    missing = [c for c in (column, "answers", image_col) if c not in names]
    if missing:
        hint = ("make code-switched questions with: cstool switch VQA.parquet --lexicon LEX -o SWITCHED.parquet"
                if column == "text_cs" else "produce VQA artifacts with cstool vqa-import or cstool vqa-easy")
        raise SchemaError(f"{what} {name}: {path} has no column {', '.join(map(repr, missing))} needed for "
                          f"--task-type vqa; columns there: [{', '.join(names)}]", hint)
    table = src.read_all()
    base = Path(path).parent
    cols = {c: table.column(c).to_pylist() if c in names else [None] * table.num_rows
            for c in ("id", column, "answers", "lang", "image", "image_path", "cs_epoch")}
    examples, epochs, empty_q, empty_a = [], [], [], []
    for i in range(table.num_rows):
        rid = str(cols["id"][i] if cols["id"][i] is not None else i)
        q = (cols[column][i] or "").strip()
        answers = cols["answers"][i]
        answers = [answers] if isinstance(answers, str) else [a for a in (answers or []) if a and a.strip()]
        if not q:
            empty_q.append(rid)
        if not answers:
            empty_a.append(rid)
        image = cols["image"][i]
        image = image.get("bytes") if isinstance(image, dict) else image
        ipath = cols["image_path"][i]
        if ipath and not Path(ipath).is_absolute():
            ipath = str(base / ipath)
        examples.append(VqaExample(rid, q, tuple(answers), cols["lang"][i] or name, image, ipath))
        epochs.append(int(cols["cs_epoch"][i] or 0))
    bad_images = [f"{ex.id} ({ex.image_path or 'embedded'})" for ex in examples if not _image_ok(ex)]
    if bad_images:  # found now, before any task trains, not when this task's turn comes
        raise InputError(f"{what} {name} ({path}): {len(bad_images)} images are missing or unreadable: "
                         f"{', '.join(bad_images[:5])}", "fix or remove those rows (cstool vqa-import --skip-bad-images)")
    for ids, what_is in ((empty_q, "questions are empty"), (empty_a, "rows have no answers")):
        if ids:
            raise InputError(f"{what} {name} ({path}): {len(ids)} {what_is} (ids {', '.join(ids[:5])})",
                             "drop those rows, or fix them with cstool vqa-import")
    if not examples:
        raise InputError(f"{what} {name}: {path} is empty", "give a non-empty VQA artifact")
    return examples, epochs, src


class VqaCodec:
    """Encodes examples for one processor; holds the image cache (see the module docstring)."""

    def __init__(self, processor: Any, *, cache_images: bool = True):
        self.processor, self.cache_images = processor, cache_images
        self.tokenizer = processor.tokenizer
        self.pixels: dict[str, torch.Tensor] = {}
        self._encoded: dict[int, tuple[list, list[dict]]] = {}
        self._warned = False

    # ---- images -------------------------------------------------------------------------------------

    def image(self, ex: VqaExample):
        """The RGB PIL image of ``ex``; an unreadable image is an error naming the row and the file."""
        from PIL import Image, UnidentifiedImageError

        from cstool.vqa.model import image_input_size

        where = f"row {ex.id}" + (f" ({ex.image_path})" if ex.image is None else "")
        try:
            if ex.image is None and not ex.image_path:
                raise InputError(f"{where} has no image", "give every row image bytes or an image_path")
            im = Image.open(io.BytesIO(ex.image) if ex.image is not None else ex.image_path).convert("RGB")
        except (OSError, UnidentifiedImageError) as e:
            raise InputError(f"cannot read the image of {where}: {e}", "fix or remove that row's image") from None
        want = image_input_size(self.processor)
        if not self._warned and want is not None and im.size != want:
            warn(f"images are {im.size[0]}×{im.size[1]} (first: row {ex.id}); the processor resizes them to "
                 f"{want[0]}×{want[1]} for the vision tower")
            self._warned = True
        return im

    def pixel_values(self, examples: list[VqaExample]) -> torch.Tensor:
        """Processed images, from the cache or (``cache_images=False``) made afresh."""
        if self.cache_images:
            return torch.stack([self.pixels[ex.image_key] for ex in examples])
        out = self.processor.image_processor(images=[self.image(ex) for ex in examples], return_tensors="pt")
        return out["pixel_values"]

    # ---- encoding -----------------------------------------------------------------------------------

    def encode(self, examples: list[VqaExample], chunk: int = 64) -> list[dict]:
        """``{"input_ids", "labels", "example"}`` per example (memoised per list object)."""
        from cstool.vqa_generate import vqa_prompt

        cached = self._encoded.get(id(examples))
        if cached is not None and cached[0] is examples:  # the list is kept, so its id is never reused
            return cached[1]
        eos = self.tokenizer.eos_token_id
        out = []
        for start in range(0, len(examples), chunk):
            part = examples[start : start + chunk]
            enc = self.processor(images=[self.image(ex) for ex in part], text=[vqa_prompt(self.processor, ex.question)
                                 for ex in part], return_tensors="pt", padding=True)
            mask = enc["attention_mask"]
            answers = self.tokenizer([" " + ex.answer for ex in part], add_special_tokens=False)["input_ids"]
            for r, ex in enumerate(part):
                prompt = enc["input_ids"][r][mask[r].bool()].tolist()
                target = answers[r] + ([eos] if eos is not None else [])
                out.append({"input_ids": prompt + target, "labels": [-100] * len(prompt) + target, "example": ex})
                if self.cache_images:
                    self.pixels.setdefault(ex.image_key, enc["pixel_values"][r])
        self._encoded[id(examples)] = (examples, out)
        return out

    def collate(self, items: list[dict]) -> dict[str, torch.Tensor]:
        """Right-padded ids/labels/attention mask, pixel values, and the is_replay flags."""
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        width = max(len(it["input_ids"]) for it in items)
        ids = torch.full((len(items), width), pad, dtype=torch.long)
        labels = torch.full((len(items), width), -100, dtype=torch.long)
        attn = torch.zeros((len(items), width), dtype=torch.long)
        for r, it in enumerate(items):
            n = len(it["input_ids"])
            ids[r, :n] = torch.tensor(it["input_ids"])
            labels[r, :n] = torch.tensor(it["labels"])
            attn[r, :n] = 1
        batch = {"input_ids": ids, "attention_mask": attn, "labels": labels,
                 "pixel_values": self.pixel_values([it["example"] for it in items])}
        if "is_replay" in items[0]:
            batch["is_replay"] = torch.tensor([bool(it["is_replay"]) for it in items])
        return batch

    # ---- evaluation ---------------------------------------------------------------------------------

    def accuracy(self, model, examples: list[VqaExample], *, batch_size: int = 16, max_new_tokens: int = 10) -> float:
        """Mean VQA accuracy (METHOD.md) of greedy answers on ``examples``."""
        from cstool.vqa_generate import answer_token_budget, generate_answers
        from cstool.vqa_metrics import vqa_scores

        budget = answer_token_budget(self.processor.tokenizer, [ex.answers for ex in examples], max_new_tokens)
        preds = generate_answers(model, self.processor, [ex.question for ex in examples],
                                 lambda i: self.image(examples[i]), batch_size=batch_size, max_new_tokens=budget)
        scores = vqa_scores(preds, [list(ex.answers) for ex in examples], [ex.lang for ex in examples],
                            ids=[ex.id for ex in examples])
        return sum(scores) / len(scores)


class VqaTrainer(KDTrainer):
    """Cross-entropy on the answer tokens (labels −100 elsewhere) of image + question inputs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fed = {"new": 0, "replay": 0}  # examples the Trainer actually trained on

    def _get_train_sampler(self, train_dataset=None):
        """Read the planned schedule in order (the batch composition is laid out in the dataset)."""
        return torch.utils.data.SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        replay = inputs.pop("is_replay", None)
        if model.training and replay is not None:
            self.fed["replay"] += int(replay.sum())
            self.fed["new"] += len(replay) - int(replay.sum())
        labels = inputs.pop("labels")
        pixel_values = inputs["pixel_values"].to(next(model.parameters()).dtype)
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], pixel_values=pixel_values)
        loss, _ = causal_ce(outputs.logits, labels)
        if model.training:
            value = loss.detach().double().cpu()
            if not torch.isfinite(value):
                raise TrainingDiverged(f"training diverged at step {self.state.global_step + 1}: ce={value.item()}",
                                       "lower --lr (e.g. by 10×)")
            self._sums += torch.tensor([value.item(), 0.0, 1.0, float(inputs["attention_mask"].sum())])
        return (loss, outputs) if return_outputs else loss




def read_task(name: str, path: str, config: Any, *, trained: bool):
    """A replay-train task of VQA examples (the VQA counterpart of replay's ``_read_task``): training
    examples per curriculum epoch (questions from ``config.column``), and the pure-language rows of the
    first epoch for the replay buffer."""
    from cstool.stages.replay import Task

    column = config.column if trained else "question"
    examples, epochs, src = read_examples(name, path, column)
    if trained and config.cs != "none" and "strategy" in src.schema.names:
        made = set(src.read_all().column("strategy").to_pylist())
        if made != {config.cs}:
            raise InputError(f"task {name}: {path} was switched with strategy {sorted(made)}, but --cs is {config.cs}",
                             f"give the output of cstool switch --strategy {config.cs}, or set --cs to match")
    by_epoch: dict[int, list[VqaExample]] = {}
    for ex, e in zip(examples, epochs, strict=True):
        by_epoch.setdefault(e, []).append(ex)
    pure = examples if column == "question" else read_examples(name, path, "question")[0]
    replay = [(i, ex.id, ex) for i, ex in enumerate(pure) if epochs[i] == epochs[0]]
    return Task(name, path, [by_epoch[e] for e in sorted(by_epoch)], replay, src)


def read_dev(name: str, path: str) -> tuple[list[VqaExample], artifacts.Source]:
    examples, _, src = read_examples(name, path, "question", what="dev set")
    return examples, src
