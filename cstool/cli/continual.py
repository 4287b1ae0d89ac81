"""Continual-learning commands: replay-train, eval, report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from cstool.base.console import log, print_table
from cstool.cli.app import command, prepare_torch
from cstool.cli.options import argument, param

if TYPE_CHECKING:
    from cstool.continual.config import ReplayConfig
    from cstool.stages.evaluate import EvalConfig
    from cstool.stages.report import ReportConfig


@command(
    "replay-train",
    examples=[
        "cstool replay-train --base student --task en=en.parquet --task hi=hi.switched.parquet --task mr=mr.parquet "
        "--dev hi=hi.dev.parquet -o runs/ra"
    ],
    config="cstool.continual.config.ReplayConfig",
    params=[
        param("base", str, "Base model folder or Hugging Face Hub id OWNER/NAME (frozen; adapters are trained on it)."),
        param(
            "task",
            list[str],
            "NAME=PATH, in training order; the first is the anchor. PATH may be a dataset (see DATA of distill).",
        ),
        param("output", Path, "Run folder.", "--output", "-o"),
        param(
            "dev",
            Optional[list[str]],
            "NAME=PATH dev set scored after every task (artifact with a text column, or .txt, .jsonl, .conllu read "
            "as by tag).",
            default=None,
        ),
        param(
            "probe",
            Optional[list[str]],
            "NAME=KIND:PATH probe scored after every task (KIND choice or translation; docs/probes.md).",
            default=None,
        ),
    ],
)
def replay_train(
    config: ReplayConfig, base: str, task: list[str], output: Path, dev: list[str] | None, probe: list[str] | None
) -> None:
    """Continual learning over a task sequence with LoRA adapters, a replay buffer and a replay adapter."""
    from cstool.continual.config import parse_named
    from cstool.lm.probes import parse_probe_spec
    from cstool.stages.replay_train import run

    prepare_torch()
    tasks, devs = parse_named(task, "--task"), parse_named(dev or [], "--dev")
    probes = [(name, f"{kind}:{path}") for name, kind, path in map(parse_probe_spec, probe or [])]
    result = run(config, base=base, tasks=tasks, devs=devs, probes=probes, output=output)
    log(result.line())


@command(
    "eval",
    examples=[
        "cstool eval --model runs/ra/final --data hi=hi.dev.parquet --data en=en.dev.parquet -o scores.parquet",
        "cstool eval --task vqa --model runs/vqa/final --data en=en.dev.parquet -o scores.parquet",
        "cstool eval --model runs/ra/final --probe en-hi=translation:en-hi.parquet --probe hi=choice:hi.cloze.jsonl "
        "-o scores.parquet",
    ],
    config="cstool.stages.evaluate.EvalConfig",
    params=[
        param(
            "data",
            Optional[list[str]],
            "An eval set as NAME=PATH (artifact or dataset with a text column; for LM also .txt, .jsonl or "
            ".conllu, read as by tag); repeatable.",
            default=None,
        ),
        param(
            "probe",
            Optional[list[str]],
            "A probe as NAME=KIND:PATH, KIND choice or translation (docs/probes.md); repeatable.",
            default=None,
        ),
        param("output", str, "Scores artifact (.parquet, .arrow, or - for stdout).", "--output", "-o"),
        param(
            "model",
            Optional[str],
            "Model folder (save_pretrained) or Hugging Face Hub id OWNER/NAME; default with --adapter: the base the "
            "adapter recorded. VQA without a model scores a prediction column.",
            default=None,
        ),
        param(
            "adapter",
            Optional[list[str]],
            "peft adapter folder (e.g. RUN_DIR/adapters/TASK) to stack on the model; repeatable.",
            default=None,
        ),
        param("tokenizer", Optional[str], "Tokenizer folder (default: the model folder).", default=None),
        param("predictions", Optional[str], "VQA: also write per-example predictions here.", default=None),
    ],
    derive=lambda p: {"has_model": p["model"] is not None or bool(p["adapter"])},
)
def eval_(
    config: EvalConfig,
    data: list[str] | None,
    probe: list[str] | None,
    output: str,
    model: str | None,
    adapter: list[str] | None,
    tokenizer: str | None,
    predictions: str | None,
) -> None:
    """Score a model on named sets: LM mean token NLL, perplexity and bits per byte, or VQA accuracy."""
    from cstool.base.console import progress, set_total
    from cstool.base.specs import parse_data_specs
    from cstool.lm.probes import parse_probe_specs
    from cstool.stages.evaluate import run

    probes = parse_probe_specs(probe or [])
    sets = parse_data_specs(data or [], probes=bool(probes) or bool(config.lm_eval))
    prepare_torch()
    with progress("eval") as bar:
        result = run(
            config,
            model=model,
            adapters=adapter or [],
            tokenizer=tokenizer,
            data=sets,
            probes=probes,
            output=output,
            predictions=predictions,
            on_progress=lambda n: bar.advance(bar.task_ids[0], n),
            on_total=lambda n: set_total(bar, n),
        )
    for title, header, rows in result.tables():
        print_table(title, header, rows)


@command(
    "report",
    examples=["cstool report runs/naive runs/ra -o report", "cstool report runs/* -o report --metric ppl --markdown"],
    config="cstool.stages.report.ReportConfig",
    params=[
        argument("runs", list[str], "RUN_DIRs of replay-train (or their metrics.parquet files)."),
        param("output", Path, "Report folder.", "--output", "-o"),
    ],
)
def report(config: ReportConfig, runs: list[str], output: Path) -> None:
    """Compare runs: Last, Avg, BWT, FWT and Forgetting (mean ± 95 % CI over seeds), R-matrix heatmaps, plots.

    The terminal shows one metric: VQA accuracy, or bits per byte for language models (--metric for another,
    --all-metrics for every one); summary.parquet and summary.md hold them all. Perplexity gets no BWT or FWT.
    """
    from cstool.stages.report import run

    result = run(config, runs=runs, output=output)
    for title, header, rows in result.tables(all_metrics=config.all_metrics):
        print_table(title, header, rows, keep=("strategy",))
    if result.vqa_normalization is not None:
        log(f"VQA accuracy with answer normalisation: {result.vqa_normalization}")
    if config.markdown:
        typer.echo(result.markdown, nl=False)
    log(f"wrote {len(result.files)} files to {output}")


COMMANDS = (replay_train, eval_, report)
