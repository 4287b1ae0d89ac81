"""Vision-language models for VQA: a tiny Llava built from configs (tests, demo, benchmark), checks that a
model can see, and LoRA targets restricted to the language model.

Any Hugging Face image-text-to-text model saved in a local folder (Llava, SmolVLM, PaliGemma, …) loads with
:func:`cstool.models.hf.load_vlm`; nothing here is specific to Llava except :func:`build_tiny_vlm`.

The tiny model: a CLIP vision tower (``vision`` spec, e.g. ``layers=2,hidden=64,heads=4,image=32,patch=8``)
and a Llama language model (``text`` spec, e.g. ``layers=2,hidden=64,heads=4``), joined by Llava's
two-layer projector, with a sentencepiece unigram tokenizer (cstool train-tokenizer's) trained on the given
texts (at most 1000 pieces, fewer when the texts support fewer) plus an ``<image>`` token, and a LlavaProcessor
whose CLIP image processor resizes every image to the
tower's input size. Weights are random (seeded): train it with replay-train ``--train-first``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cstool.base.errors import ConfigError, CstoolError, ModelNotFoundError
from cstool.base.specs import parse_key_values

IMAGE_TOKEN = "<image>"
VISION_KEYS = {
    "layers": "num_hidden_layers",
    "hidden": "hidden_size",
    "heads": "num_attention_heads",
    "intermediate": "intermediate_size",
    "image": "image_size",
    "patch": "patch_size",
}
TEXT_KEYS = {
    "layers": "num_hidden_layers",
    "hidden": "hidden_size",
    "heads": "num_attention_heads",
    "intermediate": "intermediate_size",
    "positions": "max_position_embeddings",
}


def parse_spec(spec: str, keys: dict[str, str], flag: str) -> dict[str, int]:
    """``"layers=2,hidden=64"`` → ``{"num_hidden_layers": 2, "hidden_size": 64}`` (positive integers only)."""
    return parse_key_values(
        spec,
        keys,
        flag,
        value=_positive_int,
        expected=f"KEY=POSITIVE_INT with KEY in {', '.join(keys)}",
        example=f"{flag} layers=2,hidden=64,heads=4",
    )


def _positive_int(text: str) -> int:
    if not (text.isdigit() and int(text) >= 1):
        raise ValueError(text)
    return int(text)


def build_tiny_vlm(
    output_dir: str | os.PathLike,
    *,
    texts: Iterable[str],
    vision: str = "layers=2,hidden=64,heads=4,image=32,patch=8",
    text: str = "layers=2,hidden=64,heads=4",
    vocab_size: int | None = None,
    seed: int = 1234,
    provenance: dict | None = None,
) -> dict[str, Any]:
    """Build and save a random tiny Llava + processor (see the module docstring). Returns a summary."""
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )
    from transformers.utils import logging as hf_logging

    from cstool.base.specs import shape_problems
    from cstool.lm.tokenizer import (
        SentencePieceOptions,
        fast_tokenizer_from_sentencepiece,
        train_sentencepiece,
    )
    from cstool.models.hf import save_model_dir

    v = {
        "num_hidden_layers": 2,
        "hidden_size": 64,
        "num_attention_heads": 4,
        "image_size": 32,
        "patch_size": 8,
        **parse_spec(vision, VISION_KEYS, "--vision"),
    }
    t = {
        "num_hidden_layers": 2,
        "hidden_size": 64,
        "num_attention_heads": 4,
        "max_position_embeddings": 256,
        **parse_spec(text, TEXT_KEYS, "--text"),
    }
    problems = shape_problems(v, "--vision") + shape_problems(t, "--text")
    if v["image_size"] % v["patch_size"]:
        problems.append(f"--vision image ({v['image_size']}) must be a multiple of patch ({v['patch_size']})")
    ConfigError.collect(problems, "see cstool build-vlm --help")
    v.setdefault("intermediate_size", 2 * v["hidden_size"])
    t.setdefault("intermediate_size", 2 * t["hidden_size"])

    texts = [x for x in texts if x and x.strip()]
    if not texts:
        raise ConfigError("build-vlm needs texts to train its tokenizer on", "give VQA artifacts with questions")
    try:
        pieces = train_sentencepiece(iter(texts), SentencePieceOptions(vocab_size=vocab_size or 1000, seed=seed))
    except CstoolError as e:  # a small corpus supports fewer pieces: without --vocab-size take the most it allows
        most = re.search(r"<= (\d+)", e.message)
        if vocab_size is not None or not most:
            raise
        pieces = train_sentencepiece(iter(texts), SentencePieceOptions(vocab_size=int(most.group(1)), seed=seed))
    spm = fast_tokenizer_from_sentencepiece(pieces)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=spm.backend_tokenizer,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": IMAGE_TOKEN},
    )
    tokenizer.add_tokens([IMAGE_TOKEN], special_tokens=True)
    size = v["image_size"]
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size}),
        tokenizer=tokenizer,
        patch_size=v["patch_size"],
        vision_feature_select_strategy="default",
        image_token=IMAGE_TOKEN,
        num_additional_image_tokens=1,
    )
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(projection_dim=v["hidden_size"], **v),
        text_config=LlamaConfig(
            vocab_size=len(tokenizer),
            num_key_value_heads=t["num_attention_heads"],
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            tie_word_embeddings=False,
            **t,
        ),
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    hf_logging.disable_progress_bar()
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    out = Path(output_dir)
    save_model_dir(model, None, out, provenance or {})
    processor.save_pretrained(out)
    n = sum(p.numel() for p in model.parameters())
    return {"parameters": n, "vocab_size": len(tokenizer), "image_size": size, "path": str(out)}


def has_vision(model: Any) -> bool:
    """Whether ``model`` (or the base of a peft model) has a vision encoder."""
    cfg = getattr(model, "config", None)
    return getattr(cfg, "vision_config", None) is not None


def require_vision(model: Any, path: str) -> None:
    if not has_vision(model):
        raise ModelNotFoundError(
            f"{path} has no vision tower: --task-type vqa needs an image-text-to-text model",
            "give a vision-language model folder (e.g. from cstool build-vlm), or use --task-type lm",
        )


def text_only_targets(targets: Sequence[str]) -> str:
    """A peft ``target_modules`` regex: the named projections of the language model only (never of the
    vision tower or the multimodal projector), so the vision side stays frozen."""
    names = "|".join(sorted(set(targets)))
    return rf"^(?!.*(?:vision|visual|image_|multi_modal|mm_projector|connector)).*\.(?:{names})$"


def image_input_size(processor: Any) -> tuple[int, int] | None:
    """(width, height) the processor feeds the vision tower, when it says (crop or fixed size)."""
    ip = getattr(processor, "image_processor", None)
    for attr in ("crop_size", "size"):
        size = getattr(ip, attr, None)
        if size is not None and not isinstance(size, dict):  # transformers' SizeDict
            size = {k: getattr(size, k, None) for k in ("height", "width")}
        if isinstance(size, dict) and size.get("height") and size.get("width"):
            return int(size["width"]), int(size["height"])
    return None


def projector_modules(model: Any) -> list[str]:
    """Name of the module that maps vision features into the language model (Llava's
    ``multi_modal_projector``, Idefics/SmolVLM's ``connector``), for peft ``modules_to_save``."""
    names = [full.rsplit(".", 1)[-1] for full, _ in model.named_modules() if full.count(".") <= 1]
    return [n for n in dict.fromkeys(names) if "projector" in n or n == "connector"][:1]
