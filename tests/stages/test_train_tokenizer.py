"""cstool train-tokenizer: the saved fast tokenizer gives sentencepiece's ids and decodes back to the text."""

from __future__ import annotations

import unicodedata

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cstool.cli import app
from cstool.io.conllu import read_conllu
from tests.conftest import TINY_CORPUS, shared_file

runner = CliRunner()

EXTRA = [
    "  leading and  double  spaces ",
    "emoji 🙂 and symbols Ω ≈ ç, rare ঔ script",
    "ﬁ ligature and ＡＢＣ fullwidth",
    "मैं  घर जाता हूँ । 2024 में",
    "नमस्कार, तुम्ही कसे आहात?",
]


def _check_against_sentencepiece(tok_dir, texts):
    import sentencepiece as spm
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tok_dir)
    sp = spm.SentencePieceProcessor(model_file=str(tok_dir / "spm.model"))
    mismatched = []
    for t in texts:
        ours, theirs = tok(t, add_special_tokens=False)["input_ids"], sp.encode(t)
        if ours != theirs:
            # the only difference allowed: an exact tie in the Viterbi search (e.g. "0"+"00" vs "00"+"0"),
            # which the two libraries break differently; same score, same pieces count, same text
            score = sum(sp.get_score(i) for i in ours) - sum(sp.get_score(i) for i in theirs)
            assert abs(score) < 1e-4 and len(ours) == len(theirs), (t, ours, theirs)
            assert sp.decode(ours) == sp.decode(theirs)
            mismatched.append(t)
    assert len(mismatched) <= len(texts) // 500, mismatched
    for t in texts:
        ids = tok(t)["input_ids"]
        assert ids[0] == tok.bos_token_id == 1
        decoded = tok.decode(ids, skip_special_tokens=True)
        assert decoded == sp.decode(ids[1:])
        # sentencepiece normalises (NFKC, extra spaces); otherwise decoding gives the text back
        assert decoded == " ".join(unicodedata.normalize("NFKC", t).split())
    return tok


def test_real_hindi_marathi_english(tmp_path):
    paths = [shared_file(f"ud/{n}.conllu") for n in ("hi_pud-ud-test", "mr_ufal-ud-train", "en_pud-ud-test")]
    texts = [s.text for p in paths for s in read_conllu(p)]
    data = tmp_path / "text.parquet"
    pq.write_table(pa.table({"text": texts}), data)
    out = tmp_path / "tok"
    result = runner.invoke(app, ["train-tokenizer", str(data), "--vocab-size", "3000", "-o", str(out)])
    assert result.exit_code == 0, result.output
    tok = _check_against_sentencepiece(out, texts + EXTRA)
    assert len(tok) == 3000 and tok.pad_token_id == 3 and tok.eos_token_id == 2 and tok.unk_token_id == 0
    # a learned unigram vocabulary, not bytes: common words are a piece or two
    hi = [s.text for s in read_conllu(paths[0])][:50]
    per_word = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in hi) / sum(len(t.split()) for t in hi)
    assert per_word < 2.5


def test_embedded_text_and_provenance(tmp_path):
    from cstool.io.artifacts import read_provenance

    data = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text_cs": TINY_CORPUS + EXTRA, "other": list(range(len(TINY_CORPUS) + 5))}), data)
    out = tmp_path / "tok"
    result = runner.invoke(
        app, ["train-tokenizer", str(data), "--vocab-size", "330", "--text-column", "text_cs", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    _check_against_sentencepiece(out, sorted(set(TINY_CORPUS)) + EXTRA)
    prov = read_provenance(out)
    assert prov["stage"] == "train-tokenizer" and prov["options"]["vocab_size"] == 330


def test_bad_inputs(tmp_path):
    data = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": TINY_CORPUS}), data)
    out = tmp_path / "tok"
    result = runner.invoke(app, ["train-tokenizer", str(data), "--vocab-size", "50000", "-o", str(out)])
    assert result.exit_code == 2 and "lower --vocab-size" in result.output, result.output
    assert not out.exists() and not list(tmp_path.glob(".tok.tmp-*"))
    result = runner.invoke(app, ["train-tokenizer", str(data), "--text-column", "text_cs", "-o", str(out)])
    assert result.exit_code == 2 and "has no column 'text_cs'" in result.output and not out.exists()
    result = runner.invoke(app, ["train-tokenizer", str(data), "--vocab-size", "100", "-o", str(out)])
    assert result.exit_code == 2 and "--vocab-size must be at least 264" in result.output
    empty = tmp_path / "e.parquet"
    pq.write_table(pa.table({"text": ["", " "]}), empty)
    result = runner.invoke(app, ["train-tokenizer", str(empty), "-o", str(out)])
    assert result.exit_code == 2 and "no text" in result.output and not out.exists()


@pytest.mark.parametrize("vocab", [330, 339])
def test_deterministic(tmp_path, vocab):
    data = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": TINY_CORPUS + EXTRA}), data)
    for name in ("a", "b"):
        result = runner.invoke(
            app, ["train-tokenizer", str(data), "--vocab-size", str(vocab), "-o", str(tmp_path / name)]
        )
        assert result.exit_code == 0, result.output
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "b" / "tokenizer.json").read_bytes()
