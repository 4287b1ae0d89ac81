"""Cross-tokenizer losses: ULD against its published formula, byte-span alignment on two real tokenizers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cstool.lm.cross_tokenizer import (
    aligned_positions,
    byte_ends,
    cached_span_loss,
    span_loss,
    uld_distance,
    uld_loss,
)
from tests.conftest import byte_bpe


def _uld_reference(p: np.ndarray, q: np.ndarray) -> float:
    """Boizard et al. (2024), eq. of the ULD term: Σ_i |p↓_i − q↓_i| over max(|V_t|, |V_s|) ranks."""
    n = max(len(p), len(q))
    ps = sorted(p.tolist(), reverse=True) + [0.0] * (n - len(p))
    qs = sorted(q.tolist(), reverse=True) + [0.0] * (n - len(q))
    return sum(abs(a - b) for a, b in zip(ps, qs, strict=True))


def test_uld_hand_computed():
    p = torch.tensor([0.2, 0.5, 0.3])
    q = torch.tensor([0.1, 0.9])
    # sorted: p [.5 .3 .2], q [.9 .1 0] -> .4 + .2 + .2
    assert uld_distance(p, q).item() == pytest.approx(0.8, abs=1e-6)
    assert uld_distance(q, p).item() == pytest.approx(0.8, abs=1e-6)


def test_uld_matches_formula_on_random_distributions():
    gen = torch.Generator().manual_seed(0)
    t_logits = torch.randn(2, 5, 11, generator=gen) * 3
    s_logits = torch.randn(2, 5, 7, generator=gen) * 3
    tau = 2.0
    p = torch.softmax(t_logits / tau, -1).numpy()
    q = torch.softmax(s_logits / tau, -1).numpy()
    expected = np.mean([_uld_reference(p[b, t], q[b, t]) for b in range(2) for t in range(5)]) * tau**2
    assert uld_loss(s_logits, t_logits, temperature=tau).item() == pytest.approx(expected, rel=1e-5)
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[0, 1] = mask[1, 3] = True
    expected = (_uld_reference(p[0, 1], q[0, 1]) + _uld_reference(p[1, 3], q[1, 3])) / 2 * tau**2
    assert uld_loss(s_logits, t_logits, mask, temperature=tau).item() == pytest.approx(expected, rel=1e-5)


def test_uld_is_zero_for_a_permuted_vocabulary_and_has_gradient():
    logits = torch.randn(1, 3, 6)
    perm = torch.randperm(6)
    student = logits[..., perm].clone().requires_grad_(True)
    assert uld_loss(student, logits).item() == pytest.approx(0.0, abs=1e-6)
    other = torch.randn(1, 3, 6, requires_grad=True)
    uld_loss(other, logits).backward()
    assert other.grad is not None and other.grad.abs().sum() > 0


def _ends(tok, text):
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    return byte_ends(text, enc["offset_mapping"])


def test_byte_span_alignment_of_two_tokenizers():
    text = "héllo"  # é is two UTF-8 bytes: 6 bytes in all
    student = byte_bpe(["x"], 259)  # no merges: one token per byte, h Ã © l l o
    teacher = byte_bpe(["héllo wörld"] * 10 + ["hé"], 262)  # merges: hé l l o
    s_ends, t_ends = _ends(student, text), _ends(teacher, text)
    assert s_ends == [1, 3, 3, 4, 5, 6]  # both halves of é end where é ends
    assert t_ends == [3, 4, 5, 6]
    # hé|l|l|o against h|Ã|©|l|l|o: the prefixes "hé", "hél", "héll", "héllo" are shared
    assert aligned_positions(t_ends, s_ends) == [(0, 2), (1, 3), (2, 4), (3, 5)]


def test_span_loss_hand_computed():
    teacher = torch.log(torch.tensor([[[0.7, 0.2, 0.1], [0.3, 0.3, 0.4]]]))  # [1, 2, 3]
    student = torch.log(torch.tensor([[[0.5, 0.5], [0.9, 0.1], [0.6, 0.4]]]))  # [1, 3, 2]
    align = torch.tensor([[-1, 0, 1]])  # student position 1 with teacher 0, 2 with 1
    # (0,1): [.7 .2 .1] vs [.9 .1 0] -> .2+.1+.1 = .4 ; (1,2): [.4 .3 .3] vs [.6 .4 0] -> .2+.1+.3 = .6
    assert span_loss(student, teacher, align).item() == pytest.approx(0.5, abs=1e-6)
    assert span_loss(student, teacher, align, torch.tensor([[True, True, False]])).item() == pytest.approx(0.4)
    assert span_loss(student, teacher, torch.full((1, 3), -1)).item() == 0.0


def test_cross_blocks_pair_byte_ends():
    from cstool.lm.cross_tokenizer import cross_blocks

    student = byte_bpe(["x"], 259)
    teacher = byte_bpe(["héllo wörld"] * 10 + ["hé"], 262)
    spans = cross_blocks(["héllo"], student, teacher, 8, 64, "spans")
    # student: <s> h Ã © l l o (ends 0 1 3 3 4 5 6), teacher: <s> hé l l o (ends 0 3 4 5 6)
    assert spans["length"].tolist() == [7] and spans["teacher_length"].tolist() == [5]
    assert spans["align"][0].tolist() == [0, -1, -1, 1, 2, 3, 4, -1]
    uld = cross_blocks(["héllo"], student, teacher, 8, 64, "uld")
    assert uld["align"][0].tolist() == [0, 1, 2, 3, 4, -1, -1, -1]
    chunks = cross_blocks(["héllo"], student, teacher, 4, 64, "spans")  # 3 student tokens a chunk
    assert chunks["length"].tolist() == [4, 4]
    assert chunks["align"].tolist() == [[0, -1, -1, 1], [0, 1, 2, 3]]  # "hé" | "llo" both fully aligned
    packed = cross_blocks(["héllo", "hé"], student, teacher, 12, 64, "spans")  # 7 + 4 tokens: one row
    # second text: student <s> h Ã ©, teacher <s> hé, after 7 student and 5 teacher tokens
    assert packed["length"].tolist() == [11] and packed["teacher_length"].tolist() == [7]
    assert packed["align"][0].tolist() == [0, -1, -1, 1, 2, 3, 4, 5, -1, -1, 6, -1]
    assert packed["teacher_ids"][0, 5] == teacher.bos_token_id and packed["input_ids"][0, 7] == student.bos_token_id
    split = cross_blocks(["héllo", "hé"], student, teacher, 12, 6, "spans")  # the teacher's 5 + 2 do not fit in 6
    assert split["length"].tolist() == [7, 4] and split["align"][1].tolist()[:4] == [0, -1, -1, 1]


def test_cached_span_loss_hand_computed():
    """A cache's top 2 of a 4-token teacher with the tail spread evenly, or counted as zeros."""
    student = torch.log(torch.tensor([[[0.5, 0.3, 0.2]]]))  # [1, 1, 3]
    top = torch.log(torch.tensor([[[0.6, 0.2]]]))  # the teacher: [.6 .2 .1 .1], k = 2, tail .2
    tail = torch.log(torch.tensor([[0.2]]))
    align = torch.tensor([[0]])
    # spread: [.6 .2 .1 .1] vs [.5 .3 .2 0] -> .1 + .1 + .1 + .1 = .4, which is the live teacher's ULD
    live = span_loss(student, torch.log(torch.tensor([[[0.1, 0.6, 0.1, 0.2]]])), align).item()
    spread = cached_span_loss(student, top, align, tail_logprob=tail, teacher_vocab=4).item()
    assert spread == pytest.approx(0.4, abs=1e-6) and live == pytest.approx(0.4, abs=1e-6)
    # zeros: [.6 .2 0 0] vs [.5 .3 .2 0] -> .1 + .1 + .2 = .4 here too; with no pairs, 0
    assert cached_span_loss(student, top, align).item() == pytest.approx(0.4, abs=1e-6)
    other = torch.log(torch.tensor([[[0.9, 0.05, 0.05]]]))  # sharper: spread .3 + .15 + .05 + .1, zeros .3 + .15 + .05
    assert cached_span_loss(other, top, align, tail_logprob=tail, teacher_vocab=4).item() == pytest.approx(0.6)
    assert cached_span_loss(other, top, align).item() == pytest.approx(0.3 + 0.15 + 0.05)
    assert cached_span_loss(student, top, torch.tensor([[-1]])).item() == 0.0
