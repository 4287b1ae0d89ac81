"""cstool teacher-cache: round trip of the top-k cache, training from it, and refusing a foreign cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

from cstool.base.errors import CstoolError
from cstool.cli import app
from cstool.io import artifacts
from cstool.lm.topk_cache import load_teacher_cache
from cstool.stages import distill, teacher_cache
from cstool.stages.distill import DistillConfig
from cstool.stages.teacher_cache import TeacherCacheConfig
from tests.conftest import TINY_CORPUS

runner = CliRunner()
BLOCK = 24


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("cache") / "text.parquet"
    pq.write_table(pa.table({"text": TINY_CORPUS[:60]}), path)
    return str(path)


def _cache(tiny_lm, data, out, **kw) -> teacher_cache.TeacherCacheResult:
    options = dict(teacher=str(tiny_lm), top_k=8, temperature=2.0, block_size=BLOCK, device="cpu")
    options.update(kw)
    return teacher_cache.run(TeacherCacheConfig(**options), data=[data], output=str(out))


def test_round_trip_matches_teacher(tiny_lm, data, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cstool.lm.blocks import pack_texts, read_texts
    from cstool.lm.kd import teacher_topk
    from cstool.models.hf import tokenizer_fingerprint

    out = tmp_path / "c.parquet"
    info = _cache(tiny_lm, data, out)
    tok = AutoTokenizer.from_pretrained(tiny_lm)
    texts, sources = read_texts([data], "text")
    ids, lengths = pack_texts(texts, tok, BLOCK)
    assert info.blocks == len(ids) and info.tokens == int(lengths.sum())
    assert info.bytes_per_token == pytest.approx(os.path.getsize(out) / lengths.sum())
    assert artifacts.describe(out)["kind"] == "teacher_cache"
    cache = load_teacher_cache(
        str(out),
        ids=ids,
        fingerprint=tokenizer_fingerprint(tok),
        block_size=BLOCK,
        temperature=2.0,
        data_sources=sources,
        text_column="text",
    )
    teacher = AutoModelForCausalLM.from_pretrained(tiny_lm).eval()
    x = torch.from_numpy(ids)
    attn = (torch.arange(BLOCK)[None] < torch.from_numpy(lengths)[:, None]).long()
    with torch.no_grad():
        ref_ids, ref_lp, ref_tail = teacher_topk(teacher(input_ids=x, attention_mask=attn).logits, 8, temperature=2.0)
    assert cache["topk_ids"].shape == (len(ids), BLOCK, 8)
    np.testing.assert_allclose(cache["topk_logprobs"].astype(np.float32), ref_lp.numpy(), atol=4e-3)
    np.testing.assert_allclose(cache["tail_logprob"], ref_tail.numpy(), rtol=1e-5)
    same = (cache["topk_ids"] == ref_ids.numpy()).mean()
    assert same > 0.99  # only near-ties may swap order


def test_training_from_full_cache_equals_on_the_fly_kd(tiny_lm, data, tmp_path):
    """With k = V the cache holds the whole teacher distribution: same losses as running the teacher."""
    cache = tmp_path / "full.parquet"
    _cache(tiny_lm, data, cache, top_k=10_000)
    common = dict(
        student_config="llama:layers=1,hidden=32,heads=4,positions=64",
        alpha=0.3,
        temperature=2.0,
        block_size=BLOCK,
        max_steps=6,
        batch_size=4,
        log_every=1,
        device="cpu",
        seed=3,
    )
    live = distill.run(DistillConfig(teacher=str(tiny_lm), **common), data=[data], output=tmp_path / "live")
    cached = distill.run(DistillConfig(teacher_cache=str(cache), **common), data=[data], output=tmp_path / "cached")
    a = pq.read_table(tmp_path / "live" / "train_metrics.parquet")
    b = pq.read_table(tmp_path / "cached" / "train_metrics.parquet")
    assert min(a.column("kd").to_pylist()) > 0
    # the cache stores log-probs as float16: equal up to that rounding
    np.testing.assert_allclose(b.column("kd").to_pylist(), a.column("kd").to_pylist(), rtol=1e-2)
    np.testing.assert_allclose(b.column("ce").to_pylist(), a.column("ce").to_pylist(), rtol=1e-3)
    assert cached.final_loss == pytest.approx(live.final_loss, rel=1e-3)


def test_small_k_trains(tiny_lm, data, tmp_path):
    cache = tmp_path / "k4.arrow"
    _cache(tiny_lm, data, cache, top_k=4)
    r = distill.run(
        DistillConfig(
            student_config="llama:layers=1,hidden=32,heads=4,positions=64",
            teacher_cache=str(cache),
            block_size=BLOCK,
            max_steps=4,
            log_every=2,
            device="cpu",
        ),
        data=[data],
        output=tmp_path / "s",
    )
    kd = pq.read_table(tmp_path / "s" / "train_metrics.parquet").column("kd").to_pylist()
    assert r.steps == 4 and all(v > 0 for v in kd)


@pytest.fixture(scope="module")
def other_student(tmp_path_factory) -> Path:
    """A tiny model with a word-level tokenizer: not the tokenizer the cache was built with."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    d = tmp_path_factory.mktemp("other")
    words = sorted({w for s in TINY_CORPUS for w in s.split()})
    tok = Tokenizer(models.WordLevel({"<unk>": 0, **{w: i + 1 for i, w in enumerate(words)}}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>").save_pretrained(d)
    LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(words) + 1,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=64,
        )
    ).save_pretrained(d)
    return d


