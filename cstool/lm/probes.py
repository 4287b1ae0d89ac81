"""Probes: log-likelihood ranking tasks scored on a causal LM, each a number where higher is better.

* ``choice``: multiple-choice items (``context``, ``choices``, ``label``), scored as lm-evaluation-harness
  scores ``output_type: multiple_choice``: the continuation of choice i is ``" " + choices[i]`` after the
  context (the harness's default ``target_delimiter``), ll_i = Σ log P(continuation tokens | context), and

  * ``acc``      = mean of [argmax_i ll_i == label]
  * ``acc_norm`` = mean of [argmax_i ll_i / len(choices[i]) == label]   (length in characters, as the harness)

* ``translation``: parallel rows (``source``, ``target``). Each row becomes a choice item whose context is
  the source in a prompt and whose choices are its own target and K distractor targets drawn from the
  other rows (a generator keyed by (seed, "probe-translation", row id), so the draw depends on neither
  order nor batching); ``acc`` = mean of [the true target ranks first], ``mrr`` = mean of 1 / rank of
  the true target (ties counted against it).

Context and continuation are tokenised as the harness does (``_encode_pair``): trailing spaces of the
context move to the continuation, the pair is tokenised whole and the continuation is what follows the
context's tokens. Every sequence is conditioned on BOS as in :mod:`cstool.lm.scoring` (the harness with
``add_bos_token=True``); a sequence longer than the model's context keeps its last tokens. The forward
passes are :func:`cstool.lm.scoring.batch_nll` over :func:`~cstool.lm.scoring.plan_batches` batches.

:func:`score_probe` is the entry point (``cstool eval --probe`` uses it, and a training loop can call it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from cstool.base import specs
from cstool.base.errors import ConfigError, InputError

KINDS = ("choice", "translation")
COLUMNS = {"choice": ("context", "choices", "label"), "translation": ("source", "target")}
METRICS = {"choice": ("acc", "acc_norm"), "translation": ("acc", "mrr")}
TRANSLATION_PROMPT = "{source}\n"


@dataclass(frozen=True)
class ChoiceItem:
    context: str
    choices: tuple[str, ...]  # the continuations' text without the delimiter
    label: int


@dataclass(frozen=True)
class Probe:
    """A named probe: its kind and its items (translation rows already expanded into choice items)."""

    name: str
    kind: str
    items: tuple[ChoiceItem, ...]
    delimiter: str = " "  # put between context and choice (the harness's target_delimiter)


def parse_probe_spec(spec: str) -> tuple[str, str, str]:
    """``"hi=choice:items.jsonl"`` → ("hi", "choice", "items.jsonl"); the path may hold ':' (``hf:...``)."""
    name, eq, rest = spec.partition("=")
    kind, colon, path = rest.partition(":")
    if not (eq and name and colon and path):
        raise ConfigError(f"--probe {spec!r} is not NAME=KIND:PATH", "e.g. --probe hi=choice:items.jsonl")
    if kind not in KINDS:
        raise ConfigError(f"--probe {spec!r}: unknown kind {kind!r}", f"use one of {', '.join(KINDS)}")
    return name, kind, path


def parse_probe_specs(values: Sequence[str]) -> dict[str, tuple[str, str]]:
    """eval's ``--probe``: ``["hi=choice:items.jsonl"]`` → ``{"hi": ("choice", "items.jsonl")}``; names unique."""
    parsed = [parse_probe_spec(v) for v in values]
    named = specs.parse_named([f"{name}={path}" for name, _k, path in parsed], "--probe")  # checks the names
    return {name: (kind, path) for (name, path), (_n, kind, _p) in zip(named, parsed, strict=True)}


def read_probe_table(path: str) -> pa.Table:
    """A JSON Lines file (``.jsonl``/``.json``) or anything :func:`cstool.io.artifacts.open_source` opens."""
    if path.endswith((".jsonl", ".json")):
        import pyarrow.json as pj

        try:
            return pj.read_json(path)
        except (OSError, pa.ArrowInvalid) as e:
            raise InputError(
                f"probe file {path} cannot be read as JSON Lines ({e})", "one JSON object a line"
            ) from None
    from cstool.io import artifacts

    return artifacts.open_source(path).read_all()


def probe_from_table(name: str, kind: str, table: pa.Table, *, distractors: int = 4, seed: int = 0) -> Probe:
    """Check ``table``'s columns and values and build the probe (see the module docstring)."""
    where = f"probe {name} ({kind})"
    missing = [c for c in COLUMNS[kind] if c not in table.schema.names]
    if missing:
        raise InputError(
            f"{where} has no column {', '.join(map(repr, missing))}; columns there: [{', '.join(table.schema.names)}]",
            f"a {kind} probe needs columns {', '.join(COLUMNS[kind])}",
        )
    if table.num_rows == 0:
        raise InputError(f"{where} is empty", "give at least one row")
    ids = [str(v) for v in table.column("id").to_pylist()] if "id" in table.schema.names else None
    ids = ids or [str(i) for i in range(table.num_rows)]
    if kind == "choice":
        items = []
        for i, (ctx, choices, label) in enumerate(
            zip(*(table.column(c).to_pylist() for c in COLUMNS["choice"]), strict=True)
        ):
            if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) and c for c in choices):
                raise InputError(f"{where} row {ids[i]}: choices must be ≥ 2 non-empty strings", "fix that row")
            if not isinstance(label, int) or not 0 <= label < len(choices):
                raise InputError(f"{where} row {ids[i]}: label {label!r} is not an index of choices", "fix that row")
            items.append(ChoiceItem(ctx or "", tuple(choices), label))
        return Probe(name, kind, tuple(items))
    sources, targets = (table.column(c).to_pylist() for c in COLUMNS["translation"])
    if any(not s or not t for s, t in zip(sources, targets, strict=True)):
        raise InputError(f"{where} has empty sources or targets", "drop rows without both sides")
    if distractors < 1 or distractors >= table.num_rows:
        raise ConfigError(
            f"{where}: --probe-distractors {distractors} needs between 1 and {table.num_rows - 1} (rows − 1)",
            "give fewer distractors or more rows",
        )
    return Probe(name, kind, tuple(translation_items(sources, targets, ids, distractors=distractors, seed=seed)), "")


