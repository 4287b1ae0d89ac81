"""Answers to VQA questions by greedy generation with an image-text-to-text model (used by ``cstool eval``).

* Prompt (:func:`vqa_prompt`): the processor's chat template when it has one (a user turn holding the image
  and the question, then the generation prompt); otherwise ``"<image>\\nQuestion: {q} Answer:"`` with the
  processor's image token. Training on VQA should build prompts with this same function.
* Generation: batches of ``batch_size`` examples, left-padded, greedy, at most ``max_new_tokens`` new
  tokens; the answer is the decoded new text up to its first line break, stripped.
* Images: the ``image`` column (encoded bytes, or a ``{bytes, path}`` struct as Hugging Face datasets
  store it) or ``image_path`` (relative paths are taken from the data file's folder), converted to RGB.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow as pa

from cstool.base.errors import InputError


def vqa_prompt(processor, question: str) -> str:
    """The text prompt for one question (see the module docstring)."""
    if getattr(processor, "chat_template", None):
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    image_token = getattr(processor, "image_token", None) or "<image>"
    return f"{image_token}\nQuestion: {question} Answer:"


def image_loader(table: pa.Table, base_dir: Path) -> Callable[[int], object]:
    """``load(i)`` → the RGB PIL image of row ``i``; errors name the row id and the file."""
    from PIL import Image, UnidentifiedImageError

    ids = [str(v) for v in table.column("id").to_pylist()] if "id" in table.schema.names else None
    column = "image" if "image" in table.schema.names else "image_path"
    values = table.column(column).to_pylist()

    def load(i: int):
        row = ids[i] if ids else str(i)
        value = values[i]
        where = f"row {row}"
        try:
            if column == "image":
                if isinstance(value, dict):
                    value = value.get("bytes") or (value.get("path") and Path(value["path"]).read_bytes())
                if not value:
                    raise InputError(f"{where} has no image", "give every row image bytes or an image_path")
                image = Image.open(io.BytesIO(value))
            else:
                if not value:
                    raise InputError(f"{where} has no image_path", "give every row an image_path")
                path = Path(value)
                if not path.is_absolute() and not path.exists():
                    path = base_dir / path
                where = f"{where} ({path})"
                image = Image.open(path)
            return image.convert("RGB")
        except (OSError, UnidentifiedImageError) as e:
            raise InputError(f"cannot read the image of {where}: {e}", "fix or remove that row's image") from None

    return load


def answer_token_budget(tokenizer, references: Sequence[Sequence[str]], requested: int) -> int:
    """``requested`` new tokens, raised to what the longest reference answer needs (+1 for the end token).

    A limit shorter than a reference makes that answer unreachable (Hindi ``हाँ`` is 4 pieces in a small
    sentencepiece vocabulary), which would score a whole language wrongly; so the limit is raised, once, aloud.
    """
    from cstool.base.console import log

    answers = sorted({a for refs in references for a in refs if a})
    longest = max(
        (len(ids) for ids in tokenizer([" " + a for a in answers], add_special_tokens=False)["input_ids"]), default=0
    )
    if longest + 1 > requested:
        if (requested, longest + 1) not in _RAISED:  # said once per process, not at every evaluation
            _RAISED.add((requested, longest + 1))
            log(f"--max-new-tokens raised from {requested} to {longest + 1}: the longest reference answer needs it")
        return longest + 1
    return requested


_RAISED: set[tuple[int, int]] = set()


def generate_answers(
    model,
    processor,
    questions: Sequence[str],
    load_image: Callable[[int], object],
    *,
    batch_size: int = 16,
    max_new_tokens: int = 10,
    on_batch: Callable[[int], None] | None = None,
) -> list[str]:
    """Greedy answers to ``questions`` (image ``i`` from ``load_image(i)``), batched and left-padded."""
    import torch

    tokenizer = processor.tokenizer
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    answers: list[str] = []
    try:
        with torch.inference_mode():
            for start in range(0, len(questions), batch_size):
                idx = range(start, min(start + batch_size, len(questions)))
                prompts = [vqa_prompt(processor, questions[i] or "") for i in idx]
                inputs = processor(
                    images=[load_image(i) for i in idx], text=prompts, return_tensors="pt", padding=True
                ).to(device)
                if "pixel_values" in inputs and inputs["pixel_values"].is_floating_point():
                    inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
                out = model.generate(
                    **inputs, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, pad_token_id=pad_id
                )
                new = out[:, inputs["input_ids"].shape[1] :]
                for text in tokenizer.batch_decode(new, skip_special_tokens=True):
                    answers.append(text.strip().split("\n")[0].strip())
                if on_batch:
                    on_batch(len(idx))
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return answers
