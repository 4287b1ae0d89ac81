"""The cstool command line: one thin command per stage. Each parses options, builds the stage's config,
calls the stage function, and reports. The work itself lives in ``cstool.stages``."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from cstool import __version__
from cstool.console import console, log, print_table, set_quiet
from cstool.errors import CstoolError

app = typer.Typer(
    name="cstool",
    help="POS-based code-switching and replay-adapter continual learning for low-resource language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_state = {"debug": False, "threads": None}
# The output option of every row-transforming stage (tag, switch): a file, or '-' for an IPC stream on stdout.
ArtifactOutput = Annotated[
    str, typer.Option("--output", "-o", help="Output artifact (.parquet, .arrow, or - for stdout).")
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cstool {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or summary tables.")] = False,
    threads: Annotated[
        Optional[int], typer.Option(help="CPU threads for torch (default: $OMP_NUM_THREADS, else 1).")
    ] = None,
) -> None:
    _state["debug"] = debug
    _state["threads"] = threads
    set_quiet(quiet)


def _fail(message: str, hint: str | None, code: int) -> None:
    from rich.markup import escape

    console.print(f"[bold red]error:[/bold red] {escape(message)}", soft_wrap=True)
    if hint:
        console.print(f"[dim]hint:[/dim] {escape(hint)}", soft_wrap=True)
    raise typer.Exit(code)


def stage(fn):
    """Run a command body; user errors become one red line + hint on stderr and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CstoolError as e:
            if _state["debug"]:
                raise
            _fail(e.message, e.hint, e.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted; no output was written", None, 130)

    return wrapper


def _threads() -> int:
    from cstool.models import set_threads

    return set_threads(_state["threads"])


# ---------------------------------------------------------------------------------------------------------


@app.command()
@stage
def info(path: Annotated[str, typer.Argument(help="An artifact, tagger file or model folder made by cstool.")]) -> None:
    """Show an artifact's kind, rows, columns and how it was made (the provenance chain), as JSON on stdout."""
    from cstool.artifacts import describe

    typer.echo(json.dumps(describe(path), indent=2, ensure_ascii=False))


@app.command()
@stage
def tag(
    input: Annotated[str, typer.Argument(help="Input: .txt, .jsonl, .conllu, Parquet/Arrow artifact, or - (stdin).")],
    lang: Annotated[str, typer.Option(help="Language code of the text (e.g. hi, mr, en).")],
    output: ArtifactOutput,
    text_column: Annotated[str, typer.Option(help="Text column of .jsonl/.parquet inputs.")] = "text",
    docs: Annotated[bool, typer.Option(help="Each line/row is a document of several sentences.")] = False,
    retag: Annotated[bool, typer.Option(help="Tag the gold tokens of a .conllu input with Stanza.")] = False,
    pretokenized: Annotated[bool, typer.Option(help="Text is already tokenized: split on whitespace only.")] = False,
    pos_model: Annotated[Optional[str], typer.Option(help="A Stanza POS model file (see cstool train-tagger).")] = None,
    stanza_dir: Annotated[Optional[str], typer.Option(help="Stanza resources folder with models for --lang.")] = None,
    allow_download: Annotated[bool, typer.Option(help="Let Stanza download missing models (needs internet).")] = False,
    batch_size: Annotated[int, typer.Option(help="Rows per Stanza call.")] = 256,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    shard: Annotated[str, typer.Option(help="i/n: process rows whose ordinal is i modulo n (0-based i).")] = "0/1",
) -> None:
    """Tokenise and tag text with Universal POS tags (Stanza), or read gold tags from CoNLL-U."""
    from cstool.console import progress
    from cstool.stages.tag import TagConfig, tag_file

    config = TagConfig(
        lang=lang,
        text_column=text_column,
        docs=docs,
        retag=retag,
        pretokenized=pretokenized,
        batch_size=batch_size,
        device=device,
        shard=shard,
        pos_model=pos_model,
        stanza_dir=stanza_dir,
        allow_download=allow_download,
    )
    _threads()
    with progress("tag") as bar:
        rows = tag_file(input, output, config=config, on_rows=lambda n: bar.advance(bar.task_ids[0], n))
    log(f"tagged {rows} rows → {output}")


@app.command("train-tagger")
@stage
def train_tagger(
    train: Annotated[Path, typer.Option(help="Training treebank (CoNLL-U with UPOS).")],
    lang: Annotated[str, typer.Option(help="Language code.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the tagger (.pt).")],
    dev: Annotated[Optional[Path], typer.Option(help="Dev treebank (default: every 10th training sentence).")] = None,
    max_steps: Annotated[int, typer.Option(help="Training steps.")] = 1000,
    batch_size: Annotated[int, typer.Option(help="Sentences per step.")] = 32,
    eval_interval: Annotated[int, typer.Option(help="Evaluate on dev (and keep the best) every N steps.")] = 100,
    full_size: Annotated[bool, typer.Option(help="Stanza's default sizes instead of small CPU ones.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1234,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
) -> None:
    """Train a Stanza POS tagger from a UD treebank (offline, no pretrained vectors) and report dev accuracy."""
    from cstool.stages.train_tagger import TrainTaggerConfig
    from cstool.stages.train_tagger import train_tagger as run

    config = TrainTaggerConfig(
        lang=lang,
        max_steps=max_steps,
        batch_size=batch_size,
        eval_interval=eval_interval,
        full_size=full_size,
        seed=seed,
        device=device,
    )
    _threads()
    log(f"training a {lang} tagger on {train} for {max_steps} steps")
    result = run(train, dev, output, config=config)
    print_table(
        "train-tagger",
        ["tagger", "dev UPOS accuracy", "train sentences"],
        [[str(output), f"{100 * result['dev_upos_accuracy']:.2f} %", result["train_sentences"]]],
    )


@app.command("eval")
@stage
def eval_(
    data: Annotated[
        list[str], typer.Option(help="An eval set as NAME=PATH (artifact with a text column); repeatable.")
    ],
    output: Annotated[str, typer.Option("--output", "-o", help="Scores artifact (.parquet, .arrow, or - for stdout).")],
    model: Annotated[
        Optional[str], typer.Option(help="Model folder (save_pretrained). VQA without it scores a prediction column.")
    ] = None,
    adapter: Annotated[
        Optional[list[str]], typer.Option(help="peft adapter folder to stack on the model; repeatable.")
    ] = None,
    tokenizer: Annotated[Optional[str], typer.Option(help="Tokenizer folder (default: the model folder).")] = None,
    task: Annotated[str, typer.Option(help="lm (nll, ppl, bits per byte) or vqa (accuracy).")] = "lm",
    batch_size: Annotated[int, typer.Option(help="Most sequences per batch.")] = 16,
    max_tokens: Annotated[int, typer.Option(help="Most padded tokens per batch (LM).")] = 16384,
    text_column: Annotated[str, typer.Option(help="Text column of the LM sets.")] = "text",
    run: Annotated[Optional[str], typer.Option(help="Run name in the output (default: the model folder name).")] = None,
    after_task: Annotated[
        Optional[str], typer.Option(help="Task the model was last trained on (R-matrix row).")
    ] = None,
    max_new_tokens: Annotated[int, typer.Option(help="VQA: longest generated answer, in tokens.")] = 10,
    predictions: Annotated[Optional[str], typer.Option(help="VQA: also write per-example predictions here.")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    dtype: Annotated[Optional[str], typer.Option(help="float32, bfloat16 or float16 (default: as saved).")] = None,
) -> None:
    """Score a model on named sets: LM mean token NLL, perplexity and bits per byte, or VQA accuracy."""
    from cstool.console import progress
    from cstool.stages.evaluate import EvalConfig, evaluate, parse_data_specs

    config = EvalConfig(
        task=task,
        batch_size=batch_size,
        max_tokens=max_tokens,
        text_column=text_column,
        run=run,
        after_task=after_task,
        max_new_tokens=max_new_tokens,
        device=device,
        dtype=dtype,
        has_model=model is not None,
    )
    sets = parse_data_specs(data)
    _threads()
    with progress("eval") as bar:
        scores = evaluate(
            model_path=model,
            adapters=adapter or [],
            tokenizer_path=tokenizer,
            data=sets,
            output=output,
            config=config,
            predictions_output=predictions,
            on_progress=lambda n: bar.advance(bar.task_ids[0], n),
        )
    wide: dict[str, dict[str, float]] = {}
    for row in scores.to_pylist():
        wide.setdefault(row["eval_task"], {})[row["metric"]] = row["value"]
    metrics = ["nll", "ppl", "bpb", "tokens"] if task == "lm" else ["accuracy", "examples"]
    print_table("eval", ["set", *metrics], [[name, *(v[m] for m in metrics)] for name, v in wide.items()])


@app.command()
@stage
def report(
    runs: Annotated[list[str], typer.Argument(help="RUN_DIRs of replay-train (or their metrics.parquet files).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Report folder.")],
    metric: Annotated[
        Optional[str], typer.Option(help="Metric to plot: accuracy, bpb, nll or ppl (default: first present).")
    ] = None,
    markdown: Annotated[bool, typer.Option(help="Also print the table as Markdown on stdout.")] = False,
) -> None:
    """Compare runs: Last, Avg, BWT, FWT and Forgetting (mean ± 95 % CI over seeds), R-matrix heatmaps, plots."""
    from cstool.stages.report import ReportConfig, console_tables
    from cstool.stages.report import report as run_report

    result = run_report(runs=runs, output_dir=output, config=ReportConfig(metric=metric, markdown=markdown))
    for title, header, rows in console_tables(result["summary"]):
        print_table(title, header, rows)
    if markdown:
        typer.echo(result["markdown"], nl=False)
    log(f"wrote {len(result['files'])} files to {output}")


@app.command()
@stage
def switch(
    input: Annotated[str, typer.Argument(help="Tagged artifact from cstool tag (.parquet, .arrow, or - for stdin).")],
    lexicon: Annotated[
        str, typer.Option(help="Lexicon: TSV with header source,target[,upos] or MUSE 'source target'.")
    ],
    output: ArtifactOutput,
    strategy: Annotated[str, typer.Option(help="pos (the method), random (POS-blind, matched count) or none.")] = "pos",
    pos: Annotated[
        Optional[str],
        typer.Option(help="UPOS that may switch under pos [default: NOUN,ADJ,VERB,ADV; all with --profile]."),
    ] = None,
    ratio: Annotated[float, typer.Option(help="Token-level switch probability (times the UPOS weight).")] = 0.3,
    sentence_rate: Annotated[float, typer.Option(help="Share of sentences touched at all.")] = 1.0,
    profile: Annotated[
        Optional[str], typer.Option(help="Fit UPOS weights from a code-switched CoNLL-U (language id in column 10).")
    ] = None,
    weights: Annotated[Optional[str], typer.Option(help="UPOS weights, e.g. NOUN=1,ADJ=0.8 (others 1).")] = None,
    target_lang: Annotated[str, typer.Option(help="Language the lexicon translates into.")] = "en",
    strict_pos: Annotated[bool, typer.Option(help="Only lexicon entries with the token's UPOS.")] = False,
    curriculum: Annotated[
        Optional[str], typer.Option(help="Ratio per epoch, one variant each: linear:0.5:0.0:3, const:R:N, list:R,R.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1234,
    stats: Annotated[Optional[str], typer.Option(help="Also write the statistics artifact here.")] = None,
    shard: Annotated[str, typer.Option(help="i/n: process rows whose ordinal is i modulo n (0-based i).")] = "0/1",
    skip_bad_lines: Annotated[bool, typer.Option(help="Count and skip malformed lexicon lines.")] = False,
    allow_empty: Annotated[bool, typer.Option(help="Write the output even when no token is in the lexicon.")] = False,
) -> None:
    """Code-switch tagged sentences word by word into TARGET_LANG, by part of speech (or at random)."""
    from cstool.stages.switch import SwitchConfig, summary_tables, switch_file

    config = SwitchConfig(
        strategy=strategy,
        pos=pos,
        ratio=ratio,
        sentence_rate=sentence_rate,
        weights=weights,
        profile=profile,
        target_lang=target_lang,
        strict_pos=strict_pos,
        curriculum=curriculum,
        seed=seed,
        shard=shard,
        skip_bad_lines=skip_bad_lines,
        allow_empty=allow_empty,
    )
    result = switch_file(input, output, lexicon_path=lexicon, config=config, stats_path=stats)
    for title, columns, rows in summary_tables(result):
        print_table(title, columns, rows)
    log(f"switched {result.rows_in} rows → {result.rows_out} rows in {output}")


@app.command()
@stage
def distill(
    data: Annotated[list[str], typer.Argument(help="Text artifacts (Parquet/Arrow) to train on.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output model folder.")],
    student: Annotated[Optional[str], typer.Option(help="Student model folder (save_pretrained).")] = None,
    student_config: Annotated[
        Optional[str], typer.Option(help="Build the student, e.g. llama:layers=4,hidden=128,heads=4.")
    ] = None,
    init_from_teacher_layers: Annotated[
        Optional[str], typer.Option(help="Student = teacher's embeddings + these layers, e.g. 0,2,4.")
    ] = None,
    teacher: Annotated[
        Optional[str], typer.Option(help="Teacher model folder; without it (and a cache): plain LM training.")
    ] = None,
    teacher_cache: Annotated[
        Optional[str], typer.Option(help="Top-k cache from cstool teacher-cache (no teacher in memory).")
    ] = None,
    tokenizer: Annotated[
        Optional[str], typer.Option(help="Tokenizer folder for --student-config without a teacher.")
    ] = None,
    text_column: Annotated[str, typer.Option(help="Text column of DATA.")] = "text",
    alpha: Annotated[
        Optional[float], typer.Option(help="Weight of CE; 1−alpha weights KD (default 0.5 with a teacher, 1 without).")
    ] = None,
    temperature: Annotated[float, typer.Option(help="KD temperature τ.")] = 2.0,
    loss: Annotated[str, typer.Option(help="KD divergence: fkl, rkl or jsd.")] = "fkl",
    max_steps: Annotated[Optional[int], typer.Option(help="Optimizer steps (overrides --epochs).")] = None,
    epochs: Annotated[float, typer.Option(help="Passes over DATA.")] = 1.0,
    batch_size: Annotated[int, typer.Option(help="Blocks per device per step.")] = 8,
    grad_accum: Annotated[int, typer.Option(help="Gradient accumulation steps.")] = 1,
    block_size: Annotated[int, typer.Option(help="Tokens per packed block.")] = 256,
    lr: Annotated[float, typer.Option(help="Peak learning rate (linear decay).")] = 5e-4,
    warmup_steps: Annotated[int, typer.Option(help="Linear warm-up steps.")] = 0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1234,
    resume: Annotated[bool, typer.Option(help="Continue from the newest checkpoint in OUT/checkpoints.")] = False,
    save_steps: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = 200,
    log_every: Annotated[int, typer.Option(help="Log (and record in train_metrics) every N steps.")] = 10,
    eval_data: Annotated[
        Optional[list[str]], typer.Option(help="Held-out text artifact(s): report CE at the end.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
) -> None:
    """Distil a teacher into a student (α·CE + (1−α)·τ²·D), or train a causal LM when there is no teacher."""
    from cstool.stages.distill import DistillConfig, parse_layers
    from cstool.stages.distill import distill as run

    config = DistillConfig(
        student=student,
        student_config=student_config,
        init_from_teacher_layers=parse_layers(init_from_teacher_layers),
        teacher=teacher,
        teacher_cache=teacher_cache,
        tokenizer=tokenizer,
        text_column=text_column,
        alpha=alpha,
        temperature=temperature,
        loss=loss,
        max_steps=max_steps,
        epochs=epochs,
        batch_size=batch_size,
        grad_accum=grad_accum,
        block_size=block_size,
        lr=lr,
        warmup_steps=warmup_steps,
        seed=seed,
        resume=resume,
        save_steps=save_steps,
        log_every=log_every,
        eval_data=tuple(eval_data or ()),
        device=device,
    )
    _threads()
    summary = run(data, output, config=config)
    print_table("distill", list(summary), [list(summary.values())])


@app.command("teacher-cache")
@stage
def teacher_cache(
    data: Annotated[list[str], typer.Argument(help="Text artifacts, as given to cstool distill.")],
    teacher: Annotated[str, typer.Option(help="Teacher model folder.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Cache artifact (.parquet or .arrow).")],
    top_k: Annotated[int, typer.Option(help="Teacher log-probs kept per token.")] = 32,
    temperature: Annotated[float, typer.Option(help="τ the cache is made for (distill must use the same).")] = 2.0,
    block_size: Annotated[int, typer.Option(help="Tokens per block (distill must use the same).")] = 256,
    text_column: Annotated[str, typer.Option(help="Text column of DATA.")] = "text",
    batch_size: Annotated[int, typer.Option(help="Blocks per teacher forward pass.")] = 8,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
) -> None:
    """Run a teacher once and store its top-k log-probs (+ tail mass) per token, for distill --teacher-cache."""
    from cstool.stages.teacher_cache import TeacherCacheConfig, build_teacher_cache

    config = TeacherCacheConfig(
        teacher=teacher,
        top_k=top_k,
        temperature=temperature,
        block_size=block_size,
        text_column=text_column,
        batch_size=batch_size,
        device=device,
    )
    _threads()
    r = build_teacher_cache(data, output, config=config)
    print_table(
        "teacher-cache",
        ["blocks", "tokens", "top-k", "bytes", "bytes/token"],
        [[r["blocks"], r["tokens"], r["top_k"], r["bytes"], r["bytes_per_token"]]],
    )


@app.command("train-tokenizer")
@stage
def train_tokenizer(
    data: Annotated[list[str], typer.Argument(help="Text artifacts (Parquet/Arrow).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Tokenizer folder (AutoTokenizer-loadable).")],
    vocab_size: Annotated[int, typer.Option(help="Pieces in the vocabulary.")] = 4000,
    text_column: Annotated[str, typer.Option(help="Text column of DATA.")] = "text",
    character_coverage: Annotated[
        float, typer.Option(help="Share of characters covered by pieces; rest via bytes.")
    ] = 0.9995,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1234,
) -> None:
    """Train a sentencepiece unigram tokenizer and save it as a fast tokenizer for AutoTokenizer."""
    from cstool.stages.train_tokenizer import TrainTokenizerConfig
    from cstool.stages.train_tokenizer import train_tokenizer as run

    config = TrainTokenizerConfig(
        vocab_size=vocab_size, text_column=text_column, character_coverage=character_coverage, seed=seed
    )
    r = run(data, output, config=config)
    log(f"trained a {r['vocab_size']}-piece tokenizer on {r['sentences']} texts → {output}")


@app.command("vqa-import")
@stage
def vqa_import(
    input: Annotated[
        Path, typer.Argument(help="JSONL, CSV/TSV or Parquet/Arrow with a question, answers and an image per row.")
    ],
    output: Annotated[str, typer.Option("--output", "-o", help="VQA artifact (.parquet or .arrow).")],
    lang: Annotated[Optional[str], typer.Option(help="Language of rows without a lang column.")] = None,
    format: Annotated[str, typer.Option(help="auto (by suffix), jsonl, csv or parquet.")] = "auto",
    id_column: Annotated[str, typer.Option(help="Row id column.")] = "id",
    question_column: Annotated[str, typer.Option(help="Question column.")] = "question",
    answers_column: Annotated[
        str, typer.Option(help="Answers: a list, a JSON list, or separated strings.")
    ] = "answers",
    image_column: Annotated[str, typer.Option(help="Image bytes (base64 in JSONL/CSV).")] = "image",
    image_path_column: Annotated[str, typer.Option(help="Image file path (relative to --image-root).")] = "image_path",
    answer_separator: Annotated[str, typer.Option(help="Separator of several answers in one string.")] = "|",
    image_root: Annotated[
        Optional[str], typer.Option(help="Folder of relative image paths [default: the input's folder].")
    ] = None,
    embed_images: Annotated[bool, typer.Option(help="Store image bytes in the artifact (else keep paths).")] = True,
    skip_bad_images: Annotated[
        bool, typer.Option(help="Count and skip rows whose image is missing or unreadable.")
    ] = False,
) -> None:
    """Import a VQA set (VQAv2, xGQA, MaXM, …) into a checked VQA artifact."""
    from cstool.stages.vqa_import import VqaImportConfig, import_vqa

    config = VqaImportConfig(
        lang=lang,
        format=format,
        id_column=id_column,
        question_column=question_column,
        answers_column=answers_column,
        image_column=image_column,
        image_path_column=image_path_column,
        answer_separator=answer_separator,
        image_root=image_root,
        embed_images=embed_images,
        skip_bad_images=skip_bad_images,
    )
    r = import_vqa(input, output, config=config)
    log(f"imported {r['rows']} questions ({r['skipped']} skipped) → {output}")


@app.command("vqa-easy")
@stage
def vqa_easy(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for LANG.train/dev.parquet and lexicons.")],
    langs: Annotated[str, typer.Option(help="Comma-separated languages among en, hi, mr.")] = "en,hi,mr",
    train_images: Annotated[int, typer.Option(help="Training images per language (disjoint across languages).")] = 1000,
    dev_images: Annotated[int, typer.Option(help="Held-out images per language (from easy-vqa's test split).")] = 250,
    seed: Annotated[int, typer.Option(help="Random seed of the image splits.")] = 1234,
) -> None:
    """The easy-VQA benchmark in English, Hindi and Marathi (gold tokens + UPOS for cstool switch)."""
    from cstool.stages.vqa_easy import EasyVqaConfig, build_easy_vqa

    config = EasyVqaConfig(
        langs=tuple(x.strip() for x in langs.split(",") if x.strip()),
        train_images=train_images,
        dev_images=dev_images,
        seed=seed,
    )
    counts = build_easy_vqa(output, config=config)
    print_table(
        "vqa-easy",
        ["lang", "train questions", "dev questions"],
        [[lang, c["train"], c["dev"]] for lang, c in counts.items()],
    )


@app.command("build-vlm")
@stage
def build_vlm(
    data: Annotated[list[str], typer.Argument(help="VQA artifacts whose questions and answers train the tokenizer.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model folder (save_pretrained + processor).")],
    vision: Annotated[
        str, typer.Option(help="CLIP vision tower: layers, hidden, heads, intermediate, image, patch.")
    ] = "layers=2,hidden=64,heads=4,image=32,patch=8",
    text: Annotated[
        str, typer.Option(help="Llama language model: layers, hidden, heads, intermediate, positions.")
    ] = "layers=2,hidden=64,heads=4",
    vocab_size: Annotated[
        Optional[int], typer.Option(help="Tokenizer pieces [default: up to 1000, as the text allows].")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1234,
) -> None:
    """A tiny random Llava (CLIP vision + Llama text, sentencepiece tokenizer with <image>) for tests and demos."""
    from cstool.stages.build_vlm import build_vlm_from_data

    _threads()
    r = build_vlm_from_data(data, output, vision=vision, text=text, vocab_size=vocab_size, seed=seed)
    log(f"built a {r['parameters']:,}-parameter VLM ({r['vocab_size']} tokens, {r['image_size']}px images) → {output}")


@app.command("replay-train")
@stage
def replay_train(
    base: Annotated[str, typer.Option(help="Base model folder (frozen; adapters are trained on it).")],
    task: Annotated[list[str], typer.Option(help="NAME=PATH, in training order; the first is the anchor.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Run folder.")],
    dev: Annotated[Optional[list[str]], typer.Option(help="NAME=PATH dev set scored after every task.")] = None,
    strategy: Annotated[str, typer.Option(help="naive, replay, replay-adapter or joint.")] = "replay-adapter",
    cs: Annotated[
        str, typer.Option(help="none, pos or random: train on code-switched text_cs (from cstool switch).")
    ] = "none",
    replay_ratio: Annotated[
        float,
        typer.Option(
            help="Share of each batch from the replay buffer (replay); share of steps for the replay adapter "
            "(replay-adapter)."
        ),
    ] = 0.25,
    buffer_per_task: Annotated[int, typer.Option(help="Examples kept per earlier task (seeded reservoir).")] = 500,
    consolidation_new: Annotated[
        float, typer.Option(help="Share of the replay adapter's batches from the new task.")
    ] = 0.25,
    task_adapter_init: Annotated[
        str, typer.Option(help="replay-adapter: each task adapter starts fresh or from the previous one.")
    ] = "fresh",
    lora_r: Annotated[int, typer.Option(help="LoRA rank.")] = 8,
    lora_alpha: Annotated[int, typer.Option(help="LoRA alpha.")] = 16,
    target_modules: Annotated[str, typer.Option(help="auto, or comma-separated module names.")] = "auto",
    train_embeddings: Annotated[
        bool, typer.Option(help="Also train embeddings and LM head (peft modules_to_save).")
    ] = False,
    steps_per_task: Annotated[int, typer.Option(help="Optimizer steps per task (every strategy).")] = 200,
    batch_size: Annotated[int, typer.Option(help="Examples per step.")] = 8,
    max_length: Annotated[int, typer.Option(help="Tokens per example (longer ones are cut).")] = 128,
    lr: Annotated[float, typer.Option(help="Learning rate (constant).")] = 1e-3,
    kd_teacher: Annotated[Optional[str], typer.Option(help="Teacher for a KD term on replayed examples.")] = None,
    kd_alpha: Annotated[float, typer.Option(help="Weight of CE against the KD term.")] = 0.5,
    train_first: Annotated[
        bool, typer.Option(help="Train on the first task too (it is otherwise the known anchor).")
    ] = False,
    text_column: Annotated[
        Optional[str], typer.Option(help="Training text column [default: text_cs with --cs, else text].")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1234,
    resume: Annotated[bool, typer.Option(help="Continue a killed run in the same folder.")] = False,
    run_name: Annotated[
        Optional[str], typer.Option(help="Name of the run in metrics [default: the folder name].")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    task_type: Annotated[
        str, typer.Option(help="lm (text) or vqa (image + question → answer; dev metric accuracy).")
    ] = "lm",
    max_new_tokens: Annotated[int, typer.Option(help="vqa: greedy answer length limit on dev sets.")] = 10,
) -> None:
    """Continual learning over a task sequence with LoRA adapters, a replay buffer and a replay adapter."""
    from cstool.stages.replay_train import ReplayConfig, parse_named
    from cstool.stages.replay_train import replay_train as run

    config = ReplayConfig(
        strategy=strategy,
        cs=cs,
        replay_ratio=replay_ratio,
        buffer_per_task=buffer_per_task,
        consolidation_new=consolidation_new,
        task_adapter_init=task_adapter_init,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        target_modules=target_modules,
        train_embeddings=train_embeddings,
        steps_per_task=steps_per_task,
        batch_size=batch_size,
        max_length=max_length,
        lr=lr,
        kd_teacher=kd_teacher,
        kd_alpha=kd_alpha,
        train_first=train_first,
        text_column=text_column,
        seed=seed,
        resume=resume,
        run_name=run_name,
        device=device,
        task_type=task_type,
        max_new_tokens=max_new_tokens,
    )
    _threads()
    summary = run(
        base=base,
        tasks=parse_named(task, "--task"),
        devs=parse_named(dev or [], "--dev"),
        output_dir=output,
        config=config,
    )
    log(f"replay-train {summary['strategy']} (cs={summary['cs']}) done → {output}")


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