def test_foreign_cache_is_refused(tiny_lm, data, other_student, tmp_path):
    cache = tmp_path / "c.parquet"
    _cache(tiny_lm, data, cache)
    base = dict(teacher_cache=str(cache), block_size=BLOCK, max_steps=2, device="cpu")
    with pytest.raises(CstoolError, match=f"built with teacher {tiny_lm} whose tokenizer differs"):
        distill.run(DistillConfig(student=str(other_student), **base), data=[data], output=tmp_path / "a")
    spec = "llama:layers=1,hidden=32,heads=4,positions=64"
    with pytest.raises(CstoolError, match="its block size is 24, this run uses 16"):
        distill.run(
            DistillConfig(student_config=spec, **{**base, "block_size": 16}), data=[data], output=tmp_path / "b"
        )
    with pytest.raises(CstoolError, match="its temperature is 2.0, this run uses 1.0"):
        distill.run(DistillConfig(student_config=spec, temperature=1.0, **base), data=[data], output=tmp_path / "c")
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"text": TINY_CORPUS[:30]}), other)
    with pytest.raises(CstoolError, match="other data files"):
        distill.run(DistillConfig(student_config=spec, **base), data=[str(other)], output=tmp_path / "d")
    assert not any((tmp_path / n).exists() for n in "abcd")


def test_cli(tiny_lm, data, tmp_path):
    out = tmp_path / "cli.parquet"
    result = runner.invoke(
        app,
        [
            "teacher-cache",
            data,
            "--teacher",
            str(tiny_lm),
            "-o",
            str(out),
            "--top-k",
            "4",
            "--block-size",
            str(BLOCK),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "bytes/token" in result.output and out.is_file()
    result = runner.invoke(
        app, ["teacher-cache", data, "--teacher", "/nonexistent/t", "-o", str(tmp_path / "x.parquet")]
    )
    assert result.exit_code == 2 and "teacher model not found at /nonexistent/t" in result.output
    assert not (tmp_path / "x.parquet").exists()
    result = runner.invoke(
        app,
        ["teacher-cache", data, "--teacher", str(tiny_lm), "-o", str(tmp_path / "y.parquet"), "--block-size", "512"],
    )
    assert result.exit_code == 2 and "larger than the teacher's 128 positions" in result.output
    assert not (tmp_path / "y.parquet").exists()
