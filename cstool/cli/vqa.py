"""VQA commands: vqa-import, vqa-easy, build-vlm."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cstool.base.console import log, print_table
from cstool.cli.app import command, prepare_torch
from cstool.cli.options import argument, param

if TYPE_CHECKING:
    from cstool.stages.build_vlm import BuildVlmConfig
    from cstool.stages.vqa_easy import EasyVqaConfig
    from cstool.stages.vqa_import import VqaImportConfig


@command(
    "vqa-import",
    examples=["cstool vqa-import xgqa_hi.jsonl --lang hi -o hi.vqa.parquet"],
    config="cstool.stages.vqa_import.VqaImportConfig",
    params=[
        argument("input", Path, "JSONL, CSV/TSV or Parquet/Arrow with a question, answers and an image per row."),
        param("output", str, "VQA artifact (.parquet or .arrow).", "--output", "-o"),
    ],
)
def vqa_import(config: VqaImportConfig, input: Path, output: str) -> None:
    """Import a VQA set (VQAv2, xGQA, MaXM, …) into a checked VQA artifact."""
    from cstool.stages.vqa_import import run

    log(run(config, input=input, output=output).message())


@command(
    "vqa-easy",
    examples=["cstool vqa-easy -o vqa --train-images 250 --dev-images 40"],
    config="cstool.stages.vqa_easy.EasyVqaConfig",
    params=[param("output", Path, "Folder for LANG.train/dev.parquet and lexicons.", "--output", "-o")],
)
def vqa_easy(config: EasyVqaConfig, output: Path) -> None:
    """The easy-VQA benchmark in English, Hindi and Marathi (gold tokens + UPOS for cstool switch)."""
    from cstool.stages.vqa_easy import run

    for title, columns, rows in run(config, output=output).tables():
        print_table(title, columns, rows)


@command(
    "build-vlm",
    examples=["cstool build-vlm vqa/en.train.parquet vqa/hi.train.parquet -o vlm"],
    config="cstool.stages.build_vlm.BuildVlmConfig",
    params=[
        argument("data", list[str], "VQA artifacts whose questions and answers train the tokenizer."),
        param("output", Path, "Model folder (save_pretrained + processor).", "--output", "-o"),
    ],
)
def build_vlm(config: BuildVlmConfig, data: list[str], output: Path) -> None:
    """A tiny random Llava (CLIP vision + Llama text, sentencepiece tokenizer with <image>) for tests and demos."""
    from cstool.stages.build_vlm import run

    prepare_torch()
    log(run(config, data=data, output=output).message())


COMMANDS = (vqa_import, vqa_easy, build_vlm)
