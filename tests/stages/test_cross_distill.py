"""distill --cross-tokenizer: a word-level teacher into a byte-level BPE student, end to end."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cstool.base.errors import CstoolError
from cstool.stages import distill
from cstool.stages.distill import DistillConfig
from tests.conftest import byte_bpe
from tests.stages.test_distill import sentence, write_text


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    """The grammar of test_distill, a word-level teacher trained on it, and a BPE tokenizer of its own."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from tests.stages.test_distill import ADJ, DET, PL, SG, VPL, VSG

    d = tmp_path_factory.mktemp("cross")
    words = sorted(set(DET + SG + PL + VSG + VPL + ADJ + ["."]))
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, **{w: i + 4 for i, w in enumerate(words)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    ).save_pretrained(d / "word_tok")
    r = random.Random(1)
    big = [sentence(r) for _ in range(1500)]
    out = {"big": write_text(d / "big.parquet", big)}
    out["small"] = write_text(d / "small.parquet", [sentence(random.Random(2)) for _ in range(60)])
    byte_bpe(big, 300).save_pretrained(d / "bpe_tok")
    out["bpe_tok"] = str(d / "bpe_tok")
    distill.run(
        DistillConfig(
            student_config="llama:layers=2,hidden=64,heads=4,positions=64",
            tokenizer=str(d / "word_tok"),
            max_steps=120,
            batch_size=16,
            lr=3e-3,
            block_size=32,
            log_every=60,
            device="cpu",
            seed=0,
        ),
        data=[out["big"]],
        output=d / "teacher",
    )
    out["teacher"] = str(d / "teacher")
    return out


def _options(setup, **kw):
    options = dict(
        student_config="llama:layers=1,hidden=32,heads=4,positions=64",
        tokenizer=setup["bpe_tok"],
        teacher=setup["teacher"],
        alpha=0.0,
        max_steps=40,
        batch_size=8,
        lr=3e-3,
        block_size=48,
        log_every=10,
        device="cpu",
        seed=0,
    )
    return {**options, **kw}


@pytest.mark.parametrize("kind", ["uld", "spans"])
def test_cross_tokenizer_student_trains_and_loads(setup, tmp_path, kind):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cstool.cli import app
    from cstool.lm.scoring import score_lm

    out = tmp_path / kind
    summary = distill.run(DistillConfig(**_options(setup, cross_tokenizer=kind)), data=[setup["small"]], output=out)
    assert summary.steps == 40
    kd = pq.read_table(out / "train_metrics.parquet").column("kd").to_pylist()
    assert all(v > 0 for v in kd) and kd[-1] < kd[0] - 0.5, kd  # ULD ≤ 2τ² = 8
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.get_vocab() == AutoTokenizer.from_pretrained(setup["bpe_tok"]).get_vocab()
    assert model.get_input_embeddings().num_embeddings == len(tok)
    scores = tmp_path / f"{kind}.scores.parquet"
    r = CliRunner().invoke(app, ["eval", "--model", str(out), "--data", f"s={setup['small']}", "-o", str(scores)])
    assert r.exit_code == 0, r.output
    got = {x["metric"]: x["value"] for x in pq.read_table(scores).to_pylist()}
    texts = pq.read_table(setup["small"]).column("text").to_pylist()
    assert got["bpb"] == pytest.approx(score_lm(model, tok, texts).bpb, rel=1e-6)


def test_different_vocabularies_without_cross_tokenizer_are_refused(setup, tmp_path):
    with pytest.raises(CstoolError) as e:
        distill.run(DistillConfig(**_options(setup)), data=[setup["small"]], output=tmp_path / "o")
    assert "vocabularies differ" in e.value.message and not (tmp_path / "o").exists()


def test_cross_tokenizer_option_problems():
    with pytest.raises(CstoolError) as e:
        DistillConfig(student_config="llama:layers=1", tokenizer="t", cross_tokenizer="kl")
    assert "--cross-tokenizer must be one of uld, spans" in e.value.message
    assert "--cross-tokenizer needs --teacher" in e.value.message


