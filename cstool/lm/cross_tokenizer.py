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
Both compare only the teacher's *sorted* probabilities at its positions, so a teacher cache
(:mod:`cstool.lm.topk_cache`) keeps, per teacher position, the top k of them in decreasing order (read by
:func:`cached_span_loss`), with the teacher's ids and byte ends that rebuild the rows and ``align``.

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
    return _paired_uld(
        student_logits,
        lambda rows, idx: torch.softmax(teacher_logits.detach()[rows, idx].float() / temperature, dim=-1),
        align,
        mask,
        temperature,
    )


def cached_span_loss(
    student_logits: torch.Tensor,
    teacher_sorted_logprobs: torch.Tensor,
    align: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    temperature: float = 1.0,
    tail_logprob: torch.Tensor | None = None,
    teacher_vocab: int | None = None,
) -> torch.Tensor:
    """:func:`span_loss` with the teacher read from a cache: ``teacher_sorted_logprobs [B, T_t, K]``, its k
    largest log-probabilities at temperature τ per position, in decreasing order, and ``tail_logprob
    [B, T_t]``, the log of the mass ``m`` outside them.

    The teacher's vector is rebuilt as its top k followed by ``m`` spread evenly over its other
    ``teacher_vocab − k`` ranks (still in decreasing order; without a tail or vocabulary size those ranks are
    zeros). Rebuilt and true vectors differ by at most ``2m`` in L1 (both tails hold ``m``), and ULD is
    1-Lipschitz in the teacher's vector, so at each pair ``|ULD_cache − ULD| ≤ 2m`` (``≤ m`` with zeros),
    and the loss differs from :func:`span_loss` by at most 2τ² times the mean tail mass over the pairs, not
    at all when k is the teacher's whole vocabulary. The even spread is exact where the student's sorted
    tail lies above the teacher's everywhere (a flatter student, as early in training), where zeros are off
    by ``m``.
    """
    k = teacher_sorted_logprobs.shape[-1]
    rest = (teacher_vocab or k) - k

    def probs(rows, idx):
        top = teacher_sorted_logprobs[rows, idx].float().exp()
        if tail_logprob is None or rest <= 0:
            return top
        spread = (tail_logprob[rows, idx].float().exp() / rest).unsqueeze(-1).expand(-1, rest)
        return torch.cat([top, spread], dim=-1)

    return _paired_uld(student_logits, probs, align, mask, temperature)


def _paired_uld(student_logits, teacher_probs, align, mask, temperature: float) -> torch.Tensor:
    """τ²·mean ULD over the pairs of ``align`` (and ``mask``); ``teacher_probs(rows, teacher positions)``."""
    keep = align >= 0
    if mask is not None:
        keep = keep & mask
    rows, cols = keep.nonzero(as_tuple=True)
    if rows.numel() == 0:
        return student_logits.sum() * 0.0
    p = teacher_probs(rows, align[rows, cols])
    q = torch.softmax(student_logits[rows, cols].float() / temperature, dim=-1)
    return temperature**2 * uld_distance(p, q).mean()


def max_positions(model) -> int:
    """The teacher's context (``max_position_embeddings``): the most teacher tokens a row holds."""
    return int(getattr(model.config, "max_position_embeddings", None) or 1 << 30)


