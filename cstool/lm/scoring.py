"""Language-model scoring: mean token NLL, perplexity and bits per byte (docs/method.md, section eval).

Each text is tokenised without special tokens and conditioned on BOS (the tokenizer's BOS, else its EOS,
as GPT-2 does), so every token of the text is predicted, none of BOS's. For a set:

* ``nll``  = Σ token NLL (nats) / Σ predicted tokens        (mean token NLL)
* ``ppl``  = exp(nll)
* ``bpb``  = Σ token NLL / ln 2 / Σ UTF-8 bytes of the texts   (bits per byte: compares across tokenizers)

These are lm-evaluation-harness's ``loglikelihood_rolling`` and ``bits_per_byte`` (BOS prefixed once,
``add_bos_token=False``): a text that tokenises to nothing (whitespace only) counts its bytes with zero
log-likelihood, and a text longer than the model's context L is scored in the harness's rolling windows
(:func:`rolling_windows`): the first predicts tokens 1..L given BOS, each next one the following L − K + 1
tokens given the tokens before them (K = ``min_context``, 1 by default as in the harness), and the last one is
rolled back to a full context. Every token is predicted exactly once.

Texts are sorted by length and cut into batches of at most ``batch_size`` rows and ``max_tokens`` padded
tokens, so padding is a few tokens per batch; the next texts are tokenised in a background thread while the
model runs (:func:`lm_batches`).

``score_lm`` is the one entry point (``cstool eval`` and replay-train's after-task evaluation use it);
the pieces it is made of (planning, padding, the batch NLL) are public so benchmarks can reuse them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cstool.base.errors import ConfigError, InputError, ModelNotFoundError


@dataclass(frozen=True)
class LMScore:
    """Per-text sums; the set-level metrics are ratios of their totals."""

    nll: list[float]  # summed token NLL in nats, per text (0 for a text without tokens)
    tokens: list[int]  # predicted tokens per text
    bytes: list[int]  # UTF-8 bytes per text (whitespace-only texts included)
    padding: float = 0.0  # fraction of padded positions in the forward passes

    @property
    def mean_nll(self) -> float:
        return sum(self.nll) / sum(self.tokens)

    @property
    def ppl(self) -> float:
        return math.exp(self.mean_nll)

    @property
    def bpb(self) -> float:
        return sum(self.nll) / math.log(2) / sum(self.bytes)

    def metrics(self) -> dict[str, float]:
        return {
            "nll": self.mean_nll,
            "ppl": self.ppl,
            "bpb": self.bpb,
            "tokens": float(sum(self.tokens)),
            "bytes": float(sum(self.bytes)),
            "examples": float(len(self.nll)),
        }


def bos_id(tokenizer) -> int:
    """The token every text is conditioned on: BOS, else EOS (GPT-2 style)."""
    for tid in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if tid is not None:
            return int(tid)
    raise ModelNotFoundError(
        "the tokenizer has neither a BOS nor an EOS token to condition the first token on",
        "give a tokenizer with a bos_token (set it in tokenizer_config.json)",
    )


def check_model_tokenizer(model, tokenizer) -> None:
    """Refuse a tokenizer whose ids do not fit the model's embedding table (they were not made together)."""
    rows = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > rows:
        raise ModelNotFoundError(
            f"the tokenizer has {len(tokenizer)} tokens but the model's embedding table has {rows} rows: "
            "they do not belong together",
            "use the tokenizer saved with the model (the model folder, or --tokenizer DIR)",
        )


def context_length(model) -> int | None:
    cfg = getattr(model, "config", None)
    cfg = getattr(cfg, "text_config", None) or cfg
    n = getattr(cfg, "max_position_embeddings", None)
    return int(n) if n else None


@dataclass(frozen=True)
class Window:
    """One forward pass: the model reads ``ids[:-1]`` and the last ``predict`` tokens of ``ids`` are scored;
    ``share``: the part of its text it scores (1 / the text's windows), for progress counted in texts."""

    ids: list[int]
    predict: int
    share: float = field(default=1.0, compare=False)


