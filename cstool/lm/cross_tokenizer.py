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

Both are averaged over the counted positions and multiplied by τ² like the same-vocabulary KD term.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    pairs: Sequence[Sequence[tuple[int, int]]],
    *,
    temperature: float = 1.0,
) -> torch.Tensor:
    """τ²·ULD between teacher and student next-token distributions at byte-aligned positions.

    Args:
        student_logits: ``[B, T_s, V_s]``.
        teacher_logits: ``[B, T_t, V_t]``; no gradient flows into it.
        pairs: per row, the (teacher position, student position) pairs that count
            (:func:`aligned_positions`, shifted to the rows' positions and without the last token).
    Returns:
        scalar tensor (0 with no pairs at all).
    """
    rows_t = [(b, i) for b, row in enumerate(pairs) for i, _ in row]
    rows_s = [(b, j) for b, row in enumerate(pairs) for _, j in row]
    if not rows_t:
        return student_logits.sum() * 0.0
    bt, it = zip(*rows_t, strict=True)
    bs, js = zip(*rows_s, strict=True)
    p = torch.softmax(teacher_logits.detach()[list(bt), list(it)].float() / temperature, dim=-1)
    q = torch.softmax(student_logits[list(bs), list(js)].float() / temperature, dim=-1)
    return temperature**2 * uld_distance(p, q).mean()
