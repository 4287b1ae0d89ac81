"""Bits per byte as lm-evaluation-harness computes it: its rolling windows, BOS once, whitespace-only texts.

The harness's window maths is written out here (:func:`harness_windows`, from ``get_rolling_token_windows`` and
``make_disjoint_window`` of lm_eval.utils, and the input truncation of ``HFLM._loglikelihood_tokens``); when
lm-eval is installed the same checks also run against its own functions and ``HFLM.loglikelihood_rolling``.
"""

from __future__ import annotations

import math

import pytest

from cstool.base.errors import CstoolError
from cstool.lm.scoring import Window, lm_batches, rolling_windows, score_lm
from tests.conftest import tiny_llama_config

L = 16  # context of the short-context model below
TEXTS = [
    "the cat sits on the mat . a dog runs in the park . the cat sits on the mat .",
    "मैं घर जाता हूँ । वह किताब पढ़ती है । मी घरी जातो . ती पुस्तक वाचते .",
    "a dog",
    "x",
]


def harness_windows(tokens: list[int], prefix: int, max_seq_len: int, context_len: int) -> list[tuple[list, list]]:
    """(context, continuation) pairs of lm-evaluation-harness's loglikelihood_rolling, spelled out.

    get_rolling_token_windows: the first window predicts the first min(L, n) tokens given the prefix token;
    each later window predicts up to L - context_len + 1 tokens and ends at window_end, its input being the
    L tokens tokens[window_end - L - 1 : window_end - 1]. make_disjoint_window drops from the input the
    tokens that are also predicted, except the first.
    """
    assert 1 <= context_len <= max_seq_len
    if not tokens:
        return []
    pred_len = max_seq_len - context_len + 1
    first = min(max_seq_len, len(tokens))
    pairs = [([prefix, *tokens[: first - 1]], tokens[:first])]
    predicted = first
    while predicted < len(tokens):
        k = min(len(tokens) - predicted, pred_len)
        end = predicted + k
        pairs.append((tokens[end - max_seq_len - 1 : end - 1], tokens[end - k : end]))
        predicted += k
    return [(a[: len(a) - (len(b) - 1)], b) for a, b in pairs]


def as_windows(pairs: list[tuple[list, list]], max_seq_len: int) -> list[Window]:
    """What HFLM._loglikelihood_tokens feeds the model: (context + continuation)[-(L + 1):][:-1], scoring the
    continuation; as a cstool Window (ids = input + last token, predict = len(continuation))."""
    return [Window(list((a + b)[-(max_seq_len + 1) :]), len(b)) for a, b in pairs]


@pytest.mark.parametrize("context_len", [1, 2, 5, 8])
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 17, 23, 31, 32, 33, 50])
def test_windows_are_the_harness_windows(n, context_len):
    tokens = list(range(100, 100 + n))
    got = rolling_windows(tokens, 1, 8, context_len)
    assert got == as_windows(harness_windows(tokens, 1, 8, context_len), 8)
    # Every token predicted exactly once, in order; no window reads more than L tokens.
    assert [t for w in got for t in w.ids[len(w.ids) - w.predict :]] == tokens
    assert all(len(w.ids) - 1 <= 8 for w in got)
    # After the first window each prediction sees at least context_len tokens of the text.
    for w in got[1:]:
        assert len(w.ids) - w.predict >= context_len


def test_windows_match_lm_eval_when_installed():
    utils = pytest.importorskip("lm_eval.utils")
    for n in (1, 8, 9, 16, 17, 40):
        for context_len in (1, 3, 8):
            tokens = list(range(100, 100 + n))
            pairs = list(map(utils.make_disjoint_window, utils.get_rolling_token_windows(tokens, 1, 8, context_len)))
            assert rolling_windows(tokens, 1, 8, context_len) == as_windows(pairs, 8)


def test_text_of_exactly_the_context_is_one_window():
    assert rolling_windows(list(range(8)), -1, 8) == [Window([-1, *range(8)], 8)]
    assert rolling_windows(list(range(9)), -1, 8) == [Window([-1, *range(8)], 8), Window(list(range(9)), 1)]
    assert rolling_windows([], -1, 8) == [] and rolling_windows([5], -1, None) == [Window([-1, 5], 1)]
    with pytest.raises(CstoolError, match="min-context"):
        rolling_windows([1, 2, 3], -1, 8, 9)


@pytest.fixture(scope="module")
def short_lm(tiny_lm):
    """A tiny Llama reading at most L = 16 tokens, with the tiny_lm fixture's tokenizer."""
    import torch
    from transformers import LlamaForCausalLM

    from cstool.models.hf import load_tokenizer

    tok = load_tokenizer(tiny_lm)
    torch.manual_seed(1)
    return LlamaForCausalLM(tiny_llama_config(tok, max_position_embeddings=L)).eval(), tok


