"""Batch-level code-switching mechanics: lexicon units of a batch, the switch decision, the switched columns.

A tagged Arrow batch is flattened once (:class:`PreparedBatch`); each curriculum epoch then draws its
decisions (:func:`decide`) with keyed per-token uniforms and builds its switched batch (:func:`variant`) with
numpy and Arrow compute, no Python object per token. ``cstool switch`` (``cstool.stages.switch``) is the
stage over these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cstool.base.errors import InputError
from cstool.text.cs_stats import BUCKETS, NEUTRAL_UPOS, EpochStats, cmi_and_switch_points
from cstool.text.keyed_random import row_keys, uniform
from cstool.text.lexicon import UPOS_TAGS, Lexicon, encoded, upos_index
from cstool.text.splice import text_cs_column


class SwitchOptions(Protocol):
    """The options the mechanics read (``SwitchConfig`` of ``cstool switch`` has them, validated)."""

    @property
    def strategy(self) -> str: ...
    @property
    def pos(self) -> Sequence[str]: ...
    @property
    def sentence_rate(self) -> float: ...
    @property
    def seed(self) -> int: ...
    @property
    def strict_pos(self) -> bool: ...


def _expand(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ranges [s, s + l) for each (s, l)."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    run_start = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + (np.arange(total) - run_start)


def _list(offsets: np.ndarray, values: pa.Array) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)


def _offsets(counts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


class PreparedBatch:
    """The epoch-independent part of one batch: flattened tokens, lexicon units, row keys."""

    def __init__(self, batch: pa.RecordBatch, lexicon: Lexicon, config: SwitchOptions):
        tokens, upos = batch.column("tokens"), batch.column("upos")
        ids = batch.column("id").to_pylist()
        if tokens.null_count:
            tokens = pa.array([t or [] for t in tokens.to_pylist()], tokens.type)
        lengths = pc.fill_null(pc.list_value_length(tokens), 0).to_numpy()
        ulen = pc.fill_null(pc.list_value_length(upos), -1).to_numpy()
        if (ulen != lengths).any():
            bad = int(np.flatnonzero(ulen != lengths)[0])
            raise InputError(
                f"row {ids[bad]!r} has {lengths[bad]} tokens but {max(ulen[bad], 0)} UPOS tags",
                "re-tag the input with cstool tag",
            )
        self.n_rows, self.ids = batch.num_rows, ids
        self.forms = tokens.flatten()
        upos_flat = upos.flatten()
        n = len(self.forms)
        self.n = n
        self.row_offsets = _offsets(lengths)
        self.row = np.repeat(np.arange(self.n_rows), lengths)
        self.pos_in_row = np.arange(n) - self.row_offsets[:-1][self.row]
        # Forms, lower-cased forms and lemmas as dictionary arrays: each distinct word is hashed once.
        forms = pc.dictionary_encode(self.forms)
        lower = pa.DictionaryArray.from_arrays(forms.indices, pc.utf8_lower(forms.dictionary))
        lemmas = None
        if "lemmas" in batch.schema.names and batch.column("lemmas").null_count < self.n_rows:
            lem = batch.column("lemmas")
            lem_len = pc.fill_null(pc.list_value_length(lem), -1).to_numpy()
            valid = lem_len == lengths
            lem_off = _offsets(np.where(valid, lem_len, 0))
            index = np.where(valid[self.row], lem_off[:-1][self.row] + self.pos_in_row, -1)
            lem_index, lem_dict = encoded(lem.flatten())
            index = np.where(index >= 0, lem_index[np.maximum(index, 0)] if len(lem_index) else -1, -1)
            lemmas = pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int32), mask=index < 0), lem_dict)
        self.bucket = upos_index(upos_flat)
        group = lexicon.lookup(forms, lower, upos_flat, lemmas, strict_pos=config.strict_pos, bucket=self.bucket)
        unit_len = (group >= 0).astype(np.int64)
        ps, pk, pg = lexicon.match_phrases(lower, self.row, upos_flat, strict_pos=config.strict_pos)
        if len(ps):
            inner = _expand(ps, pk)
            unit_len[inner], group[inner] = 0, -1
            unit_len[ps], group[ps] = pk, pg
        self.starts = np.flatnonzero(unit_len > 0)
        self.ulen = unit_len[self.starts]
        self.ugroup = group[self.starts]
        self.urow = self.row[self.starts]
        self.ubucket = self.bucket[self.starts + self.ulen - 1]
        self.members = _expand(self.starts, self.ulen)  # token positions inside units, in order
        self.member_unit = np.repeat(np.arange(len(self.starts)), self.ulen)
        self.covered = np.zeros(n, bool)
        self.covered[self.members] = True
        self.neutral = np.isin(self.bucket, [UPOS_TAGS.index(t) for t in NEUTRAL_UPOS])


def decide(b: PreparedBatch, lexicon: Lexicon, config: SwitchOptions, weights: np.ndarray, ratio: float, epoch: int):
    """Which units switch and to which candidate: (switched mask, eligible mask, candidate per unit)."""
    keys = row_keys(b.ids, config.seed, epoch)
    gate = uniform(keys, np.full(b.n_rows, 3)) < config.sentence_rate
    ukey = keys[b.urow]
    counter = b.pos_in_row[b.starts] * 4
    u_switch, u_sense = uniform(ukey, counter), uniform(ukey, counter + 1)
    chosen = np.isin(np.arange(len(BUCKETS)), [UPOS_TAGS.index(t) for t in config.pos])[b.ubucket]
    p_pos = np.minimum(1.0, ratio * weights[b.ubucket]) * chosen
    if config.strategy == "pos":
        p, eligible = p_pos, chosen
    elif config.strategy == "random":
        expected = np.bincount(b.urow, weights=b.ulen * p_pos, minlength=b.n_rows)
        lexical = np.bincount(b.urow, weights=b.ulen, minlength=b.n_rows)
        q = np.divide(expected, lexical, out=np.zeros(b.n_rows), where=lexical > 0)
        p, eligible = q[b.urow], np.ones(len(b.starts), bool)
    else:
        p, eligible = np.zeros(len(b.starts)), np.zeros(len(b.starts), bool)
    switched = (u_switch < p) & gate[b.urow]
    count = lexicon.group_count[b.ugroup]
    cand = lexicon.group_start[b.ugroup] + np.minimum((u_sense * count).astype(np.int64), count - 1)
    return switched, eligible, cand


def variant(
    b: PreparedBatch,
    batch: pa.RecordBatch,
    lexicon: Lexicon,
    config: SwitchOptions,
    schema: pa.Schema,
    weights: np.ndarray,
    ratio: float,
    epoch: int,
    stats: EpochStats,
) -> pa.RecordBatch:
    """One switched batch: ``batch`` (prepared as ``b``) switched at ``ratio`` for ``epoch``; ``stats``
    collects the statistics and the output has the columns of ``schema``."""
    sw_unit, el_unit, cand = decide(b, lexicon, config, weights, ratio, epoch)
    sw_tok = np.zeros(b.n, bool)
    sw_tok[b.members] = sw_unit[b.member_unit]
    el_tok = np.zeros(b.n, bool)
    el_tok[b.members] = el_unit[b.member_unit]
    s_starts, s_len, s_cand, s_row = b.starts[sw_unit], b.ulen[sw_unit], cand[sw_unit], b.urow[sw_unit]
    # Each input token becomes c output tokens: 1 (kept), 0 (inside a replaced phrase) or the target's words.
    c = np.where(sw_tok, 0, 1)
    c[s_starts] = lexicon.word_count[s_cand]
    src = np.arange(b.n)
    src[s_starts] = b.n + lexicon.word_start[s_cand]
    out_idx = _expand(src, c)
    tokens_cs = _list(
        _offsets(c)[b.row_offsets], pa.concat_arrays([b.forms, lexicon.target_words]).take(pa.array(out_idx))
    )
    s_members = _expand(s_starts, s_len)
    src_text = pc.binary_join(_list(_offsets(s_len), b.forms.take(pa.array(s_members))), " ")
    per_row = _offsets(np.bincount(s_row, minlength=b.n_rows))
    lang = np.where(sw_tok, 1, np.where(b.neutral, -1, 0))
    cmi, points = cmi_and_switch_points(lang, c, b.row, b.n_rows)
    stats.add(b.bucket, b.covered, el_tok, sw_tok, cmi, points)
    s_targets = lexicon.targets.take(pa.array(s_cand))
    # The sentence the tokens came from: `text` (tagged text) or `question` (VQA artifacts).
    source = next((c for c in ("text", "question") if c in batch.schema.names), None)
    texts = batch.column(source) if source else None
    text_cs, _ = text_cs_column(texts, b.forms, b.row_offsets, s_row, s_starts, s_len, s_targets, tokens_cs)
    added = {
        "tokens_cs": tokens_cs,
        "text_cs": text_cs,
        "switched": _list(b.row_offsets, pa.array(sw_tok, pa.bool_())),
        "switch_src": _list(per_row, src_text),
        "switch_tgt": _list(per_row, s_targets),
        "n_switched": pa.array(np.bincount(b.row, weights=sw_tok, minlength=b.n_rows).astype(np.int32)),
        "n_eligible": pa.array(np.bincount(b.row, weights=el_tok, minlength=b.n_rows).astype(np.int32)),
        "cmi": pa.array(cmi, pa.float64()),
        "switch_points": pa.array(points, pa.int32()),
        "cs_ratio": pa.array(np.full(b.n_rows, ratio), pa.float64()),
        "cs_epoch": pa.array(np.full(b.n_rows, epoch, np.int32)),
        "strategy": pa.repeat(pa.scalar(config.strategy), b.n_rows),
    }
    names = batch.schema.names
    columns = [
        added[f.name] if f.name in added else batch.column(f.name) if f.name in names else pa.nulls(b.n_rows, f.type)
        for f in schema
    ]
    return pa.record_batch(columns, schema=schema)


def switch_batch(
    batch: pa.RecordBatch,
    lexicon: Lexicon,
    config: SwitchOptions,
    schema: pa.Schema,
    weights: np.ndarray,
    epochs: Sequence[EpochStats],
) -> list[pa.RecordBatch]:
    """The switched batches of one input batch: a variant per epoch (each ``EpochStats`` gives its ratio and
    collects its statistics), each input row's variants consecutive."""
    prepared = PreparedBatch(batch, lexicon, config)
    variants = [variant(prepared, batch, lexicon, config, schema, weights, st.ratio, st.epoch, st) for st in epochs]
    if len(variants) == 1:
        return variants
    n, e = batch.num_rows, len(variants)
    order = (np.arange(e)[None, :] * n + np.arange(n)[:, None]).ravel()
    return pa.Table.from_batches(variants).take(pa.array(order)).combine_chunks().to_batches()
