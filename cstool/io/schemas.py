"""Explicit Arrow schemas of every cstool artifact, and the checks stages make at their boundaries.

A stage declares the columns it needs from these (:func:`require_columns`, whose error names the command that
produces them) and adds its own (:func:`extend_schema`); columns it does not know pass through. Reading and
writing artifacts is in :mod:`cstool.io.artifacts`, which re-exports everything here.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from cstool.base.errors import SchemaError

# ---------------------------------------------------------------------------------------------------------
# Schemas. A stage declares the columns it needs from these; columns it does not know pass through.

_str_list = pa.list_(pa.string())

TAGGED = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.string()),
        pa.field("tokens", _str_list),
        pa.field("upos", _str_list),
        pa.field("lemmas", _str_list),  # null when the tagger gives no lemmas
        pa.field("lang", pa.string()),
    ]
)

# cstool teacher-cache: one row per packed block of block_size tokens. Position t holds the teacher's
# distribution (at the cache's temperature) for the token after t, flattened row-major: topk_* have
# block_size·k values, tail_logprob block_size (log of the mass outside the top k). Padding: length < block_size.
TEACHER_CACHE = pa.schema(
    [
        pa.field("block", pa.int64(), nullable=False),
        pa.field("length", pa.int32(), nullable=False),
        pa.field("input_ids", pa.list_(pa.int32())),
        pa.field("topk_ids", pa.list_(pa.int32())),
        pa.field("topk_logprobs", pa.list_(pa.float16())),
        pa.field("tail_logprob", pa.list_(pa.float32())),
    ]
)

# cstool distill: OUT_DIR/train_metrics.parquet, one row per logged optimizer step.
TRAIN_METRICS = pa.schema(
    [
        pa.field("step", pa.int64(), nullable=False),
        pa.field("loss", pa.float64()),
        pa.field("ce", pa.float64()),
        pa.field("kd", pa.float64()),
        pa.field("lr", pa.float64()),
        pa.field("tokens_per_s", pa.float64()),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {"tagged": TAGGED, "teacher_cache": TEACHER_CACHE, "train_metrics": TRAIN_METRICS}

# Which command makes the columns of each kind, for "Produce them with: ..." hints.
PRODUCED_BY: dict[str, str] = {
    "tagged": "cstool tag INPUT --lang LANG -o TAGGED.parquet",
    "teacher_cache": "cstool teacher-cache DATA --teacher MODEL -o CACHE.parquet",
    "train_metrics": "cstool distill DATA --student-config SPEC -o OUT_DIR",
}


def register_schema(kind: str, schema: pa.Schema, produced_by: str) -> pa.Schema:
    """Declare an artifact kind: its schema and the command that produces it (for "Produce them with" hints)."""
    SCHEMAS[kind] = schema
    PRODUCED_BY[kind] = produced_by
    return schema


# cstool switch: the tagged columns, then per row the code-switched variant and what was switched.
# switched has one bool per input token; switch_src/switch_tgt one entry per replaced unit (a token or a
# lexicon phrase; a multi-word target is one entry here and several tokens in tokens_cs). With a curriculum
# each input row appears once per epoch, in input order, its variants consecutive by cs_epoch.
SWITCHED = register_schema(
    "switched",
    pa.schema(
        list(TAGGED)
        + [
            pa.field("tokens_cs", _str_list),
            pa.field("text_cs", pa.string()),  # text with the switched spans replaced (cstool/text/splice.py)
            pa.field("switched", pa.list_(pa.bool_())),
            pa.field("switch_src", _str_list),
            pa.field("switch_tgt", _str_list),
            pa.field("n_switched", pa.int32()),  # input tokens replaced
            pa.field("n_eligible", pa.int32()),  # input tokens that could switch under the strategy
            pa.field("cmi", pa.float64()),
            pa.field("switch_points", pa.int32()),
            pa.field("cs_ratio", pa.float64()),
            pa.field("cs_epoch", pa.int32()),
            pa.field("strategy", pa.string()),
        ]
    ),
    "cstool switch TAGGED --lexicon LEX -o SWITCHED.parquet",
)

# cstool switch --stats: per (cs_epoch, UPOS) counts and shares, then one "ALL" row per epoch with the
# sentence-level statistics (mean CMI, switch points, JS divergence to a natural profile).
SWITCH_STATS = register_schema(
    "switch_stats",
    pa.schema(
        [
            pa.field("cs_epoch", pa.int32(), nullable=False),
            pa.field("cs_ratio", pa.float64(), nullable=False),
            pa.field("upos", pa.string(), nullable=False),  # a UPOS tag, "other", or "ALL"
            pa.field("tokens", pa.int64()),
            pa.field("covered", pa.int64()),  # tokens found in the lexicon
            pa.field("eligible", pa.int64()),
            pa.field("switched", pa.int64()),
            pa.field("coverage", pa.float64()),  # covered / tokens
            pa.field("switched_share", pa.float64()),  # switched / tokens
            pa.field("switched_dist", pa.float64()),  # this UPOS's share of all switched tokens
            pa.field("natural_dist", pa.float64()),  # the same in the natural profile (null without one)
            pa.field("sentences", pa.int64()),  # ALL rows only
            pa.field("mean_cmi", pa.float64()),
            pa.field("mean_switch_points", pa.float64()),
            pa.field("js_divergence", pa.float64()),  # with a profile
        ]
    ),
    "cstool switch TAGGED --lexicon LEX -o SWITCHED.parquet --stats STATS.parquet",
)


# cstool eval: one row per (eval set, metric). after_task is null outside a continual run.
# LM metrics: nll (mean token NLL, nats), ppl, bpb (bits per UTF-8 byte), tokens, bytes, examples;
# VQA: accuracy, examples.
SCORES = register_schema(
    "scores",
    pa.schema(
        [
            pa.field("run", pa.string()),
            pa.field("model", pa.string()),
            pa.field("after_task", pa.string()),
            pa.field("eval_task", pa.string(), nullable=False),
            pa.field("metric", pa.string(), nullable=False),
            pa.field("value", pa.float64()),
        ]
    ),
    "cstool eval --model DIR --data NAME=PATH -o SCORES.parquet",
)

# cstool eval --task vqa --predictions: one row per example.
VQA_PREDICTIONS = register_schema(
    "vqa_predictions",
    pa.schema(
        [
            pa.field("id", pa.string()),
            pa.field("eval_task", pa.string()),
            pa.field("lang", pa.string()),
            pa.field("prediction", pa.string()),
            pa.field("answers", _str_list),
            pa.field("accuracy", pa.float64()),
        ]
    ),
    "cstool eval --task vqa --model DIR --data NAME=PATH -o SCORES.parquet --predictions PRED.parquet",
)

# cstool replay-train: RUN_DIR/metrics.parquet, the R matrix in long form. Rows are appended in training
# order, so the task sequence is the order in which after_task values first appear (row 0 = the anchor,
# before continual training). metric: nll, bpb, ppl (LM) or accuracy (VQA); cstool report reads it.
# phase: null on the R matrix's rows (scores after the whole task); with --score-phases, the name of a training
# phase within the task (e.g. task-adapter, replay-adapter) on rows of the scores right after that phase.
# Files written before the column existed read as if it were all null.
METRICS = register_schema(
    "metrics",
    pa.schema(
        [
            pa.field("run", pa.string(), nullable=False),
            pa.field("strategy", pa.string(), nullable=False),
            pa.field("cs", pa.string(), nullable=False),
            pa.field("seed", pa.int64(), nullable=False),
            pa.field("after_task", pa.string(), nullable=False),
            pa.field("eval_task", pa.string(), nullable=False),
            pa.field("metric", pa.string(), nullable=False),
            pa.field("value", pa.float64()),
            pa.field("phase", pa.string()),
        ]
    ),
    "cstool replay-train --base MODEL --task NAME=PATH ... -o RUN_DIR (writes RUN_DIR/metrics.parquet)",
)

# cstool report: REPORT_DIR/summary.parquet. score is the oriented R-matrix score (accuracy, -bpb, -nll);
# metric is Last/Avg/BWT/FWT/Forgetting; ci95 is the half-width of the t interval (null when n < 2).
SUMMARY = register_schema(
    "summary",
    pa.schema(
        [
            pa.field("tasks", pa.string(), nullable=False),
            pa.field("strategy", pa.string(), nullable=False),
            pa.field("cs", pa.string(), nullable=False),
            pa.field("score", pa.string(), nullable=False),
            pa.field("metric", pa.string(), nullable=False),
            pa.field("mean", pa.float64()),
            pa.field("ci95", pa.float64()),
            pa.field("n", pa.int64(), nullable=False),
            pa.field("runs", _str_list),
        ]
    ),
    "cstool report RUN_DIR... -o REPORT_DIR",
)


def require_columns(schema: pa.Schema, kind: str, *, stage: str, columns: Sequence[str] | None = None) -> None:
    """Check that ``schema`` has ``columns`` (default: all of ``kind``) with the types ``kind`` declares.

    Raises a SchemaError naming what is missing and the command that produces it.
    """
    expected = SCHEMAS[kind]
    wanted = list(columns) if columns is not None else expected.names
    twice = sorted({n for n in schema.names if schema.names.count(n) > 1})
    if twice:
        raise SchemaError(
            f"{stage}: the input has column{'s' if len(twice) > 1 else ''} {', '.join(map(repr, twice))} more than "
            "once",
            "give every column its own name (rename or drop the copies)",
        )
    missing = [c for c in wanted if c not in schema.names]
    if missing:
        raise SchemaError(
            f"{stage} needs columns [{', '.join(wanted)}]; input has [{', '.join(schema.names)}]",
            f"Produce them with: {PRODUCED_BY[kind]}",
        )
    wrong = [
        f"{c} is {schema.field(c).type}, expected {expected.field(c).type}"
        for c in wanted
        if not schema.field(c).type.equals(expected.field(c).type)
        and not (pa.types.is_null(schema.field(c).type) and expected.field(c).nullable)
    ]
    wrong += [  # the other columns of the kind that the input has: of the same kind of values, or all null
        f"{f.name} is {schema.field(f.name).type}, expected {f.type}"
        for f in expected
        if f.name in schema.names and f.name not in wanted and not _fits(schema.field(f.name).type, f.type)
    ]
    if wrong:
        raise SchemaError(f"{stage}: wrong column types: {'; '.join(wrong)}", f"Produce them with: {PRODUCED_BY[kind]}")


def _fits(given: pa.DataType, declared: pa.DataType) -> bool:
    """Whether a column of type ``given`` holds the values a column declared ``declared`` holds (text for text,
    lists of text for lists of text, the same type otherwise; a column of nulls fits anything)."""
    if pa.types.is_null(given) or given.equals(declared):
        return True
    if is_text(declared):
        return is_text(given)
    if pa.types.is_list(declared) and (pa.types.is_list(given) or pa.types.is_large_list(given)):
        return _fits(given.value_type, declared.value_type)
    return False


def check_ids(batch: pa.RecordBatch, seen: set[str], *, where: str, offset: int = 0) -> None:
    """Refuse a batch whose ``id`` column holds a null or an id already in ``seen`` (the ids of the batches
    before it, to which this batch's are added): ids key the random draws, so two rows must not share one."""
    if "id" not in batch.schema.names:
        return
    ids = batch.column("id")
    if ids.null_count:
        import pyarrow.compute as pc

        row = int(pc.index(pc.is_null(ids), True).as_py())
        raise SchemaError(f"{where}row {offset + row} has a null id", "give every row an id (a unique string)")
    for value in ids.to_pylist():
        key = str(value)
        if key in seen:
            raise SchemaError(f"{where}id {key!r} is given to more than one row", "give every row its own id")
        seen.add(key)


def is_text(type_: pa.DataType) -> bool:
    """Whether a column of this type holds text (strings, possibly dictionary-encoded)."""
    if pa.types.is_dictionary(type_):
        type_ = type_.value_type
    return pa.types.is_string(type_) or pa.types.is_large_string(type_)


def require_text_column(
    schema: pa.Schema, column: str, *, where: str, hint: str = "choose the text column with --text-column NAME"
) -> None:
    """Refuse a text column that ``schema`` lacks (naming the columns there) or that holds no strings."""
    if column not in schema.names:
        raise SchemaError(f"{where} has no column {column!r}; columns there: [{', '.join(schema.names)}]", hint)
    type_ = schema.field(column).type
    if not is_text(type_):
        text = [f.name for f in schema if is_text(f.type)]
        raise SchemaError(
            f"{where}: column {column!r} is {type_}, not text",
            f"choose a column of strings with --text-column NAME (text columns there: {', '.join(text) or 'none'})",
        )


def first_null_element(lists: pa.Array) -> tuple[int, int] | None:
    """(row, position) of the first null element inside the lists of ``lists``, or None when there is none."""
    import numpy as np
    import pyarrow.compute as pc

    values = lists.flatten()
    if values.null_count == 0:
        return None
    k = int(np.flatnonzero(pc.is_null(values).to_numpy(zero_copy_only=False))[0])
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
    ends = np.cumsum(lengths)
    row = int(np.searchsorted(ends, k, side="right"))
    return row, k - int(ends[row] - lengths[row])


def require_list_elements(batch: pa.RecordBatch, columns: dict[str, str], ids: Sequence[str], *, where: str) -> None:
    """Refuse a batch whose list columns (name → what one element is, e.g. ``{"tokens": "token"}``) hold a null
    element: every token and tag must be a string."""
    for name, what in columns.items():
        if name not in batch.schema.names:
            continue
        found = first_null_element(batch.column(name))
        if found is not None:
            row, position = found
            raise SchemaError(
                f"{where}row {str(ids[row])!r} has a null {what} (position {position}) in column {name!r}",
                "every token and tag must be a string: re-tag the input with cstool tag, or drop that row",
            )


def extend_schema(base: pa.Schema, input_schema: pa.Schema, added: Sequence[pa.Field] = ()) -> pa.Schema:
    """Output schema of a stage: ``base`` fields, then ``added``, then input columns it does not know."""
    fields = list(base) + [f for f in added if f.name not in base.names]
    names = {f.name for f in fields}
    fields += [f for f in input_schema if f.name not in names]
    return pa.schema(fields)


# cstool replay-train: RUN_DIR/buffer.parquet, the seeded reservoir of each earlier task.
REPLAY_BUFFER = register_schema(
    "replay_buffer",
    pa.schema(
        [
            pa.field("task", pa.string(), nullable=False),
            pa.field("row", pa.int64(), nullable=False),  # position in the task's data
            pa.field("id", pa.string()),
            pa.field("text", pa.string()),
        ]
    ),
    "cstool replay-train ... -o RUN_DIR (writes RUN_DIR/buffer.parquet)",
)


# cstool vqa-import / vqa-easy: one question about one image, with its reference answers.
VQA = register_schema(
    "vqa",
    pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("image", pa.binary()),  # encoded PNG/JPEG/… bytes, or null with image_path
            pa.field("image_path", pa.string()),
            pa.field("question", pa.string()),
            pa.field("answers", _str_list),
            pa.field("lang", pa.string()),
            pa.field("qtype", pa.string()),
            pa.field("tokens", _str_list),  # gold tokens of the question (null when unknown)
            pa.field("upos", _str_list),
            pa.field("lemmas", _str_list),
        ]
    ),
    "cstool vqa-import INPUT --lang LANG -o VQA.parquet (or cstool vqa-easy -o DIR)",
)
