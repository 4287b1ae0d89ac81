"""Fertility: tokens per word and bytes per token, by hand and through cstool eval."""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cstool.lm.fertility import fertility, tokenizer_fertility
from tests.conftest import byte_bpe


def test_fertility_hand_computed():
    texts = ["a bc", "मैं घर"]  # 2 + 2 words; 4 + (9 + 1 + 6) bytes
    got = fertility(texts, [3, 5])
    assert got["tokens_per_word"] == pytest.approx(8 / 4)
    assert got["bytes_per_token"] == pytest.approx(20 / 8)
    empty = fertility(["  "], [0])
    assert math.isnan(empty["tokens_per_word"]) and math.isnan(empty["bytes_per_token"])


def test_byte_tokenizer_has_one_byte_per_token():
    tok = byte_bpe(["x"], 259)  # no merges
    texts = ["héllo wörld", "घर"]
    got = tokenizer_fertility(tok, texts)
    assert got["bytes_per_token"] == pytest.approx(1.0)
    assert got["tokens_per_word"] == pytest.approx((13 + 6) / 3)


def test_eval_reports_fertility(tiny_lm, tmp_path):
    from transformers import AutoTokenizer

    from cstool.cli.app import app

    texts = ["the cat sits on the mat .", "मैं घर जाता हूँ ।"]
    data = tmp_path / "x.parquet"
    pq.write_table(pa.table({"text": texts}), data)
    out = tmp_path / "scores.parquet"
    result = CliRunner().invoke(app, ["eval", "--model", str(tiny_lm), "--data", f"x={data}", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = {r["metric"]: r["value"] for r in pq.read_table(out).to_pylist()}
    want = tokenizer_fertility(AutoTokenizer.from_pretrained(tiny_lm), texts)
    assert rows["tokens_per_word"] == pytest.approx(want["tokens_per_word"])
    assert rows["bytes_per_token"] == pytest.approx(want["bytes_per_token"])
    assert rows["bytes_per_token"] == pytest.approx(rows["bytes"] / rows["tokens"])