def student_chunks(texts: Sequence[str], student_tok, block_size: int) -> list[tuple[str, list[int], list[int]]]:
    """Each text cut into chunks of ``block_size − 1`` student tokens: (the chunk's text, its student ids after
    BOS, the byte end of each of them in the chunk's text, 0 for BOS)."""
    from cstool.lm.scoring import bos_id

    s_bos = bos_id(student_tok)
    chunks = []
    for text in texts:
        enc = student_tok(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = enc["input_ids"], enc["offset_mapping"]
        for start in range(0, len(ids), block_size - 1):
            chunk, offs = ids[start : start + block_size - 1], offsets[start : start + block_size - 1]
            a, b = offs[0][0], offs[-1][1]
            sub = text[a:b]
            chunks.append((sub, [s_bos, *chunk], [0, *byte_ends(sub, [(x - a, y - a) for x, y in offs])]))
    return chunks


def teacher_segments(
    chunks: Sequence[tuple[str, list[int], list[int]]], teacher_tok, teacher_positions: int
) -> list[tuple[list[int], list[int]]]:
    """The teacher's side of each chunk: its ids after the teacher's BOS (at most ``teacher_positions``) and
    the byte end of each in the chunk's text (0 for BOS)."""
    from cstool.lm.scoring import bos_id

    t_bos = bos_id(teacher_tok)
    out = []
    for sub, _, _ in chunks:
        t_enc = teacher_tok(sub, add_special_tokens=False, return_offsets_mapping=True)
        t_ids = [t_bos, *t_enc["input_ids"]][:teacher_positions]
        out.append((t_ids, [0, *byte_ends(sub, t_enc["offset_mapping"])][: len(t_ids)]))
    return out


def pad_id(tokenizer) -> int:
    """The id padding a row: PAD, else the BOS of :func:`cstool.lm.scoring.bos_id`."""
    from cstool.lm.scoring import bos_id

    return int(tokenizer.pad_token_id) if tokenizer.pad_token_id is not None else bos_id(tokenizer)


def cross_blocks(
    texts: Sequence[str], student_tok, teacher_tok, block_size: int, teacher_positions: int, kind: str
) -> dict[str, np.ndarray]:
    """Blocks for cross-tokenizer distillation: each text cut into chunks of ``block_size − 1`` student
    tokens, each chunk's text tokenised by the teacher too, both after their own BOS (:func:`pack_cross`)."""
    chunks = student_chunks(texts, student_tok, block_size)
    segments = teacher_segments(chunks, teacher_tok, teacher_positions)
    return pack_cross(chunks, segments, block_size, teacher_positions, kind, pad_id(student_tok), pad_id(teacher_tok))


def pack_cross(
    chunks: Sequence[tuple[str, list[int], list[int]]],
    segments: Sequence[tuple[list[int], list[int]]],
    block_size: int,
    teacher_positions: int,
    kind: str,
    s_pad: int,
    t_pad: int,
) -> dict[str, np.ndarray]:
    """The student chunks (:func:`student_chunks`) and their teacher segments (:func:`teacher_segments`, or
    the same read back from a teacher cache) packed into training rows.

    Returns ``input_ids [N, block_size]``, ``length [N]`` (student), ``teacher_ids [N, W]``,
    ``teacher_length [N]``, ``align [N, block_size]``: for each student position the teacher position
    whose next-token distribution it is compared with (−1: none), by byte end (``spans``) or by index
    (``uld``); and, for a teacher cache, ``teacher_ends [N, W]`` (each teacher token's byte end in its
    chunk, −1 on padding) and ``teacher_segments [N, S]`` (teacher tokens of each chunk in the row, 0 after
    the last). BOS pairs with BOS (both predict the text's first token from an empty prefix). Chunks are
    packed whole into rows, in order, while both sequences fit (``block_size`` student tokens,
    ``teacher_positions`` teacher tokens); the rest of a row is padding, which no loss counts.
    """
    if kind not in CROSS_KINDS:
        raise ValueError(f"unknown cross-tokenizer loss {kind!r}; choose one of {', '.join(CROSS_KINDS)}")
    if len(chunks) != len(segments):
        raise ValueError(f"{len(chunks)} student chunks but {len(segments)} teacher segments")
    packed: list[tuple[list[int], list[int], list[int], list[int], list[int]]] = []
    for (_, s_ids, s_ends), (t_ids, t_ends) in zip(chunks, segments, strict=True):
        align = [-1] * len(s_ids)
        if kind == "spans":
            for i, j in aligned_positions(t_ends, s_ends):
                align[j] = i
        else:
            for j in range(min(len(align), len(t_ids))):
                align[j] = j
        packed.append((s_ids, t_ids, align, t_ends))
    rows = _pack_segments(packed, block_size, teacher_positions)
    width = max((len(t) for _, t, _, _, _ in rows), default=1)
    most = max((len(n) for *_, n in rows), default=1)
    out = {
        "input_ids": np.full((len(rows), block_size), s_pad, dtype=np.int64),
        "length": np.zeros(len(rows), dtype=np.int64),
        "teacher_ids": np.full((len(rows), width), t_pad, dtype=np.int64),
        "teacher_length": np.zeros(len(rows), dtype=np.int64),
        "align": np.full((len(rows), block_size), -1, dtype=np.int64),
        "teacher_ends": np.full((len(rows), width), -1, dtype=np.int64),
        "teacher_segments": np.zeros((len(rows), most), dtype=np.int64),
    }
    for r, (s_ids, t_ids, align, t_ends, seg_lengths) in enumerate(rows):
        out["input_ids"][r, : len(s_ids)] = s_ids
        out["length"][r] = len(s_ids)
        out["teacher_ids"][r, : len(t_ids)] = t_ids
        out["teacher_length"][r] = len(t_ids)
        out["align"][r, : len(align)] = align
        out["teacher_ends"][r, : len(t_ends)] = t_ends
        out["teacher_segments"][r, : len(seg_lengths)] = seg_lengths
    return out


def _pack_segments(segments, block_size: int, teacher_positions: int) -> list[tuple]:
    """Concatenate (student ids, teacher ids, align, teacher ends) segments into rows that fit both limits; a
    segment's align entries are shifted by the teacher tokens before it in its row. Each row also lists its
    segments' teacher lengths."""
    rows: list[tuple] = []
    s_row: list[int] = []
    t_row: list[int] = []
    a_row: list[int] = []
    e_row: list[int] = []
    n_row: list[int] = []
    for s_ids, t_ids, align, t_ends in segments:
        if s_row and (len(s_row) + len(s_ids) > block_size or len(t_row) + len(t_ids) > teacher_positions):
            rows.append((s_row, t_row, a_row, e_row, n_row))
            s_row, t_row, a_row, e_row, n_row = [], [], [], [], []
        a_row += [i + len(t_row) if i >= 0 else -1 for i in align]
        s_row += s_ids
        t_row += t_ids
        e_row += t_ends
        n_row.append(len(t_ids))
    if s_row:
        rows.append((s_row, t_row, a_row, e_row, n_row))
    return rows


#: the arrays of :func:`pack_cross` a training batch carries (plus what a cache gives the loss)
BATCH_KEYS = (
    "input_ids",
    "length",
    "teacher_ids",
    "teacher_length",
    "align",
    "teacher_sorted_logprobs",
    "teacher_tail_logprob",
    "teacher_vocab",
)


class CrossBlockDataset(torch.utils.data.Dataset):
    """The arrays of :func:`cross_blocks` as Trainer examples (``collate_blocks`` stacks them)."""

    def __init__(self, blocks: dict[str, np.ndarray]):
        self.blocks = {k: v for k, v in blocks.items() if k in BATCH_KEYS}

    def __len__(self) -> int:
        return len(self.blocks["length"])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: torch.as_tensor(v[i]) for k, v in self.blocks.items()}
