"""Causal-LM data as packed token blocks: the texts of input artifacts, tokenised into one stream and cut into
blocks of ``block_size`` tokens, the dataset and collator that batch them for the Trainer, and the held-out
loss of a model over such blocks (in one process, or pooled over the processes of ``torchrun``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from cstool.base import ranks
from cstool.base.errors import InputError
from cstool.io import artifacts
from cstool.lm.kd import causal_ce
from cstool.lm.scoring import encode_ids


def read_texts(specs: Sequence[str], text_column: str) -> tuple[list[str], list[artifacts.Source]]:
    """Non-empty texts of ``text_column`` from every input artifact, in order, and the opened sources."""
    texts: list[str] = []
    sources = []
    for spec in specs:
        src = artifacts.open_source(spec)
        artifacts.require_text_column(
            src.schema,
            text_column,
            where=spec,
            hint="choose the text column with --text-column NAME (e.g. text, or text_cs after cstool switch)",
        )
        for batch in src.iter_batches():
            texts.extend(t for t in batch.column(text_column).to_pylist() if t and t.strip())
        sources.append(src)
    if not texts:
        raise InputError(
            f"no text to train on: column {text_column!r} of {', '.join(specs)} is empty",
            "give an artifact with at least one non-empty text (e.g. from cstool tag)",
        )
    return texts, sources


def pack_texts(texts: Iterable[str], tokenizer: Any, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Tokenise texts (with the tokenizer's special tokens, then EOS), concatenate, cut into blocks.

    Returns ``ids [N, block_size]`` int64 and ``lengths [N]``: every block is full except possibly the last,
    which is right-padded (its padding is masked out of every loss).
    """
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos if eos is not None else 0)
    stream: list[int] = []
    texts = list(texts)
    for start in range(0, len(texts), 1000):
        for ids in encode_ids(tokenizer, texts[start : start + 1000], add_special_tokens=True):
            stream.extend(ids)
            if eos is not None and (not ids or ids[-1] != eos):
                stream.append(eos)
    flat = np.asarray(stream, dtype=np.int64)
    n_full, rest = divmod(len(flat), block_size)
    blocks = [flat[: n_full * block_size].reshape(n_full, block_size)]
    lengths = [np.full(n_full, block_size, dtype=np.int64)]
    if rest >= 2:
        last = np.full((1, block_size), pad, dtype=np.int64)
        last[0, :rest] = flat[n_full * block_size :]
        blocks.append(last)
        lengths.append(np.array([rest], dtype=np.int64))
    return np.concatenate(blocks), np.concatenate(lengths)


class BlockDataset(torch.utils.data.Dataset):
    """Packed blocks, optionally with a teacher's top-k cache aligned to them (see teacher_cache)."""

    def __init__(self, ids: np.ndarray, lengths: np.ndarray, cache: dict[str, np.ndarray] | None = None):
        self.ids, self.lengths, self.cache = ids, lengths, cache

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {"input_ids": torch.from_numpy(self.ids[i]), "length": torch.tensor(int(self.lengths[i]))}
        if self.cache is not None:
            item["topk_ids"] = torch.from_numpy(self.cache["topk_ids"][i].astype(np.int64))
            item["topk_logprobs"] = torch.from_numpy(self.cache["topk_logprobs"][i].astype(np.float32))
            item["tail_logprob"] = torch.from_numpy(self.cache["tail_logprob"][i].astype(np.float32))
        return item


def collate_blocks(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack blocks; attention_mask and labels (−100 on padding) come from each block's length."""
    batch = {k: torch.stack([it[k] for it in items]) for k in items[0] if k != "length"}
    lengths = torch.stack([it["length"] for it in items])
    attn = torch.arange(batch["input_ids"].shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
    batch["attention_mask"] = attn.long()
    batch["labels"] = batch["input_ids"].masked_fill(~attn, -100)
    return batch


@torch.no_grad()
def heldout_loss(model: torch.nn.Module, ids: np.ndarray, lengths: np.ndarray, *, batch_size: int = 8) -> float:
    """Mean next-token cross-entropy (nats/token) of ``model`` over packed blocks."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    dataset = BlockDataset(ids, lengths)
    for start in range(0, len(dataset), batch_size):
        batch = collate_blocks([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        logits = model(
            input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)
        ).logits
        ce, mask = causal_ce(logits, batch["labels"].to(device))
        n = int(mask.sum())
        total += ce.item() * n
        count += n
    model.train(was_training)
    return total / max(count, 1)


def pooled_heldout_loss(
    model: torch.nn.Module, ids: np.ndarray, lengths: np.ndarray, *, batch_size: int, device: str
) -> float:
    """:func:`heldout_loss` over all the blocks when each process scores its slice of them: the sums are pooled."""
    part = ranks.shard(len(ids))
    mine = slice(part.start, part.stop)
    tokens = float(np.maximum(lengths[mine] - 1, 0).sum())
    mean = heldout_loss(model, ids[mine], lengths[mine], batch_size=batch_size)
    total, count = ranks.all_sum([mean * tokens, tokens], device)
    return total / max(count, 1.0)
