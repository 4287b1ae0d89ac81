"""build-vlm: a tiny Llava (:func:`cstool.vqa.model.build_tiny_vlm`) whose tokenizer is trained on the
questions and answers of VQA artifacts, for tests, the demo and benchmarks."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cstool import artifacts
from cstool.errors import InputError
from cstool.vqa.model import build_tiny_vlm


def build_vlm_from_data(data: Sequence[str], output_dir: str | os.PathLike, **options: Any) -> dict[str, Any]:
    """:func:`build_tiny_vlm` with its tokenizer trained on the questions and answers of VQA artifacts."""
    out = Path(output_dir)
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
        rows = src.read_all()
        texts += rows.column("question").to_pylist()
        texts += [a for answers in rows.column("answers").to_pylist() for a in answers or []]
        sources.append(src)
    prov = artifacts.make_provenance("build-vlm", options=options, seed=options.get("seed"), inputs=sources)
    return build_tiny_vlm(out, texts=texts, provenance=prov, **options)
