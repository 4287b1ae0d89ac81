"""eval: LM scoring against a direct forward pass, bits per byte by hand, batching, the CLI and bad input."""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cstool.base.errors import CstoolError
from cstool.cli import app
from cstool.io import artifacts
from cstool.lm.scoring import plan_batches, score_lm
from cstool.stages.evaluate import EvalConfig

TEXTS = ["the cat sits on the mat .", "a dog", "मैं घर जाता हूँ ।", "ती पुस्तक वाचते .", "x"]


@pytest.fixture(scope="module")
def lm(tiny_lm):
    from cstool.models.hf import load_causal_lm, load_tokenizer

    return load_causal_lm(tiny_lm), load_tokenizer(tiny_lm)


def direct_nll(model, tokenizer, text: str) -> tuple[float, int]:
    """Summed NLL of text given BOS, one unpadded forward pass, log_softmax + gather."""
    import torch

    ids = [tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"]]
    x = torch.tensor([ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(x).logits[0, :-1].double(), dim=-1)
    return -float(logp.gather(1, x[0, 1:, None]).sum()), len(ids) - 1


def write_set(path, texts, column="text"):
    pq.write_table(pa.table({"id": [str(i) for i in range(len(texts))], column: pa.array(texts, pa.string())}), path)
    return path


def test_perplexity_is_exp_of_direct_mean_nll(lm):
    model, tok = lm
    score = score_lm(model, tok, TEXTS, batch_size=3, max_tokens=64)
    direct = [direct_nll(model, tok, t) for t in TEXTS]
    for got, (want, _n) in zip(score.nll, direct, strict=True):
        assert got == pytest.approx(want, rel=1e-5)
    assert score.tokens == [n for _, n in direct]
    mean = sum(d for d, _ in direct) / sum(n for _, n in direct)
    assert score.mean_nll == pytest.approx(mean, rel=1e-5)
    assert score.ppl == pytest.approx(math.exp(mean), rel=1e-5)
    assert score.ppl > 50  # random weights over ~400 tokens: far from a trained model


def test_bits_per_byte_by_hand(lm):
    model, tok = lm
    texts = ["a dog", "घर"]  # 5 ASCII bytes; two Devanagari code points of 3 bytes each
    score = score_lm(model, tok, texts)
    assert score.bytes == [5, 6]
    nll = sum(direct_nll(model, tok, t)[0] for t in texts)
    assert score.bpb == pytest.approx(nll / math.log(2) / 11, rel=1e-5)


def test_batching_does_not_change_scores(lm):
    model, tok = lm
    one = score_lm(model, tok, TEXTS, batch_size=1)
    many = score_lm(model, tok, TEXTS * 3, batch_size=8, max_tokens=40)
    assert many.nll[: len(TEXTS)] == pytest.approx(one.nll, rel=1e-5)
    assert many.padding < 0.35
    assert one.padding == 0.0
    chunked = score_lm(model, tok, TEXTS * 40, batch_size=4)  # tokenised in chunks of 64, 128, then 8 texts
    assert chunked.nll == pytest.approx(one.nll * 40, rel=1e-5)
    assert chunked.tokens == one.tokens * 40


def test_plan_batches_respects_limits_and_sorts():
    lengths = [5, 30, 2, 30, 7, 7, 1, 12]
    batches = plan_batches(lengths, batch_size=3, max_tokens=40)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 3
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 40
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(lengths, reverse=True)


def test_long_text_is_scored_in_windows(lm):
    model, tok = lm
    text = " ".join(["the cat sits on the mat ."] * 40)
    n = len(tok(text, add_special_tokens=False)["input_ids"])
    assert n + 1 > model.config.max_position_embeddings
    score = score_lm(model, tok, [text])
    assert score.tokens == [n]
    assert math.isfinite(score.nll[0])


def test_empty_texts(lm):
    model, tok = lm
    with pytest.raises(CstoolError, match="empty"):
        score_lm(model, tok, ["", None])
    score = score_lm(model, tok, ["", "a dog"])
    assert score.tokens[0] == 0 and score.nll[0] == 0.0 and score.bytes == [0, 5]  # one entry per text
    assert score.bpb == pytest.approx(direct_nll(model, tok, "a dog")[0] / math.log(2) / 5, rel=1e-5)


def test_config_collects_every_problem():
    with pytest.raises(CstoolError) as e:
        EvalConfig(task="mt", batch_size=0, max_tokens=1, min_context=0)
    assert "--task" in e.value.message and "--batch-size" in e.value.message and "--max-tokens" in e.value.message
    assert "--min-context" in e.value.message


# ---------------------------------------------------------------------------------------------------------
# CLI


def test_cli_eval_writes_scores(tiny_lm, lm, tmp_path):
    model, tok = lm
    hi = write_set(tmp_path / "hi.parquet", TEXTS[2:4])
    en = write_set(tmp_path / "en.parquet", TEXTS[:2], column="sentence")
    out = tmp_path / "scores.parquet"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "--model",
            str(tiny_lm),
            "--data",
            f"hi={hi}",
            "--data",
            f"en={en}",
            "--text-column",
            "text",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 2 and "no column 'text'" in result.output and not out.exists()
    en = write_set(tmp_path / "en.parquet", TEXTS[:2])
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "--model",
            str(tiny_lm),
            "--data",
            f"hi={hi}",
            "--data",
            f"en={en}",
            "--run",
            "r1",
            "--after-task",
            "hi",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.schema.remove_metadata().equals(artifacts.SCORES)
    assert (table.schema.metadata or {})[artifacts.KIND_KEY] == b"scores"
    rows = {(r["eval_task"], r["metric"]): r for r in table.to_pylist()}
    assert {r["run"] for r in rows.values()} == {"r1"} and {r["after_task"] for r in rows.values()} == {"hi"}
    for name, texts in (("hi", TEXTS[2:4]), ("en", TEXTS[:2])):
        want = score_lm(model, tok, texts)
        assert rows[(name, "bpb")]["value"] == pytest.approx(want.bpb, rel=1e-6)
        assert rows[(name, "ppl")]["value"] == pytest.approx(math.exp(rows[(name, "nll")]["value"]), rel=1e-9)
        assert rows[(name, "examples")]["value"] == 2
    prov = artifacts.read_provenance(out)
    assert prov["stage"] == "eval" and len(prov["inputs"]) == 2


def test_cli_model_tokenizer_mismatch(tiny_lm, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=900,
        special_tokens=["<s>"],
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([f"word{i} token{i * 7} thing{i * 13}" for i in range(2000)], trainer=trainer)
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>").save_pretrained(tmp_path / "big_tok")
    data = write_set(tmp_path / "en.parquet", TEXTS)
    out = tmp_path / "scores.parquet"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "--model",
            str(tiny_lm),
            "--tokenizer",
            str(tmp_path / "big_tok"),
            "--data",
            f"en={data}",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 2
    assert "do not belong together" in result.output and "hint" in result.output
    assert not out.exists() and not list(tmp_path.glob(".scores*"))


def test_cli_empty_eval_set(tiny_lm, tmp_path):
    out = tmp_path / "scores.parquet"
    for texts, msg in (([], "is empty"), (["", ""], "only empty texts")):
        data = write_set(tmp_path / "en.parquet", texts)
        result = CliRunner().invoke(app, ["eval", "--model", str(tiny_lm), "--data", f"en={data}", "-o", str(out)])
        assert result.exit_code == 2 and msg in result.output
        assert not out.exists()


def test_cli_lm_needs_a_model(tiny_lm, tmp_path):
    data = write_set(tmp_path / "en.parquet", TEXTS)
    result = CliRunner().invoke(app, ["eval", "--data", f"en={data}", "-o", str(tmp_path / "s.parquet")])
    assert result.exit_code == 2 and "--task lm needs --model" in result.output
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "--model",
            str(tiny_lm),
            "--data",
            f"en={data}",
            "-o",
            str(tmp_path / "s.parquet"),
            "--predictions",
            str(tmp_path / "p.parquet"),
        ],
    )
    assert result.exit_code == 2 and "--predictions is for --task vqa" in result.output
    assert not list(tmp_path.glob("*s.parquet")) and not (tmp_path / "p.parquet").exists()


def test_adapter_changes_scores_like_the_peft_model(tiny_lm, lm, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model

    from cstool.models.hf import load_causal_lm

    torch.manual_seed(1)
    peft_model = get_peft_model(
        load_causal_lm(tiny_lm), LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    peft_model.save_pretrained(tmp_path / "adapter")
    _, tok = lm
    want = score_lm(peft_model, tok, TEXTS)
    base = score_lm(lm[0], tok, TEXTS)
    assert abs(want.bpb - base.bpb) > 1e-3
    data = write_set(tmp_path / "en.parquet", TEXTS)
    out = tmp_path / "scores.parquet"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "--model",
            str(tiny_lm),
            "--adapter",
            str(tmp_path / "adapter"),
            "--data",
            f"en={data}",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    got = {r["metric"]: r["value"] for r in pq.read_table(out).to_pylist()}
    assert got["bpb"] == pytest.approx(want.bpb, rel=1e-5)


def test_cli_eval_reads_plain_text_like_tag(tiny_lm, lm, tmp_path):
    model, tok = lm
    txt = tmp_path / "hi.txt"
    txt.write_text("\n".join(TEXTS[2:4]) + "\n\n" + TEXTS[0] + "\n", encoding="utf-8")  # blank lines are skipped
    out = tmp_path / "scores.parquet"
    result = CliRunner().invoke(app, ["eval", "--model", str(tiny_lm), "--data", f"hi={txt}", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = {r["metric"]: r["value"] for r in pq.read_table(out).to_pylist()}
    want = score_lm(model, tok, [*TEXTS[2:4], TEXTS[0]])
    assert rows["bpb"] == pytest.approx(want.bpb, rel=1e-6) and rows["examples"] == 3
    assert artifacts.read_provenance(out)["inputs"][0]["sha256"] == artifacts.file_sha256(txt)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    result = CliRunner().invoke(app, ["eval", "--model", str(tiny_lm), "--data", f"en={empty}", "-o", str(out)])
    assert result.exit_code == 2 and "is empty" in result.output