# ---------------------------------------------------------------------------------------------------------
# A teacher cache for the cross-tokenizer losses (teacher-cache --student-tokenizer)


def _cross_cache(setup, out, data=None, **kw):
    from cstool.stages import teacher_cache
    from cstool.stages.teacher_cache import TeacherCacheConfig

    options = dict(teacher=setup["teacher"], student_tokenizer=setup["bpe_tok"], block_size=48, device="cpu")
    config = TeacherCacheConfig(**{**options, **kw})
    return teacher_cache.run(config, data=[data or setup["small"]], output=str(out))


def _load(setup, cache, kind, data=None):
    from transformers import AutoTokenizer

    from cstool.lm.blocks import read_texts
    from cstool.lm.topk_cache import load_cross_teacher_cache

    texts, sources = read_texts([data or setup["small"]], "text")
    return load_cross_teacher_cache(
        str(cache),
        texts=texts,
        student_tok=AutoTokenizer.from_pretrained(setup["bpe_tok"]),
        kind=kind,
        block_size=48,
        temperature=2.0,
        data_sources=sources,
        text_column="text",
    )


@pytest.fixture(scope="module")
def caches(setup, tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("cross_cache")
    full, k4 = d / "full.parquet", d / "k4.parquet"
    return {
        "full": full,
        "k4": k4,
        "full_info": _cross_cache(setup, full, top_k=10_000),
        "k4_info": _cross_cache(setup, k4, top_k=4),
    }


@pytest.mark.parametrize("kind", ["uld", "spans"])
def test_loss_from_the_cache_equals_the_live_teacher(setup, caches, kind):
    """Same rows as the live path; with k = V the same loss, with k = 4 within τ² × the mean tail mass."""
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cstool.lm.blocks import read_texts
    from cstool.lm.cross_tokenizer import cached_span_loss, cross_blocks, span_loss

    texts, _ = read_texts([setup["small"]], "text")
    teacher = AutoModelForCausalLM.from_pretrained(setup["teacher"]).eval()
    live = cross_blocks(
        texts,
        AutoTokenizer.from_pretrained(setup["bpe_tok"]),
        AutoTokenizer.from_pretrained(setup["teacher"]),
        48,
        teacher.config.max_position_embeddings,
        kind,
    )
    full, k4 = _load(setup, caches["full"], kind), _load(setup, caches["k4"], kind)
    for key, value in live.items():
        np.testing.assert_array_equal(full[key], value, err_msg=key)
    assert full["teacher_sorted_logprobs"].shape[-1] == teacher.config.vocab_size
    assert k4["teacher_sorted_logprobs"].shape[-1] == 4
    t_ids = torch.from_numpy(live["teacher_ids"])
    t_mask = torch.arange(t_ids.shape[1])[None] < torch.from_numpy(live["teacher_length"])[:, None]
    with torch.no_grad():
        t_logits = teacher(input_ids=t_ids, attention_mask=t_mask.long()).logits
    gen = torch.Generator().manual_seed(0)
    s_logits = torch.randn(*live["input_ids"].shape, 300, generator=gen) * 2
    align = torch.from_numpy(live["align"])
    mask = torch.arange(48)[None] < torch.from_numpy(live["length"])[:, None] - 1  # positions that predict
    ref = span_loss(s_logits, t_logits, align, mask, temperature=2.0).item()
    got = cached_span_loss(
        s_logits, torch.from_numpy(full["teacher_sorted_logprobs"]), align, mask, temperature=2.0
    ).item()
    assert ref > 0.1 and got == pytest.approx(ref, rel=1e-5)
    sorted_k4, tail_k4 = torch.from_numpy(k4["teacher_sorted_logprobs"]), torch.from_numpy(k4["teacher_tail_logprob"])
    vocab = int(k4["teacher_vocab"][0])
    assert vocab == teacher.config.vocab_size
    spread = cached_span_loss(
        s_logits, sorted_k4, align, mask, temperature=2.0, tail_logprob=tail_k4, teacher_vocab=vocab
    ).item()
    zeros = cached_span_loss(s_logits, sorted_k4, align, mask, temperature=2.0).item()
    keep = (align >= 0) & mask
    tail_mass = tail_k4[keep.nonzero()[:, 0], align[keep]].exp().mean().item()
    assert tail_mass > 0.01  # k = 4 truncates visibly
    assert 0 < abs(zeros - ref) <= 2.0**2 * tail_mass + 1e-6, (zeros, ref, tail_mass)
    assert 0 < abs(spread - ref) <= 2 * 2.0**2 * tail_mass + 1e-6, (spread, ref, tail_mass)


@pytest.mark.parametrize("kind", ["uld", "spans"])
def test_training_from_a_full_cache_equals_the_live_teacher(setup, caches, tmp_path, kind):
    common = _options(setup, cross_tokenizer=kind, alpha=0.5, max_steps=8, log_every=1)
    live = distill.run(DistillConfig(**common), data=[setup["small"]], output=tmp_path / "live")
    cached = distill.run(
        DistillConfig(**{**common, "teacher": None, "teacher_cache": str(caches["full"])}),
        data=[setup["small"]],
        output=tmp_path / "cached",
    )
    a = pq.read_table(tmp_path / "live" / "train_metrics.parquet")
    b = pq.read_table(tmp_path / "cached" / "train_metrics.parquet")
    assert len(a) == 8 and min(a.column("kd").to_pylist()) > 0
    for column in ("kd", "ce", "loss"):
        assert b.column(column).to_pylist() == pytest.approx(a.column(column).to_pylist(), rel=1e-4), column
    assert cached.final_loss == pytest.approx(live.final_loss, rel=1e-4)


def test_a_cache_for_other_text_or_tokenizers_is_refused(setup, caches, tmp_path):
    from cstool.cli import app

    other_text = tmp_path / "other_text.parquet"
    _cross_cache(setup, other_text, data=setup["big"], top_k=4)
    other_tok = tmp_path / "other_tok.parquet"
    word_tok = str(Path(setup["teacher"]).parent / "word_tok")
    _cross_cache(setup, other_tok, student_tokenizer=word_tok, top_k=4)
    same_vocab = tmp_path / "same_vocab.parquet"
    _cross_cache(setup, same_vocab, student_tokenizer=None, top_k=4)
    base = [
        "distill", setup["small"], "--student-config", "llama:layers=1,hidden=32,heads=4,positions=64",
        "--tokenizer", setup["bpe_tok"], "--block-size", "48", "--max-steps", "2", "--device", "cpu",
    ]  # fmt: skip
    expected = {
        other_text: "it was built from other data files than the ones given",
        other_tok: "it was made for student tokenizer",
        same_vocab: "was made for same-vocabulary KD",
    }
    for n, (cache, message) in enumerate(expected.items()):
        out = tmp_path / f"o{n}"
        r = CliRunner().invoke(app, [*base, "--teacher-cache", str(cache), "--cross-tokenizer", "uld", "-o", str(out)])
        assert r.exit_code == 2 and message in r.output, r.output
        errors = [line for line in r.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and message in errors[0] and not out.exists(), r.output
    out = tmp_path / "same"
    r = CliRunner().invoke(app, [*base, "--teacher-cache", str(caches["k4"]), "-o", str(out)])
    assert r.exit_code == 2 and "was made for distill --cross-tokenizer" in r.output and not out.exists(), r.output


def test_cross_cache_size_and_summary(caches):
    from cstool.io import artifacts

    assert artifacts.describe(caches["k4"])["kind"] == "cross_teacher_cache"
    info = caches["k4_info"]
    assert info.top_k == 4 and info.tokens > 0
    # per teacher position: 4 log-probs + tail + id + byte end (float32/int32), before Parquet compression
    assert info.bytes_per_token < 8 * 4 + 16
