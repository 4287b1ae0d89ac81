"""Language-model commands: train-tokenizer, adapt-vocab, import-model, teacher-cache, distill."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cstool.base import ranks
from cstool.base.console import log, print_table
from cstool.cli.app import command, prepare_torch
from cstool.cli.options import argument, param

if TYPE_CHECKING:
    from cstool.stages.adapt_vocab import AdaptVocabConfig
    from cstool.stages.distill import DistillConfig
    from cstool.stages.import_model import ImportModelConfig
    from cstool.stages.teacher_cache import TeacherCacheConfig
    from cstool.stages.train_tokenizer import TrainTokenizerConfig


@command(
    "train-tokenizer",
    examples=["cstool train-tokenizer en.tagged.parquet hi.tagged.parquet mr.tagged.parquet --vocab-size 8000 -o tok"],
    config="cstool.stages.train_tokenizer.TrainTokenizerConfig",
    params=[
        argument(
            "data",
            list[str],
            "Text artifacts (Parquet/Arrow) or Hugging Face datasets "
            "(hf:OWNER/NAME[:CONFIG]:SPLIT, a save_to_disk or data-file FOLDER[:SPLIT]).",
        ),
        param("output", Path, "Tokenizer folder (AutoTokenizer-loadable).", "--output", "-o"),
    ],
)
def train_tokenizer(config: TrainTokenizerConfig, data: list[str], output: Path) -> None:
    """Train a sentencepiece unigram tokenizer and save it as a fast tokenizer for AutoTokenizer."""
    from cstool.stages.train_tokenizer import run

    log(run(config, data=data, output=output).summary())


@command(
    "adapt-vocab",
    examples=["cstool adapt-vocab student --tokenizer hi_tok --mode extend -o student_hi"],
    config="cstool.stages.adapt_vocab.AdaptVocabConfig",
    params=[
        argument("model", str, "Causal LM folder (save_pretrained) or Hugging Face Hub id OWNER/NAME to adapt."),
        param("output", Path, "Adapted model folder (AutoModelForCausalLM-loadable).", "--output", "-o"),
    ],
)
def adapt_vocab(config: AdaptVocabConfig, model: str, output: Path) -> None:
    """Give a model a new or extended tokenizer; new embedding rows = mean of the old pieces' rows."""
    from cstool.stages.adapt_vocab import run

    prepare_torch()
    summary = run(config, model=model, output=output).summary()
    print_table("adapt-vocab", list(summary), [list(summary.values())])


@command(
    "import-model",
    examples=[
        "cstool import-model HuggingFaceTB/SmolLM2-135M -o smollm2",
        "cstool import-model model.Q8_0.gguf -o teacher",
        "cstool import-model OWNER/NAME-GGUF --gguf-file NAME.Q8_0.gguf -o teacher",
    ],
    config="cstool.stages.import_model.ImportModelConfig",
    params=[
        argument("source", str, "A .gguf file, a checkpoint folder, or a Hugging Face Hub repository id OWNER/NAME."),
        param("output", Path, "New model folder (AutoModelForCausalLM-loadable).", "--output", "-o"),
    ],
)
def import_model(config: ImportModelConfig, source: str, output: Path) -> None:
    """Turn a GGUF file or a Hub checkpoint into a plain transformers folder (a teacher for distill)."""
    from cstool.stages.import_model import run

    prepare_torch()
    r = run(config, source=source, output=output)
    print_table(
        "import-model",
        ["format", "model type", "parameters", "vocab", "commit", "folder"],
        [[r.format, r.model_type, r.parameters, r.vocab, (r.commit or "-")[:12], str(r.output)]],
    )


@command(
    "teacher-cache",
    examples=["cstool teacher-cache en.tagged.parquet --teacher teacher -o cache.parquet --top-k 32"],
    config="cstool.stages.teacher_cache.TeacherCacheConfig",
    params=[
        argument("data", list[str], "Text artifacts, as given to cstool distill."),
        param("output", str, "Cache artifact (.parquet or .arrow).", "--output", "-o"),
    ],
)
def teacher_cache(config: TeacherCacheConfig, data: list[str], output: str) -> None:
    """Run a teacher once and store its top-k log-probs (+ tail mass) per token, for distill --teacher-cache."""
    from cstool.stages.teacher_cache import run

    prepare_torch()
    r = run(config, data=data, output=output)
    if ranks.is_main():  # under torchrun / accelerate launch, process 0 reports
        print_table("teacher-cache", *r.table())


@command(
    "distill",
    examples=[
        "cstool distill en.tagged.parquet --teacher teacher --student-config llama:layers=2,hidden=64,heads=4 "
        "-o student",
        "cstool distill en.tagged.parquet --student-config llama:layers=4,hidden=128,heads=4 --tokenizer tok -o lm",
    ],
    config="cstool.stages.distill.DistillConfig",
    params=[
        argument(
            "data",
            list[str],
            "Text artifacts (Parquet/Arrow) to train on, or Hugging Face datasets "
            "(hf:OWNER/NAME[:CONFIG]:SPLIT, a save_to_disk or data-file FOLDER[:SPLIT]).",
        ),
        param("output", Path, "Output model folder.", "--output", "-o"),
    ],
)
def distill(config: DistillConfig, data: list[str], output: Path) -> None:
    """Distil a teacher into a student (α·CE + (1−α)·τ²·D), or train a causal LM when there is no teacher."""
    from cstool.stages.distill import run

    prepare_torch()
    summary = run(config, data=data, output=output).summary()
    if ranks.is_main():
        print_table("distill", list(summary), [list(summary.values())])


COMMANDS = (train_tokenizer, adapt_vocab, import_model, teacher_cache, distill)