def harness_loglikelihood(model, tok, text: str, context_len: int = 1) -> float:
    """Σ log p of the text's tokens over the harness windows, one unpadded float64 forward pass per window."""
    import torch

    tokens = tok(text, add_special_tokens=False)["input_ids"]
    total = 0.0
    for context, continuation in harness_windows(tokens, tok.bos_token_id, L, context_len):
        inp = (context + continuation)[-(L + 1) :][:-1]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([inp])).logits[0].double(), dim=-1)
        targets = torch.tensor(continuation)
        total += float(logp[-len(continuation) :].gather(1, targets[:, None]).sum())
    return total


def texts_with_lengths(tok) -> list[str]:
    """TEXTS plus character prefixes of the first one that are exactly L - 1, L and L + 1 tokens long."""
    out = list(TEXTS)
    for want in (L - 1, L, L + 1):
        out.append(
            next(
                TEXTS[0][:k]
                for k in range(1, len(TEXTS[0]) + 1)
                if len(tok(TEXTS[0][:k], add_special_tokens=False)["input_ids"]) == want
            )
        )
    return out


@pytest.mark.parametrize("min_context", [1, 4])
def test_score_lm_equals_the_harness_maths(short_lm, min_context):
    model, tok = short_lm
    texts = texts_with_lengths(tok)
    lengths = [len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
    assert max(lengths) > 2 * L and L in lengths  # several windows, and a text of exactly L tokens
    score = score_lm(model, tok, texts, batch_size=3, max_tokens=64, min_context=min_context)
    want = [-harness_loglikelihood(model, tok, t, min_context) for t in texts]
    assert score.nll == pytest.approx(want, rel=1e-5)
    assert score.tokens == lengths
    bytes_ = sum(len(t.encode()) for t in texts)
    assert score.bpb == pytest.approx(sum(want) / math.log(2) / bytes_, rel=1e-6)


def test_exactly_l_tokens_is_scored_in_one_forward_pass(short_lm):
    model, tok = short_lm
    text = texts_with_lengths(tok)[-2]
    batches = list(lm_batches(tok, [text], batch_size=4, max_tokens=1000, max_len=L))
    assert [len(w.ids) for wins, _ in batches for w in wins] == [L + 1]


def test_whitespace_only_texts_count_their_bytes(tiny_lm, short_lm):
    from tokenizers import normalizers

    from cstool.models.hf import load_tokenizer

    model, _ = short_lm
    tok = load_tokenizer(tiny_lm)
    tok.backend_tokenizer.normalizer = normalizers.Strip()  # whitespace alone tokenises to nothing
    texts = ["a dog", "  \n ", None, "x"]
    assert tok(texts[1], add_special_tokens=False)["input_ids"] == []
    score = score_lm(model, tok, texts)
    assert score.tokens[1:3] == [0, 0] and score.nll[1:3] == [0.0, 0.0]
    assert score.bytes == [5, 4, 0, 1]
    ll = [harness_loglikelihood(model, tok, t or "") for t in texts]
    assert score.bpb == pytest.approx(-sum(ll) / math.log(2) / 10, rel=1e-6)  # the harness's bits_per_byte
    assert score.metrics()["examples"] == 4
    with pytest.raises(CstoolError, match="no text has a token"):
        score_lm(model, tok, ["   ", ""])


def test_bits_per_byte_equals_lm_eval_hflm(short_lm):
    """HFLM.loglikelihood_rolling (BOS once: add_bos_token=False) with the harness's bits_per_byte."""
    pytest.importorskip("lm_eval")
    try:
        from lm_eval.api.instance import Instance
        from lm_eval.models.huggingface import HFLM
    except ImportError as e:  # lm-eval installed without its optional dependencies
        pytest.skip(f"lm_eval.models.huggingface does not import: {e}")
    model, tok = short_lm
    texts = texts_with_lengths(tok)
    lm = HFLM(pretrained=model, tokenizer=tok, batch_size=4, add_bos_token=False)
    assert lm.max_length == L and lm.prefix_token_id == tok.bos_token_id
    requests = [Instance("loglikelihood_rolling", {}, (t,), i) for i, t in enumerate(texts)]
    ll = lm.loglikelihood_rolling(requests, disable_tqdm=True)
    items = [(v, len(t.encode("utf-8"))) for v, t in zip(ll, texts, strict=True)]
    harness_bpb = -sum(a for a, _ in items) / sum(b for _, b in items) / math.log(2)  # lm_eval bits_per_byte
    score = score_lm(model, tok, texts)
    assert score.nll == pytest.approx([-v for v in ll], rel=1e-5)
    assert score.bpb == pytest.approx(harness_bpb, rel=1e-6)
