"""Distillation between a teacher and a student whose vocabularies differ (``distill --cross-tokenizer``).

Two losses:

* ``uld``  Universal Logit Distillation (Boizard et al., 2024): with no token correspondence, compare the
  two next-token distributions *as sorted probability vectors*. With p↓, q↓ the teacher's and student's
  probabilities sorted in decreasing order and the shorter one padded with zeros to ``max(V_t, V_s)``,
  ``ULD(p, q) = Σ_i |p↓_i − q↓_i|``: the Wasserstein-1 distance between the two distributions under a
  cost of 1 between any two different ranks, the closed form of the paper (and of TRL's ULD loss).
  Positions are paired by index (position t of the teacher with position t of the student), as in the
  paper, up to the shorter of the two sequences.
* ``spans``  byte-span alignment: teacher position i and student position j are paired when their tokens
  end at the same byte offset of the text, so both next-token distributions are conditioned on exactly the
  same text prefix (:func:`aligned_positions`). At each pair the loss is ULD between the two distributions
  (the vocabularies still differ, so KL is not defined without a token map); unpaired positions do not count.

In training (:func:`cross_blocks`) each chunk of text is tokenised by both tokenizers; ``align`` gives, for
each student position, the teacher position it is compared with, and :func:`span_loss` serves both losses.

Both are averaged over the counted positions and multiplied by τ² like the same-vocabulary KD term.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

CROSS_KINDS = ("uld", "spans")


def uld_distance(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``Σ_i |sort↓(p)_i − sort↓(q)_i|`` per position, the shorter vocabulary padded with zeros.

    Args:
        p: ``[..., V_t]`` probabilities (teacher).
        q: ``[..., V_s]`` probabilities (student); same leading shape.
    Returns:
        ``[...]``.
    """
    p_sorted = p.sort(dim=-1, descending=True).values
    q_sorted = q.sort(dim=-1, descending=True).values
    width = max(p_sorted.shape[-1], q_sorted.shape[-1])
    p_sorted = torch.nn.functional.pad(p_sorted, (0, width - p_sorted.shape[-1]))
    q_sorted = torch.nn.functional.pad(q_sorted, (0, width - q_sorted.shape[-1]))
    return (p_sorted - q_sorted).abs().sum(-1)


def uld_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    temperature: float = 1.0,
) -> torch.Tensor:
    """τ²·ULD(teacher_τ, student_τ) averaged over positions paired by index.

    Args:
        student_logits: ``[B, T_s, V_s]``.
        teacher_logits: ``[B, T_t, V_t]``; no gradient flows into it.
        mask: ``[B, T_s]`` bool, True where the student's position counts (cut to ``min(T_s, T_t)``).
    Returns:
        scalar tensor.
    """
    length = min(student_logits.shape[1], teacher_logits.shape[1])
    q = torch.softmax(student_logits[:, :length].float() / temperature, dim=-1)
    p = torch.softmax(teacher_logits[:, :length].detach().float() / temperature, dim=-1)
    per_position = uld_distance(p, q)
    if mask is None:
        return temperature**2 * per_position.mean()
    m = mask[:, :length].to(per_position.dtype)
    return temperature**2 * (per_position * m).sum() / m.sum().clamp_min(1.0)


def byte_ends(text: str, offsets: Sequence[tuple[int, int]]) -> list[int]:
    """The UTF-8 byte offset at which each token ends, from a tokenizer's character offset mapping."""
    char_to_byte = [0]
    for ch in text:
        char_to_byte.append(char_to_byte[-1] + len(ch.encode("utf-8")))
    return [char_to_byte[end] for _, end in offsets]


def aligned_positions(teacher_ends: Sequence[int], student_ends: Sequence[int]) -> list[tuple[int, int]]:
    """Pairs (i, j) of teacher and student token positions whose tokens end at the same byte offset.

    Ends are non-decreasing; when several tokens of one side end at the same offset (a byte-level token
    that is part of a character), the last of them is paired, the one after which the prefix is whole.
    """
    last_t = {end: i for i, end in enumerate(teacher_ends)}
    last_s = {end: j for j, end in enumerate(student_ends)}
    return sorted((last_t[end], last_s[end]) for end in last_t.keys() & last_s.keys())


def span_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    align: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    temperature: float = 1.0,
) -> torch.Tensor:
    """τ²·ULD between teacher and student next-token distributions at paired positions.

    Args:
        student_logits: ``[B, T_s, V_s]``.
        teacher_logits: ``[B, T_t, V_t]``; no gradient flows into it.
        align: ``[B, T_s]`` int64, the teacher position paired with each student position, −1 for none
            (:func:`aligned_positions` for ``spans``, the same index for ``uld``).
        mask: ``[B, T_s]`` bool, True where the student's position predicts a token.
    Returns:
        scalar tensor (0 with no pairs at all).
    """
    keep = align >= 0
    if mask is not None:
        keep = keep & mask
    rows, cols = keep.nonzero(as_tuple=True)
    if rows.numel() == 0:
        return student_logits.sum() * 0.0
    p = torch.softmax(teacher_logits.detach()[rows, align[rows, cols]].float() / temperature, dim=-1)
    q = torch.softmax(student_logits[rows, cols].float() / temperature, dim=-1)
    return temperature**2 * uld_distance(p, q).mean()


