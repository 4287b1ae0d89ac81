"""Language-model scoring: mean token NLL, perplexity and bits per byte (docs/method.md, section eval).

Each text is tokenised without special tokens and conditioned on BOS (the tokenizer's BOS, else its EOS,
as GPT-2 does), so every token of the text is predicted, none of BOS's. For a set:

* ``nll``  = Σ token NLL (nats) / Σ predicted tokens        (mean token NLL)
* ``ppl``  = exp(nll)
* ``bpb``  = Σ token NLL / ln 2 / Σ UTF-8 bytes of the texts   (bits per byte: compares across tokenizers)

Texts are sorted by length and cut into batches of at most ``batch_size`` rows and ``max_tokens`` padded
tokens, so padding is a few tokens per batch; the next texts are tokenised in a background thread while the
model runs (:func:`lm_batches`). A text longer than the model's context is scored in consecutive windows,
each starting with the previous window's last token (every token predicted once).

``score_lm`` is the one entry point (``cstool eval`` and replay-train's after-task evaluation use it);
the pieces it is made of (planning, padding, the batch NLL) are public so benchmarks can reuse them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cstool.errors import InputError, ModelNotFoundError


@dataclass(frozen=True)
class LMScore:
    """Per-text sums; the set-level metrics are ratios of their totals."""

    nll: list[float]  # summed token NLL in nats, per text
    tokens: list[int]  # predicted tokens per text
    bytes: list[int]  # UTF-8 bytes per text
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


def windows(seq: list[int], max_len: int | None) -> list[list[int]]:
    """Cut ``seq`` (BOS + text tokens) into windows of at most ``max_len``; consecutive windows share one
    token, so each text token is predicted exactly once."""
    if max_len is None or len(seq) <= max_len:
        return [seq]
    out, start = [], 0
    while start < len(seq) - 1:
        out.append(seq[start : start + max_len])
        start += max_len - 1
    return out


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


def pad_batch(seqs: Sequence[Sequence[int]], device: Any = "cpu", pad_id: int = 0):
    """Right-padded ``input_ids`` and ``attention_mask`` for ``seqs`` on ``device``.

    On a GPU the ids go through pinned memory with a non-blocking copy, so the host never waits for the
    GPU to finish earlier batches (a blocking copy would serialise host work and GPU work).
    """
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.tensor([[*s, *([pad_id] * (width - len(s)))] for s in seqs], dtype=torch.long)
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    if torch.device(device).type == "cuda":
        ids = ids.pin_memory().to(device, non_blocking=True)
        lengths = lengths.pin_memory().to(device, non_blocking=True)
    mask = (torch.arange(width, device=ids.device)[None, :] < lengths[:, None]).long()
    return ids, mask


def lm_batches(
    tokenizer, texts: Sequence[str], *, batch_size: int, max_tokens: int, max_len: int | None
) -> Iterator[tuple[list[list[int]], list[int]]]:
    """Batches of (windows, index of the text each window belongs to), ready to pad and score.

    Texts are taken longest first (by characters) in chunks that grow from a few batches to 4096 texts;
    the next chunk is tokenised in a background thread while the current one is scored (fast tokenizers
    release the GIL), and each chunk's windows are planned by exact token length (:func:`plan_batches`).
    Empty texts give no windows.
    """
    from concurrent.futures import ThreadPoolExecutor

    bos = bos_id(tokenizer)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    chunks, start, size = [], 0, max(64, 2 * batch_size)
    while start < len(order):
        chunks.append(order[start : start + size])
        start, size = start + size, min(4096, 2 * size)

    def encode(idx: list[int]) -> list[list[int]]:
        return tokenizer([texts[i] for i in idx], add_special_tokens=False)["input_ids"]

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(encode, chunks[0]) if chunks else None
        for k, idx in enumerate(chunks):
            encoded = pending.result()
            if k + 1 < len(chunks):
                pending = pool.submit(encode, chunks[k + 1])
            seqs: list[list[int]] = []
            owner: list[int] = []
            for i, ids in zip(idx, encoded, strict=True):
                if ids:
                    for w in windows([bos, *ids], max_len):
                        seqs.append(w)
                        owner.append(i)
            for b in plan_batches([len(s) for s in seqs], batch_size=batch_size, max_tokens=max_tokens):
                yield [seqs[j] for j in b], [owner[j] for j in b]


def batch_nll(model, ids, mask):
    """Summed NLL (nats, float32) of each row of a right-padded batch: tokens 1.. given the ones before.

    ids, mask: (B, L) long tensors on the model's device → (B,) tensor, left on the device.
    """
    import torch

    logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, :-1]
    # One fused pass in float32 whatever the model's dtype (bf16 NLLs would lose digits).
    logp = torch.log_softmax(logits, dim=-1, dtype=torch.float32)
    token_nll = -logp.gather(-1, ids[:, 1:, None]).squeeze(-1)
    return (token_nll * mask[:, 1:]).sum(dim=1)


def score_lm(
    model,
    tokenizer,
    texts: Sequence[str],
    *,
    batch_size: int = 16,
    max_tokens: int = 16384,
    on_batch: Callable[[int], None] | None = None,
) -> LMScore:
    """Summed NLL, predicted tokens and UTF-8 bytes of each text under ``model`` (see the module docstring).

    ``model`` is any causal LM (or peft model) returning ``.logits``; it is put in eval mode and run
    without gradients. ``on_batch(n)`` is called with the number of windows done after each batch.
    Per-window sums stay on the device until the end, so the host never waits for the GPU mid-run.
    """
    import torch

    check_model_tokenizer(model, tokenizer)
    texts = ["" if t is None else str(t) for t in texts]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    row_sums = []
    owners: list[int] = []
    counts: list[int] = []
    padded = 0
    try:
        with torch.inference_mode():
            for seqs, owner in lm_batches(
                tokenizer, texts, batch_size=batch_size, max_tokens=max_tokens, max_len=context_length(model)
            ):
                ids, mask = pad_batch(seqs, device)
                row_sums.append(batch_nll(model, ids, mask))
                owners += owner
                counts += [len(s) - 1 for s in seqs]
                padded += ids.numel()
                if on_batch:
                    on_batch(len(seqs))
            if not row_sums:
                raise InputError("nothing to score: every text is empty", "give at least one non-empty text")
            sums = torch.cat(row_sums).double().tolist()
    finally:
        model.train(was_training)
    nll = [0.0] * len(texts)
    tokens = [0] * len(texts)
    for value, count, i in zip(sums, counts, owners, strict=True):
        nll[i] += value
        tokens[i] += count
    keep = [i for i, t in enumerate(tokens) if t > 0]
    return LMScore(
        nll=[nll[i] for i in keep],
        tokens=[tokens[i] for i in keep],
        bytes=[len(texts[i].encode("utf-8")) for i in keep],
        padding=1.0 - (sum(counts) + len(counts)) / padded,
    )
