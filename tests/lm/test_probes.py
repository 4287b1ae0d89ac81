"""Probes: choice and translation scoring against direct forward passes and hand-computed rankings."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from cstool.base.errors import CstoolError
from cstool.lm.probes import (
    ChoiceItem,
    Probe,
    encode_pair,
    item_scores,
    loglikelihoods,
    parse_probe_spec,
    probe_from_table,
    score_probe,
)


@pytest.fixture(scope="module")
def lm(tiny_lm):
    from cstool.models.hf import load_causal_lm, load_tokenizer

    return load_causal_lm(tiny_lm), load_tokenizer(tiny_lm)


def direct_ll(model, tok, context: str, continuation: str) -> float:
    """log P(continuation | BOS + context): one unpadded forward pass, log_softmax in float64."""
    import torch

    ctx, cont = encode_pair(tok, context, continuation)
    ids = [tok.bos_token_id, *ctx, *cont]
    x = torch.tensor([ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(x).logits[0].double(), dim=-1)
    return float(sum(logp[len(ids) - len(cont) - 1 + j, t] for j, t in enumerate(cont)))


def test_encode_pair_moves_trailing_space_to_the_continuation(lm):
    _, tok = lm
    ctx, cont = encode_pair(tok, "the cat ", "sits")
    ctx2, cont2 = encode_pair(tok, "the cat", " sits")
    assert (ctx, cont) == (ctx2, cont2)
    assert ctx + cont == tok("the cat sits", add_special_tokens=False)["input_ids"]


def test_loglikelihoods_equal_direct_forward_passes(lm):
    model, tok = lm
    pairs = [("the cat", " sits on the mat ."), ("", "a dog"), ("मैं घर", " जाता हूँ ।"), ("x", " y")]
    got = loglikelihoods(model, tok, pairs, batch_size=3, max_tokens=64)
    for g, (c, k) in zip(got, pairs, strict=True):
        assert g == pytest.approx(direct_ll(model, tok, c, k), rel=1e-5)
        assert g < 0


def test_choice_metrics_by_hand():
    # item 1: raw picks 0 (-10 > -12); per character -10/1 < -12/6 = -2, so acc_norm picks 1 (the label)
    # item 2: raw picks 1 (the label); per character -3/3 = -1 vs -2/2 = -1: a tie, the first (0) wins
    probe = Probe("p", "choice", (ChoiceItem("c", ("a", "bbbbbb"), 1), ChoiceItem("c", ("xyz", "uv"), 1)))
    assert item_scores(probe, [-10.0, -12.0, -3.0, -2.0]) == {"acc": 0.5, "acc_norm": 0.5, "examples": 2.0}


def test_translation_metrics_by_hand():
    # ranks of the true target (label 0): 1, 3 (two better), 2 → acc 1/3, MRR (1 + 1/3 + 1/2) / 3
    items = tuple(ChoiceItem("s", ("t", "u", "v"), 0) for _ in range(3))
    scores = item_scores(Probe("p", "translation", items, ""), [-1, -2, -3, -5, -4, -3, -2, -1, -9])
    assert scores["acc"] == pytest.approx(1 / 3)
    assert scores["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 2) / 3)


def test_choice_probe_matches_argmax_of_direct_scores(lm):
    model, tok = lm
    table = pa.table(
        {
            "context": ["the cat sits on the", "a dog", "मैं घर"],
            "choices": [["mat .", "dog"], ["sits", "x", "on the mat"], ["जाता हूँ ।", "पुस्तक"]],
            "label": [0, 2, 1],
        }
    )
    probe = probe_from_table("p", "choice", table)
    got = score_probe(model, tok, probe, batch_size=2)
    acc = norm = 0
    for ctx, choices, label in zip(*(table.column(c).to_pylist() for c in ("context", "choices", "label"))):
        ll = np.array([direct_ll(model, tok, ctx, " " + c) for c in choices])
        acc += int(np.argmax(ll)) == label
        norm += int(np.argmax(ll / np.array([len(c) for c in choices]))) == label
    assert got == {"acc": acc / 3, "acc_norm": norm / 3, "examples": 3.0}


def test_translation_probe_ranks_true_target_among_keyed_distractors(lm):
    model, tok = lm
    src = ["the cat", "a dog", "on the mat", "x y"]
    tgt = ["मैं घर", "जाता हूँ", "पुस्तक", "ती वाचते"]
    table = pa.table({"id": ["a", "b", "c", "d"], "source": src, "target": tgt})
    probe = probe_from_table("p", "translation", table, distractors=2, seed=3)
    for item, t in zip(probe.items, tgt, strict=True):
        assert item.choices[0] == t and len(set(item.choices)) == 3 and item.label == 0
    # the draw is keyed by row id: reversing the rows gives every id the same choices
    rev = probe_from_table("p", "translation", table.take([3, 2, 1, 0]), distractors=2, seed=3)
    assert [i.choices for i in rev.items[::-1]] == [i.choices for i in probe.items]
    got = score_probe(model, tok, probe)
    acc = rr = 0.0
    for item in probe.items:
        ll = [direct_ll(model, tok, item.context, c) for c in item.choices]
        rank = 1 + sum(v >= ll[0] for v in ll[1:])
        acc += rank == 1
        rr += 1 / rank
    assert got["acc"] == pytest.approx(acc / 4)
    assert got["mrr"] == pytest.approx(rr / 4)
    assert 1 / 3 <= got["mrr"] <= 1


@pytest.mark.parametrize("spec", ["hi", "hi=items.jsonl", "hi=cloze:items.jsonl", "=choice:x.jsonl", "hi=choice:"])
def test_bad_probe_specs(spec):
    with pytest.raises(CstoolError) as e:
        parse_probe_spec(spec)
    assert e.value.hint


def test_probe_spec_keeps_colons_of_the_path():
    assert parse_probe_spec("x=choice:hf:owner/name:test") == ("x", "choice", "hf:owner/name:test")


def test_bad_tables_are_refused():
    with pytest.raises(CstoolError, match="no column 'label'"):
        probe_from_table("p", "choice", pa.table({"context": ["a"], "choices": [["b", "c"]]}))
    with pytest.raises(CstoolError, match="label"):
        probe_from_table("p", "choice", pa.table({"context": ["a"], "choices": [["b", "c"]], "label": [2]}))
    with pytest.raises(CstoolError, match="distractors"):
        probe_from_table("p", "translation", pa.table({"source": ["a", "b"], "target": ["c", "d"]}), distractors=2)


def test_lm_eval_scores_the_same_items_alike(tmp_path):
    """The harness's own multiple_choice process_results on our log-likelihoods gives our acc and acc_norm."""
    pytest.importorskip("lm_eval")
    import json

    from lm_eval.api.task import ConfigurableTask

    probe = Probe("p", "choice", (ChoiceItem("c", ("a", "bbbbbb"), 1), ChoiceItem("c", ("xyz", "uv"), 1)))
    docs = [{"context": i.context, "choices": list(i.choices), "label": i.label} for i in probe.items]
    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in docs))
    config = {
        "task": "t",
        "output_type": "multiple_choice",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data)}},
        "test_split": "test",
        "doc_to_text": "context",
        "doc_to_choice": "choices",
        "doc_to_target": "label",
        "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}],
    }
    task = ConfigurableTask(config=config)
    lls = [-10.0, -12.0, -3.0, -2.0]
    got = {"acc": 0.0, "acc_norm": 0.0}
    pos = 0
    for doc in docs:
        res = task.process_results(doc, [(v, False) for v in lls[pos : pos + len(doc["choices"])]])
        pos += len(doc["choices"])
        for k in got:
            got[k] += res[k] / len(docs)
    ours = item_scores(probe, lls)
    assert got == {"acc": ours["acc"], "acc_norm": ours["acc_norm"]}


def test_loglikelihoods_equal_lm_eval_hflm(lm):
    """The harness's own HFLM.loglikelihood on the same model and pairs (its split of context and continuation
    included); the tiny tokenizer adds no BOS, so the harness conditions on the context alone (bos=False)."""
    pytest.importorskip("lm_eval")
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    model, tok = lm
    pairs = [("the cat sits on the", " mat ."), ("a dog ", "sits"), ("मैं घर", " जाता हूँ ।"), ("", "a dog")]
    harness = HFLM(pretrained=model, tokenizer=tok, batch_size=2)
    reqs = [Instance(request_type="loglikelihood", doc={}, arguments=p, idx=0) for p in pairs]
    want = [ll for ll, _greedy in harness.loglikelihood(reqs)]
    assert loglikelihoods(model, tok, pairs, bos=False) == pytest.approx(want, rel=1e-5)
    assert loglikelihoods(model, tok, pairs[:3]) != pytest.approx(want[:3], rel=1e-5)  # BOS changes the scores
