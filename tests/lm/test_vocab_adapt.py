"""Vocabulary adaptation: new rows are the mean of the old pieces' rows, and the result loads with transformers."""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

from cstool.lm.vocab_adapt import adapt_vocabulary, piece_surface
from tests.conftest import byte_bpe

HINDI = [
    "हम स्कूल जाते हैं और खेलते हैं ।",
    "बच्चे बगीचे में दौड़ रहे हैं ।",
    "आज मौसम बहुत अच्छा है ।",
    "मेरी माँ खाना बनाती है ।",
] * 20


def _mean_of_old(old_weight, old_tok, text):
    ids = old_tok(text, add_special_tokens=False)["input_ids"]
    assert ids, text
    return old_weight[ids].mean(0)


@pytest.mark.parametrize("mode", ["replace", "extend"])
def test_new_rows_are_the_mean_of_old_pieces(tiny_lm, mode):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    old_tok = AutoTokenizer.from_pretrained(tiny_lm)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm)
    assert not model.config.tie_word_embeddings  # both tables are checked
    old_in = model.get_input_embeddings().weight.detach().clone()
    old_out = model.get_output_embeddings().weight.detach().clone()
    new_tok = byte_bpe(HINDI, 320)
    model, tok = adapt_vocabulary(model, old_tok, new_tok, mode=mode)
    assert model.get_input_embeddings().num_embeddings == len(tok)
    assert model.get_output_embeddings().weight.shape[0] == len(tok)
    start = 0 if mode == "replace" else len(old_tok)
    assert len(tok) > start
    checked = 0
    for i in range(start, len(tok)):
        if i in tok.all_special_ids:
            continue
        text = piece_surface(tok, i)
        if "\ufffd" in text:  # part of a character: the mean of all old rows
            continue
        for new, old in ((model.get_input_embeddings(), old_in), (model.get_output_embeddings(), old_out)):
            assert torch.equal(new.weight[i].detach(), _mean_of_old(old, old_tok, text))
        checked += 1
    assert checked > 10
    if mode == "extend":  # old rows untouched
        assert torch.equal(model.get_input_embeddings().weight[: len(old_tok)].detach(), old_in[: len(old_tok)])
    else:  # specials map to the old special of the same role
        assert torch.equal(model.get_input_embeddings().weight[tok.bos_token_id].detach(), old_in[old_tok.bos_token_id])


def test_a_multi_piece_row_by_hand(tiny_lm):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    old_tok = AutoTokenizer.from_pretrained(tiny_lm)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm)
    old_in = model.get_input_embeddings().weight.detach().clone()
    new_tok = byte_bpe(HINDI, 320)
    model, tok = adapt_vocabulary(model, old_tok, new_tok, mode="replace")
    # a new piece the old tokenizer splits into two or more pieces
    for i in range(len(tok)):
        ids = old_tok(piece_surface(tok, i), add_special_tokens=False)["input_ids"]
        if len(ids) >= 2 and i not in tok.all_special_ids and "\ufffd" not in piece_surface(tok, i):
            break
    want = sum(old_in[j] for j in ids) / len(ids)
    torch.testing.assert_close(model.get_input_embeddings().weight[i].detach(), want, rtol=0, atol=1e-7)


def test_adapt_vocab_command_output_loads_and_scores_the_same(tiny_lm, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cstool.cli.app import app
    from cstool.lm.scoring import score_lm

    tok_dir = tmp_path / "hi_tok"
    new_tok = byte_bpe(HINDI, 320)
    new_tok.save_pretrained(tok_dir)
    out = tmp_path / "adapted"
    r = CliRunner().invoke(app, ["adapt-vocab", str(tiny_lm), "--tokenizer", str(tok_dir), "-o", str(out)])
    assert r.exit_code == 0, r.output
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.get_vocab() == new_tok.get_vocab() and model.get_input_embeddings().num_embeddings == len(new_tok)
    data = tmp_path / "hi.parquet"
    pq.write_table(pa.table({"text": HINDI[:4]}), data)
    scores = tmp_path / "scores.parquet"
    r = CliRunner().invoke(app, ["eval", "--model", str(out), "--data", f"hi={data}", "-o", str(scores)])
    assert r.exit_code == 0, r.output
    rows = {x["metric"]: x["value"] for x in pq.read_table(scores).to_pylist()}
    want = score_lm(model, tok, HINDI[:4])
    assert rows["bpb"] == pytest.approx(want.bpb, rel=1e-6) and math.isfinite(want.bpb)
    bad = CliRunner().invoke(
        app, ["adapt-vocab", str(tiny_lm), "--tokenizer", str(tok_dir), "--mode", "x", "-o", str(tmp_path / "b")]
    )
    assert bad.exit_code == 2 and "--mode" in bad.output


def test_tied_embeddings_stay_tied(tmp_path):
    from transformers import LlamaForCausalLM

    from tests.conftest import TINY_CORPUS, tiny_llama_config

    old_tok = byte_bpe(TINY_CORPUS, 400)
    torch.manual_seed(0)
    model = LlamaForCausalLM(tiny_llama_config(old_tok, tie_word_embeddings=True))
    old_in = model.get_input_embeddings().weight.detach().clone()
    model, tok = adapt_vocabulary(model, old_tok, byte_bpe(HINDI, 320), mode="replace")
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    i = next(i for i in range(len(tok)) if len(piece_surface(tok, i).strip()) >= 2)
    assert torch.equal(
        model.get_output_embeddings().weight[i].detach(), _mean_of_old(old_in, old_tok, piece_surface(tok, i))
    )
    model.save_pretrained(tmp_path)
    again = LlamaForCausalLM.from_pretrained(tmp_path)
    assert torch.equal(again.get_output_embeddings().weight, model.get_output_embeddings().weight)