def rolling_windows(tokens: Sequence[int], prefix: int, max_len: int | None, min_context: int = 1) -> list[Window]:
    """lm-evaluation-harness's rolling windows over a text's ``tokens`` (``get_rolling_token_windows`` then
    ``make_disjoint_window``), for a model that reads at most ``max_len`` tokens.

    With n = len(tokens), L = max_len and K = min_context (1 ≤ K ≤ L):

    * n ≤ L (or no limit): one window, [prefix, t₁ … t_n], predicting all n tokens;
    * otherwise the first window [prefix, t₁ … t_L] predicts t₁ … t_L; each next one predicts the next
      s = L − K + 1 tokens (the stride; fewer in the last window) from the L tokens right before its last one,
      so the first token it predicts sees K tokens of context and the last window is rolled back to a full
      context. K = 1 is the harness's ``loglikelihood_rolling``; a larger K spends more forward passes for
      more context.

    Each token is predicted exactly once; an empty text gives no window.
    """
    if min_context < 1 or (max_len is not None and min_context > max_len):
        raise ConfigError(
            f"--min-context {min_context} must lie between 1 and the model's context of {max_len} tokens",
            "use a smaller --min-context (1 = lm-evaluation-harness's rolling windows)",
        )
    n = len(tokens)
    if n == 0:
        return []
    if max_len is None or n <= max_len:
        return [Window([prefix, *tokens], n)]
    stride = max_len - min_context + 1
    out = [Window([prefix, *tokens[:max_len]], max_len)]
    done = max_len
    while done < n:
        k = min(n - done, stride)
        end = done + k
        out.append(Window(list(tokens[end - max_len - 1 : end]), k))
        done = end
    return [replace(w, share=1 / len(out)) for w in out]


