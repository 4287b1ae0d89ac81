"""build-vlm: a tiny Llava (:func:`cstool.vqa.vlm.build_tiny_vlm`) whose tokenizer is trained on the
questions and answers of VQA artifacts, for tests, the demo and benchmarks."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cstool.base.errors import InputError
from cstool.base.fields import SEED, option
from cstool.io import artifacts, locks, paths
from cstool.vqa.vlm import build_tiny_vlm


@dataclass(frozen=True)
class BuildVlmConfig:
    vision: str = option(
        "layers=2,hidden=64,heads=4,image=32,patch=8",
        "CLIP vision tower: layers, hidden, heads, intermediate, image, patch.",
    )
    text: str = option(
        "layers=2,hidden=64,heads=4", "Llama language model: layers, hidden, heads, intermediate, positions."
    )
    vocab_size: int | None = option(
        None, "Tokenizer pieces [default: up to 1000, as the text allows].", low=8, high=2**20
    )
    seed: int = option(1234, "Random seed.", **SEED)


@dataclass(frozen=True)
class BuildVlmResult:
    output: Path  # the model folder
    parameters: int
    vocab_size: int  # tokenizer pieces, <image> included
    image_size: int  # pixels per side

    def message(self) -> str:
        return (
            f"built a {self.parameters:,}-parameter VLM ({self.vocab_size} tokens, {self.image_size}px images) "
            f"→ {self.output}"
        )


@locks.locks_output("build-vlm", "output")
def run(config: BuildVlmConfig, *, data: Sequence[str], output: str | os.PathLike) -> BuildVlmResult:
    """:func:`build_tiny_vlm` into the folder ``output``, its tokenizer trained on the questions and answers of
    the VQA artifacts ``data``."""
    out = Path(output)
    paths.check_outputs({"-o": out}, {"DATA": list(data)}, folders=["-o"])
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} exists and is not empty", "choose another -o or delete the folder")
    texts, sources = [], []
    for spec in data:
        src = artifacts.open_source(spec)
        missing = [c for c in ("question", "answers") if c not in src.schema.names]
        if missing:
            raise InputError(
                f"{spec} has no column {', '.join(map(repr, missing))}",
                "give VQA artifacts from cstool vqa-import or cstool vqa-easy",
            )
        artifacts.require_text_column(src.schema, "question", where=spec, hint="give VQA artifacts")
        rows = src.read_all()
        texts += rows.column("question").to_pylist()
        texts += [a for answers in rows.column("answers").to_pylist() for a in answers or []]
        sources.append(src)
    options = dataclasses.asdict(config)
    prov = artifacts.make_provenance("build-vlm", options=options, seed=config.seed, inputs=sources)
    built = build_tiny_vlm(out, texts=texts, provenance=prov, **options)
    return BuildVlmResult(
        output=out, parameters=built["parameters"], vocab_size=built["vocab_size"], image_size=built["image_size"]
    )
