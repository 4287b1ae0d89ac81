"""VQA examples → model inputs for replay-train ``--task-type vqa``: encoding with the model's processor
(loss on the answer tokens only), the image preprocessing cache, the collator,
the trainer's loss, and dev accuracy by greedy generation.

* Encoding (:class:`VqaCodec`): the prompt is :func:`cstool.vqa.generate.vqa_prompt` (the same one eval
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

import io
from typing import Any

import torch

from cstool.base.console import warn
from cstool.base.errors import InputError
from cstool.lm.kd import causal_ce
from cstool.lm.training import ScheduledTrainer, TrainingDiverged, pad_examples
from cstool.vqa.examples import VqaExample


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

        from cstool.vqa.vlm import image_input_size

        where = f"row {ex.id}" + (f" ({ex.image_path})" if ex.image is None else "")
        try:
            if ex.image is None and not ex.image_path:
                raise InputError(f"{where} has no image", "give every row image bytes or an image_path")
            im = Image.open(io.BytesIO(ex.image) if ex.image is not None else ex.image_path).convert("RGB")
        except (OSError, UnidentifiedImageError) as e:
            raise InputError(f"cannot read the image of {where}: {e}", "fix or remove that row's image") from None
        want = image_input_size(self.processor)
        if not self._warned and want is not None and im.size != want:
            warn(
                f"images are {im.size[0]}×{im.size[1]} (first: row {ex.id}); the processor resizes them to "
                f"{want[0]}×{want[1]} for the vision tower"
            )
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
        from cstool.vqa.generate import vqa_prompt

        cached = self._encoded.get(id(examples))
        if cached is not None and cached[0] is examples:  # the list is kept, so its id is never reused
            return cached[1]
        eos = self.tokenizer.eos_token_id
        out = []
        for start in range(0, len(examples), chunk):
            part = examples[start : start + chunk]
            enc = self.processor(
                images=[self.image(ex) for ex in part],
                text=[vqa_prompt(self.processor, ex.question) for ex in part],
                return_tensors="pt",
                padding=True,
            )
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
        batch = pad_examples(items, pad)
        batch["pixel_values"] = self.pixel_values([it["example"] for it in items])
        return batch

    # ---- evaluation ---------------------------------------------------------------------------------

    def accuracy(
        self,
        model,
        examples: list[VqaExample],
        *,
        batch_size: int = 16,
        max_new_tokens: int = 10,
        normalization: str = "multilingual",
    ) -> float:
        """Mean VQA accuracy (docs/method.md; answers normalised per ``normalization``) of greedy answers on
        ``examples``."""
        from cstool.vqa.generate import answer_token_budget, generate_answers
        from cstool.vqa.metrics import vqa_scores

        budget = answer_token_budget(self.processor.tokenizer, [ex.answers for ex in examples], max_new_tokens)
        preds = generate_answers(
            model,
            self.processor,
            [ex.question for ex in examples],
            lambda i: self.image(examples[i]),
            batch_size=batch_size,
            max_new_tokens=budget,
        )
        scores = vqa_scores(
            preds,
            [list(ex.answers) for ex in examples],
            [ex.lang for ex in examples],
            ids=[ex.id for ex in examples],
            normalization=normalization,
        )
        return sum(scores) / len(scores)


class VqaTrainer(ScheduledTrainer):
    """Cross-entropy on the answer tokens (labels −100 elsewhere) of image + question inputs."""

    def batch_loss(self, model, inputs, return_outputs=False):
        self.pop_replay_flags(model, inputs)
        labels = inputs.pop("labels")
        pixel_values = inputs["pixel_values"].to(next(model.parameters()).dtype)
        outputs = model(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], pixel_values=pixel_values
        )
        loss, mask = causal_ce(outputs.logits, labels)
        if model.training:
            value = loss.detach().double().cpu()
            if not torch.isfinite(value):
                raise TrainingDiverged(
                    f"training diverged at step {self.state.global_step + 1}: ce={value.item()}",
                    "lower --lr (e.g. by 10×)",
                )
            self._sums += torch.tensor([value.item(), 0.0, 1.0, float(inputs["attention_mask"].sum())])
        loss = self.global_mean(loss, mask.sum())  # on several processes: its share of the whole batch's mean
        return (loss, outputs) if return_outputs else loss
