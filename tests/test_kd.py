"""KD losses against torch.nn.functional.kl_div on random logits."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cstool.lm.kd import causal_ce, divergence, kd_loss, teacher_topk, topk_kd_loss


def _logits(seed: int, shape=(3, 5, 11), scale=3.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


def _ref_kl(log_a: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """KL(a ‖ b) per position via kl_div (its input is the log of the second argument)."""
    return F.kl_div(log_b, log_a, log_target=True, reduction="none").sum(-1)


@pytest.mark.parametrize("tau", [1.0, 2.0, 0.5])
def test_fkl_rkl_jsd_match_kl_div(tau):
    s, t = _logits(0), _logits(1)
    log_q, log_p = F.log_softmax(s / tau, -1), F.log_softmax(t / tau, -1)
    fkl = tau**2 * _ref_kl(log_p, log_q).mean()
    rkl = tau**2 * _ref_kl(log_q, log_p).mean()
    log_m = torch.log(0.5 * (log_p.exp() + log_q.exp()))
    jsd = tau**2 * (0.5 * _ref_kl(log_p, log_m) + 0.5 * _ref_kl(log_q, log_m)).mean()
    for kind, ref in (("fkl", fkl), ("rkl", rkl), ("jsd", jsd)):
        got = kd_loss(s, t, temperature=tau, kind=kind)
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    assert fkl > 0 and not torch.isclose(fkl, rkl)  # the three are different quantities
    assert jsd < math.log(2) * tau**2


def test_temperature_scales_by_tau_squared_and_softens():
    s, t = _logits(2), _logits(3)
    d1 = kd_loss(s, t, temperature=1.0)
    d4 = kd_loss(s, t, temperature=4.0)
    raw4 = _ref_kl(F.log_softmax(t / 4, -1), F.log_softmax(s / 4, -1)).mean()
    torch.testing.assert_close(d4, 16 * raw4)
    assert raw4 < d1  # softer distributions are closer


def test_mask_ignores_positions():
    s, t = _logits(4), _logits(5)
    mask = torch.zeros(3, 5, dtype=torch.bool)
    mask[0, :2] = True
    mask[2, 4] = True
    s_garbage = s.clone()
    s_garbage[~mask] = 1e4  # would dominate if counted
    got = kd_loss(s_garbage, t, mask, temperature=2.0)
    ref = 4 * _ref_kl(F.log_softmax(t[mask] / 2, -1), F.log_softmax(s[mask] / 2, -1)).mean()
    torch.testing.assert_close(got, ref)


def test_zero_when_equal_and_gradient_flows_only_to_student():
    s = _logits(6).requires_grad_(True)
    t = s.detach().clone().requires_grad_(True)
    loss = kd_loss(s, t, temperature=2.0, kind="jsd")
    assert loss.abs().item() < 1e-6
    s2 = _logits(7).requires_grad_(True)
    kd_loss(s2, t, kind="fkl").backward()
    assert s2.grad is not None and s2.grad.abs().sum() > 0
    assert t.grad is None


@pytest.mark.parametrize("kind", ["fkl", "rkl", "jsd"])
def test_topk_with_full_vocab_equals_full_loss(kind):
    s, t = _logits(8), _logits(9)
    ids, lp, tail = teacher_topk(t, 11, temperature=2.0)
    assert torch.isinf(tail).all()
    torch.testing.assert_close(
        topk_kd_loss(s, ids, lp, tail, temperature=2.0, kind=kind), kd_loss(s, t, temperature=2.0, kind=kind)
    )


@pytest.mark.parametrize("kind", ["fkl", "rkl", "jsd"])
def test_topk_is_divergence_of_coarsened_distributions(kind):
    s, t = _logits(10), _logits(11)
    k, tau = 3, 1.5
    ids, lp, tail = teacher_topk(t, k, temperature=tau)
    p = F.softmax(t / tau, -1)
    q = F.softmax(s / tau, -1)
    torch.testing.assert_close(lp.exp().sum(-1) + tail.exp(), torch.ones(3, 5))
    torch.testing.assert_close(lp, p.gather(-1, ids).log())
    p_bins = torch.cat([p.gather(-1, ids), 1 - p.gather(-1, ids).sum(-1, keepdim=True)], -1)
    q_bins = torch.cat([q.gather(-1, ids), 1 - q.gather(-1, ids).sum(-1, keepdim=True)], -1)
    ref = tau**2 * divergence(p_bins.log(), q_bins.log(), kind).mean()
    if kind == "fkl":
        torch.testing.assert_close(ref, tau**2 * _ref_kl(p_bins.log(), q_bins.log()).mean())
    got = topk_kd_loss(s, ids, lp, tail, temperature=tau, kind=kind)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-6)
    if kind != "jsd":  # coarsening can only lose information: a lower bound of the full divergence
        assert got <= kd_loss(s, t, temperature=tau, kind=kind) + 1e-6


def test_causal_ce_matches_model_loss(tiny_lm):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_lm)
    ids = torch.randint(3, model.config.vocab_size, (2, 9), generator=torch.Generator().manual_seed(0))
    labels = ids.clone()
    labels[1, 6:] = -100
    out = model(input_ids=ids, labels=labels)
    ce, mask = causal_ce(out.logits, labels)
    torch.testing.assert_close(ce, out.loss)
    assert mask.shape == (2, 9) and int(mask.sum()) == 8 + 5 and not mask[:, -1].any()


def test_unknown_divergence():
    with pytest.raises(ValueError, match="unknown divergence"):
        divergence(torch.zeros(2, 3), torch.zeros(2, 3), "kl")


def test_topk_gradient_matches_autograd_reference():
    """The hand-written backward of the top-k path equals autograd through log_softmax + gather."""
    t = _logits(12)
    ids, lp, tail = teacher_topk(t, 4, temperature=2.0)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1, 2:] = False
    for kind in ("fkl", "rkl", "jsd"):
        s1 = _logits(13).requires_grad_(True)
        topk_kd_loss(s1, ids, lp, tail, mask, temperature=2.0, kind=kind).backward()
        s2 = _logits(13).requires_grad_(True)
        log_q = F.log_softmax(s2 / 2.0, -1)
        q_top = log_q.gather(-1, ids)
        q_tail = log_q.scatter(-1, ids, float("-inf")).logsumexp(-1, keepdim=True)
        ref = 4 * (divergence(torch.cat([lp, tail[..., None]], -1), torch.cat([q_top, q_tail], -1), kind)[mask]).mean()
        ref.backward()
        torch.testing.assert_close(s1.grad, s2.grad, rtol=1e-4, atol=1e-6)
        assert s1.grad[1, 3].abs().sum() == 0  # masked position: no gradient