def translation_items(
    sources: Sequence[str], targets: Sequence[str], ids: Sequence[str], *, distractors: int, seed: int
) -> list[ChoiceItem]:
    """One choice item per row: the prompted source; its target first (label 0), then the targets of
    ``distractors`` other rows drawn without replacement by a generator keyed by the row's id."""
    from cstool.text.keyed_random import keyed_rng

    if len(set(ids)) != len(ids):
        raise InputError("a translation probe's ids repeat", "give each row its own id (or no id column)")
    by_id = sorted(range(len(ids)), key=lambda j: ids[j])  # the draw sees rows in id order, not file order
    out = []
    for i, rid in enumerate(ids):
        others = [j for j in by_id if j != i]
        pick = keyed_rng(seed, "probe-translation", rid).choice(len(others), size=distractors, replace=False)
        choices = (targets[i], *(targets[others[k]] for k in sorted(pick)))
        out.append(ChoiceItem(TRANSLATION_PROMPT.format(source=sources[i]), choices, 0))
    return out


def encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-evaluation-harness's ``_encode_pair``: (context ids, continuation ids), both without BOS."""
    from cstool.lm.scoring import encode_ids

    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole, ctx = encode_ids(tokenizer, [context + continuation, context])
    return ctx, whole[len(ctx) :]


def loglikelihoods(
    model,
    tokenizer,
    pairs: Sequence[tuple[str, str]],
    *,
    batch_size: int = 16,
    max_tokens: int = 16384,
    bos: bool = True,
) -> list[float]:
    """log P(continuation | BOS + context) of each (context, continuation) pair (nats, float).

    ``bos=False`` conditions on the context alone, BOS only before an empty context: the harness's HFLM with a
    tokenizer that adds no BOS itself (``add_bos_token`` False, or a tokenizer without a BOS template)."""
    import torch

    from cstool.lm.scoring import (
        batch_nll,
        bos_id,
        check_model_tokenizer,
        context_length,
        pad_batch,
        plan_batches,
        to_device,
    )

    check_model_tokenizer(model, tokenizer)
    start, max_len = bos_id(tokenizer), context_length(model)
    seqs, predict = [], []
    for ctx, cont in pairs:
        c, k = encode_pair(tokenizer, ctx, cont)
        if not k:
            raise InputError(f"continuation {cont!r} has no tokens", "give non-empty choices")
        ids = [start, *c, *k] if bos or not c else [*c, *k]
        if max_len is not None and len(ids) > max_len + 1:
            ids = ids[-(max_len + 1) :]
        seqs.append(ids)
        predict.append(min(len(k), len(ids) - 1))
    device = next(model.parameters()).device
    out = [0.0] * len(seqs)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for b in plan_batches([len(s) for s in seqs], batch_size=batch_size, max_tokens=max_tokens):
                ids, mask = pad_batch([seqs[i] for i in b], device)
                nll = batch_nll(model, ids, mask, to_device([predict[i] for i in b], device))
                for i, v in zip(b, nll.double().tolist(), strict=True):
                    out[i] = -v
    finally:
        model.train(was_training)
    return out


def item_scores(probe: Probe, lls: Sequence[float]) -> dict[str, float]:
    """The probe's metrics from the log-likelihood of every choice of every item, in order."""
    correct = norm = recip = 0.0
    pos = 0
    for item in probe.items:
        ll = lls[pos : pos + len(item.choices)]
        pos += len(item.choices)
        best = max(range(len(ll)), key=lambda i: ll[i])  # first maximum, as numpy.argmax
        correct += best == item.label
        normed = [v / len(c) for v, c in zip(ll, item.choices, strict=True)]
        norm += max(range(len(ll)), key=lambda i: normed[i]) == item.label
        recip += 1.0 / (1 + sum(v >= ll[item.label] for i, v in enumerate(ll) if i != item.label))
    n = len(probe.items)
    if probe.kind == "choice":
        return {"acc": correct / n, "acc_norm": norm / n, "examples": float(n)}
    return {"acc": correct / n, "mrr": recip / n, "examples": float(n)}


def score_probe(
    model, tokenizer, probe: Probe, *, batch_size: int = 16, max_tokens: int = 16384, bos: bool = True
) -> dict[str, float]:
    """The probe's metrics under ``model`` (all higher is better; ``examples`` counts the items); ``bos`` as in
    :func:`loglikelihoods`."""
    pairs = [(item.context, probe.delimiter + c) for item in probe.items for c in item.choices]
    lls = loglikelihoods(model, tokenizer, pairs, batch_size=batch_size, max_tokens=max_tokens, bos=bos)
    return item_scores(probe, lls)
