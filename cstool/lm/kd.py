"""Knowledge-distillation losses: the per-token objective of ``cstool distill`` (and of replay-train's KD term).

``L = α·CE(y, student) + (1−α)·τ²·D(teacher_τ ‖ student_τ)`` where ``x_τ = softmax(logits / τ)`` and D is

* ``fkl``  forward KL  ``Σ p (log p − log q)``  (the default; mean-seeking),
* ``rkl``  reverse KL  ``Σ q (log q − log p)``  (mode-seeking),
* ``jsd``  Jensen-Shannon ``½ KL(p‖m) + ½ KL(q‖m)``, ``m = ½(p + q)``.

p is the teacher, q the student. Positions where ``mask`` is False (padding, no next token) do not count.
The τ² factor keeps the gradient scale of the soft term independent of τ (Hinton et al., 2015).

From a top-k cache the teacher is known only on its k most likely tokens plus the remaining ("tail") mass;
D is then taken between the two distributions coarsened to k + 1 bins (the k tokens and "everything else"),
which equals the full-vocabulary D when k = V and is a lower bound of it for fkl/rkl otherwise. The
student's tail is ``1 − Σ q_top``, resolved down to ``TAIL_FLOOR`` (float32 cannot do better that way).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

KINDS = ("fkl", "rkl", "jsd")
TAIL_FLOOR = 1e-6  # smallest student tail mass the top-k loss resolves (see topk_kd_loss)


def _kl(log_a: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """Σ a (log a − log b) over the last dim, with 0·log 0 = 0."""
    a = log_a.exp()
    return torch.where(a > 0, a * (log_a - log_b), torch.zeros_like(a)).sum(-1)


def divergence(log_p: torch.Tensor, log_q: torch.Tensor, kind: str = "fkl") -> torch.Tensor:
    """D(p ‖ q) between distributions given as log-probabilities.

    Args:
        log_p: teacher log-probs, shape ``[..., V]``.
        log_q: student log-probs, shape ``[..., V]``.
        kind: ``fkl``, ``rkl`` or ``jsd``.
    Returns:
        shape ``[...]``: one divergence per position (nats).
    """
    if kind == "fkl":
        return _kl(log_p, log_q)
    if kind == "rkl":
        return _kl(log_q, log_p)
    if kind == "jsd":
        log_m = torch.logaddexp(log_p, log_q) - math.log(2.0)
        return 0.5 * _kl(log_p, log_m) + 0.5 * _kl(log_q, log_m)
    raise ValueError(f"unknown divergence {kind!r}; choose one of {', '.join(KINDS)}")


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return values.mean()
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    temperature: float = 1.0,
    kind: str = "fkl",
) -> torch.Tensor:
    """τ²·D(teacher_τ ‖ student_τ), averaged over unmasked positions.

    Args:
        student_logits: ``[B, T, V]`` (any leading shape ``[..., V]``).
        teacher_logits: ``[B, T, V]``, same shape; no gradient flows into it.
        mask: ``[B, T]`` bool, True where the position counts; None = all count.
        temperature: τ > 0.
        kind: ``fkl`` | ``rkl`` | ``jsd``.
    Returns:
        scalar tensor.
    """
    log_q = torch.log_softmax(student_logits.float() / temperature, dim=-1)
    log_p = torch.log_softmax(teacher_logits.detach().float() / temperature, dim=-1)
    if kind in ("fkl", "rkl"):  # log-softmax is finite: torch's fused KL, fewer [B, T, V] temporaries
        a, b = (log_p, log_q) if kind == "fkl" else (log_q, log_p)
        per_position = F.kl_div(b, a, reduction="none", log_target=True).sum(-1)
    else:
        per_position = divergence(log_p, log_q, kind)
    return temperature**2 * _masked_mean(per_position, mask)


def topk_kd_loss(
    student_logits: torch.Tensor,
    topk_ids: torch.Tensor,
    topk_logprobs: torch.Tensor,
    tail_logprob: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    temperature: float = 1.0,
    kind: str = "fkl",
) -> torch.Tensor:
    """τ²·D between a cached top-k teacher and the student, over k + 1 bins (top-k tokens + tail).

    Args:
        student_logits: ``[B, T, V]``.
        topk_ids: ``[B, T, K]`` int64, the teacher's k most likely token ids at temperature τ.
        topk_logprobs: ``[B, T, K]``, the teacher's log-probs of those ids at temperature τ.
        tail_logprob: ``[B, T]``, log of the teacher's remaining mass ``1 − Σ exp(topk_logprobs)``.
        mask: ``[B, T]`` bool, True where the position counts.
    Returns:
        scalar tensor.
    """
    log_q_top = _TopkLogSoftmax.apply(student_logits, topk_ids, temperature)
    # log(1 − Σ q_top); tails below TAIL_FLOOR are float32 noise and are read as TAIL_FLOOR
    top_mass = log_q_top.logsumexp(-1, keepdim=True).clamp(max=math.log1p(-TAIL_FLOOR))
    tail_p = tail_logprob.float().unsqueeze(-1)
    log_q_tail = torch.where(torch.isinf(tail_p), tail_p, torch.log(-torch.expm1(top_mass)))  # k = V: no tail
    log_q_bins = torch.cat([log_q_top, log_q_tail], dim=-1)
    log_p_bins = torch.cat([topk_logprobs.float(), tail_p], dim=-1)
    return temperature**2 * _masked_mean(divergence(log_p_bins, log_q_bins, kind), mask)


class _TopkLogSoftmax(torch.autograd.Function):
    """``log_softmax(logits / τ).gather(-1, ids)`` without keeping a ``[B, T, V]`` log-softmax.

    Backward builds the gradient in one buffer: ``(scatter(g) − softmax_τ · Σg) / τ``. This keeps a top-k
    KD step close to a CE-only step, where the vocabulary-sized passes dominate a small student.
    """

    @staticmethod
    def forward(ctx, logits, ids, temperature):
        lse = torch.logsumexp(logits.float() / temperature, dim=-1, keepdim=True)
        ctx.save_for_backward(logits, ids, lse)
        ctx.temperature = temperature
        return logits.gather(-1, ids).float() / temperature - lse

    @staticmethod
    def backward(ctx, grad_top):
        logits, ids, lse = ctx.saved_tensors
        tau = ctx.temperature
        grad = logits.float().div(tau).sub_(lse).exp_()  # softmax_τ, a fresh buffer
        grad.mul_(grad_top.sum(-1, keepdim=True).neg_().div_(tau))
        grad.scatter_add_(-1, ids, grad_top / tau)
        return grad.to(logits.dtype), None, None


def teacher_topk(
    teacher_logits: torch.Tensor, k: int, *, temperature: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What a top-k cache stores for each position: (ids ``[..., K]``, log-probs ``[..., K]``, tail ``[...]``).

    The tail is the log of the mass outside the top k, computed exactly (log-sum-exp of the rest), so it
    stays accurate when that mass is tiny; it is −inf when k equals the vocabulary size.
    """
    log_p = torch.log_softmax(teacher_logits.float() / temperature, dim=-1)
    values, ids = log_p.topk(min(k, log_p.shape[-1]), dim=-1)
    tail = log_p.scatter(-1, ids, float("-inf")).logsumexp(-1)
    return ids, values, tail


def causal_ce(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token cross-entropy. ``logits [B, T, V]``, ``labels [B, T]`` (−100 = ignore).

    Returns (mean CE over predicted positions, mask ``[B, T]`` of those positions): position t predicts
    token t + 1, so the last position never counts. KD terms use the same mask. Logits are not sliced,
    which spares the backward pass a vocabulary-sized copy.
    """
    targets = torch.nn.functional.pad(labels[:, 1:], (0, 1), value=-100)
    mask = targets.ne(-100)
    ce = torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100, reduction="sum"
    )
    return ce / mask.sum().clamp_min(1), mask