def plan_batches(lengths: Sequence[int], *, batch_size: int, max_tokens: int) -> list[list[int]]:
    """Indices grouped longest first into batches of ≤ batch_size rows and ≤ max_tokens padded tokens
    (a single sequence longer than max_tokens gets a batch of its own)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = lengths[current[0]] if current else lengths[i]
        if current and (len(current) >= batch_size or (len(current) + 1) * width > max_tokens):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def to_device(values, device: Any):
    """A long tensor of ``values`` on ``device``; on a GPU through pinned memory with a non-blocking copy, so
    the host never waits for the GPU to finish earlier batches (a blocking copy would serialise the two)."""
    import torch

    t = torch.from_numpy(values) if hasattr(values, "dtype") else torch.tensor(values, dtype=torch.long)
    return t.pin_memory().to(device, non_blocking=True) if torch.device(device).type == "cuda" else t


def pad_batch(seqs: Sequence[Sequence[int]], device: Any = "cpu", pad_id: int = 0):
    """Right-padded ``input_ids`` and ``attention_mask`` for ``seqs`` on ``device``."""
    import numpy as np
    import torch

    width = max(len(s) for s in seqs)
    rows = np.full((len(seqs), width), pad_id, dtype=np.int64)
    for r, s in enumerate(seqs):
        rows[r, : len(s)] = s
    ids = to_device(rows, device)
    lengths = to_device([len(s) for s in seqs], device)
    mask = (torch.arange(width, device=ids.device)[None, :] < lengths[:, None]).long()
    return ids, mask


def lm_batches(
    tokenizer,
    texts: Sequence[str],
    *,
    batch_size: int,
    max_tokens: int,
    max_len: int | None,
    min_context: int = 1,
) -> Iterator[tuple[list[Window], list[int]]]:
    """Batches of (windows, index of the text each window belongs to), ready to pad and score.

    Texts are taken longest first (by characters) in chunks that grow from a few batches to 4096 texts;
    the next chunk is tokenised in a background thread while the current one is scored (fast tokenizers
    release the GIL), and each chunk's windows (:func:`rolling_windows`) are planned by exact token length
    (:func:`plan_batches`). A text without tokens gives no windows.
    """
    from concurrent.futures import ThreadPoolExecutor

    bos = bos_id(tokenizer)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    chunks, start, size = [], 0, max(64, 2 * batch_size)
    while start < len(order):
        chunks.append(order[start : start + size])
        start, size = start + size, min(4096, 2 * size)

    def encode(idx: list[int]) -> list[list[int]]:
        return encode_ids(tokenizer, [texts[i] for i in idx])

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(encode, chunks[0]) if chunks else None
        for k, idx in enumerate(chunks):
            encoded = pending.result()
            if k + 1 < len(chunks):
                pending = pool.submit(encode, chunks[k + 1])
            wins: list[Window] = []
            owner: list[int] = []
            for i, ids in zip(idx, encoded, strict=True):
                for w in rolling_windows(ids, bos, max_len, min_context):
                    wins.append(w)
                    owner.append(i)
            for b in plan_batches([len(w.ids) for w in wins], batch_size=batch_size, max_tokens=max_tokens):
                yield [wins[j] for j in b], [owner[j] for j in b]


def encode_ids(tokenizer, texts: list[str], *, add_special_tokens: bool = False) -> list[list[int]]:
    """Token ids of each text: one batched call of a fast tokenizer's Rust backend for ids only (no attention
    masks or offsets built for Python, which is most of a tokenizer call's cost on short texts); other
    tokenizers through their usual call. The ids are the same either way: whole texts, never truncated.

    A call such as ``tokenizer(texts, truncation=True, max_length=96)`` (how training examples are made) leaves
    truncation set on the Rust backend, which transformers resets only at its next call of that kind; it is
    turned off here first, as a call without truncation or padding would, so that scoring after training reads
    every token."""
    backend = getattr(tokenizer, "backend_tokenizer", None) if getattr(tokenizer, "is_fast", False) else None
    fast = getattr(backend, "encode_batch_fast", None)
    if fast is None:
        return tokenizer(texts, add_special_tokens=add_special_tokens)["input_ids"]
    if backend.truncation is not None:
        backend.no_truncation()
    if backend.padding is not None:
        backend.no_padding()
    return [e.ids for e in fast(texts, add_special_tokens=add_special_tokens)]


def batch_nll(model, ids, mask, predict=None):
    """Summed NLL (nats, float32) of each row of a right-padded batch: token t given tokens 0 … t − 1.

    ids, mask: (B, W) long tensors on the model's device; the model reads ``ids[:, :-1]`` (so a window of
    W = L + 1 tokens fits a context of L). ``predict`` ((B,) long tensor, optional): score only each row's
    last ``predict`` tokens (a rolled-back window); by default every token after the first. → (B,) tensor,
    left on the device.
    """
    import torch

    logits = model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], use_cache=False).logits
    # One fused pass in float32 whatever the model's dtype (bf16 NLLs would lose digits).
    logp = torch.log_softmax(logits, dim=-1, dtype=torch.float32)
    token_nll = -logp.gather(-1, ids[:, 1:, None]).squeeze(-1)
    keep = mask[:, 1:]
    if predict is not None:  # target position j (token j + 1) counts when j + 1 ≥ length − predict
        first = mask.sum(dim=1) - predict - 1
        keep = keep * (torch.arange(keep.shape[1], device=keep.device)[None, :] >= first[:, None])
    return (token_nll * keep).sum(dim=1)


def score_lm(
    model,
    tokenizer,
    texts: Sequence[str | None],
    *,
    batch_size: int = 16,
    max_tokens: int = 16384,
    min_context: int = 1,
    on_batch: Callable[[int], None] | None = None,
) -> LMScore:
    """Summed NLL, predicted tokens and UTF-8 bytes of each text under ``model`` (see the module docstring),
    one entry per text in the order given (``None`` reads as ""; a text without tokens has NLL 0 and 0 tokens).

    ``model`` is any causal LM (or peft model) returning ``.logits``; it is put in eval mode and run
    without gradients. ``min_context`` is K of :func:`rolling_windows`. ``on_batch(n)`` is called with the
    number of texts done after each batch (a text of several windows counts a share per window). Per-window
    sums stay on the device until the end, so the host never waits for the GPU mid-run.
    """
    import torch

    check_model_tokenizer(model, tokenizer)
    texts = ["" if t is None else str(t) for t in texts]
    device = next(model.parameters()).device
    max_len = context_length(model)
    was_training = model.training
    model.eval()
    row_sums = []
    owners: list[int] = []
    counts: list[int] = []
    read = padded = 0
    try:
        with torch.inference_mode():
            for wins, owner in lm_batches(
                tokenizer,
                texts,
                batch_size=batch_size,
                max_tokens=max_tokens,
                max_len=max_len,
                min_context=min_context,
            ):
                ids, mask = pad_batch([w.ids for w in wins], device)
                predict = [w.predict for w in wins]
                rolled = any(w.predict < len(w.ids) - 1 for w in wins)
                row_sums.append(batch_nll(model, ids, mask, to_device(predict, device) if rolled else None))
                owners += owner
                counts += predict
                read += sum(len(w.ids) - 1 for w in wins)
                padded += ids.shape[0] * (ids.shape[1] - 1)
                if on_batch:
                    on_batch(sum(w.share for w in wins))
            if on_batch and len(set(owners)) < len(texts):  # texts without a token are done too
                on_batch(len(texts) - len(set(owners)))
            if not row_sums:
                raise InputError(
                    "nothing to score: no text has a token (all empty or whitespace)", "give at least one text"
                )
            sums = torch.cat(row_sums).double().tolist()
    finally:
        model.train(was_training)
    nll = [0.0] * len(texts)
    tokens = [0] * len(texts)
    for value, count, i in zip(sums, counts, owners, strict=True):
        nll[i] += value
        tokens[i] += count
    return LMScore(
        nll=nll,
        tokens=tokens,
        bytes=[len(t.encode("utf-8")) for t in texts],
        padding=1.0 - read / padded,
    )
