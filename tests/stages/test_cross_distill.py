"""distill --cross-tokenizer: a word-level teacher into a byte-level BPE student, end to end."""

from __future__ import annotations

import random

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