def cross_blocks(
    texts: Sequence[str], student_tok, teacher_tok, block_size: int, teacher_positions: int, kind: str
) -> dict[str, np.ndarray]:
    """Blocks for cross-tokenizer distillation: each text cut into chunks of ``block_size − 1`` student
    tokens, each chunk's text tokenised by the teacher too, both after their own BOS.

    Returns ``input_ids [N, block_size]``, ``length [N]`` (student), ``teacher_ids [N, W]``,
    ``teacher_length [N]`` and ``align [N, block_size]``: for each student position the teacher position
    whose next-token distribution it is compared with (−1: none), by byte end (``spans``) or by index
    (``uld``). BOS pairs with BOS (both predict the text's first token from an empty prefix). Chunks are
    packed whole into rows, in order, while both sequences fit (``block_size`` student tokens,
    ``teacher_positions`` teacher tokens); the rest of a row is padding, which no loss counts.
    """
    from cstool.lm.scoring import bos_id

    if kind not in CROSS_KINDS:
        raise ValueError(f"unknown cross-tokenizer loss {kind!r}; choose one of {', '.join(CROSS_KINDS)}")
    s_bos, t_bos = bos_id(student_tok), bos_id(teacher_tok)
    s_pad = student_tok.pad_token_id if student_tok.pad_token_id is not None else s_bos
    t_pad = teacher_tok.pad_token_id if teacher_tok.pad_token_id is not None else t_bos
    segments: list[tuple[list[int], list[int], list[int]]] = []
    for text in texts:
        enc = student_tok(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = enc["input_ids"], enc["offset_mapping"]
        for start in range(0, len(ids), block_size - 1):
            chunk, offs = ids[start : start + block_size - 1], offsets[start : start + block_size - 1]
            a, b = offs[0][0], offs[-1][1]
            sub = text[a:b]
            s_ends = [0, *byte_ends(sub, [(x - a, y - a) for x, y in offs])]
            t_enc = teacher_tok(sub, add_special_tokens=False, return_offsets_mapping=True)
            t_ids = [t_bos, *t_enc["input_ids"]][:teacher_positions]
            t_ends = [0, *byte_ends(sub, t_enc["offset_mapping"])][: len(t_ids)]
            align = [-1] * (len(chunk) + 1)
            if kind == "spans":
                for i, j in aligned_positions(t_ends, s_ends):
                    align[j] = i
            else:
                for j in range(min(len(align), len(t_ids))):
                    align[j] = j
            segments.append(([s_bos, *chunk], t_ids, align))
    rows = _pack_segments(segments, block_size, teacher_positions)
    width = max((len(t) for _, t, _ in rows), default=1)
    out = {
        "input_ids": np.full((len(rows), block_size), s_pad, dtype=np.int64),
        "length": np.zeros(len(rows), dtype=np.int64),
        "teacher_ids": np.full((len(rows), width), t_pad, dtype=np.int64),
        "teacher_length": np.zeros(len(rows), dtype=np.int64),
        "align": np.full((len(rows), block_size), -1, dtype=np.int64),
    }
    for r, (s_ids, t_ids, align) in enumerate(rows):
        out["input_ids"][r, : len(s_ids)] = s_ids
        out["length"][r] = len(s_ids)
        out["teacher_ids"][r, : len(t_ids)] = t_ids
        out["teacher_length"][r] = len(t_ids)
        out["align"][r, : len(align)] = align
    return out


def _pack_segments(segments, block_size: int, teacher_positions: int) -> list[tuple[list[int], list[int], list[int]]]:
    """Concatenate (student ids, teacher ids, align) segments into rows that fit both limits; a segment's
    align entries are shifted by the teacher tokens before it in its row."""
    rows: list[tuple[list[int], list[int], list[int]]] = []
    s_row: list[int] = []
    t_row: list[int] = []
    a_row: list[int] = []
    for s_ids, t_ids, align in segments:
        if s_row and (len(s_row) + len(s_ids) > block_size or len(t_row) + len(t_ids) > teacher_positions):
            rows.append((s_row, t_row, a_row))
            s_row, t_row, a_row = [], [], []
        a_row += [i + len(t_row) if i >= 0 else -1 for i in align]
        s_row += s_ids
        t_row += t_ids
    if s_row:
        rows.append((s_row, t_row, a_row))
    return rows


class CrossBlockDataset(torch.utils.data.Dataset):
    """The arrays of :func:`cross_blocks` as Trainer examples (``collate_blocks`` stacks them)."""

    def __init__(self, blocks: dict[str, np.ndarray]):
        self.blocks = blocks

    def __len__(self) -> int:
        return len(self.blocks["length"])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: torch.as_tensor(v[i]) for k, v in self.blocks.items()}
