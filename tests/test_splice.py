"""text_cs keeps the original sentence and replaces only switched spans."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cstool.cli import app
from cstool.splice import splice_text

from .conftest import TINY_CONLLU


def test_only_switched_spans_change():
    text = "प्रिया क्या पकाती है?"
    toks = ["प्रिया", "क्या", "पकाती", "है", "?"]
    assert splice_text(text, toks, []) == text
    assert splice_text(text, toks, [(2, 1, "cooks")]) == "प्रिया क्या cooks है?"
    assert splice_text(text, toks, [(0, 1, "Priya"), (2, 2, "is cooking")]) == "Priya क्या is cooking?"


def test_part_of_a_multiword_token_gets_a_space():
    assert splice_text("उसके लाडामुळे तो", ["उसके", "लाडा", "मुळे", "तो"], [(1, 1, "pampering")]) == "उसके pampering मुळे तो"


def test_unalignable_tokens_give_none():
    assert splice_text("He said ``hi''", ["He", "said", '"', "hi", '"'], [(1, 1, "told")]) is None


def test_switch_output_keeps_text_of_unswitched_rows(tmp_path):
    tagged = tmp_path / "t.parquet"
    assert CliRunner().invoke(app, ["tag", str(TINY_CONLLU), "--lang", "en", "-o", str(tagged)]).exit_code == 0
    lex = tmp_path / "lex.tsv"
    lex.write_text("source\ttarget\tupos\ndog\tकुत्ता\tNOUN\ncat\tबिल्ली\tNOUN\n", encoding="utf-8")
    out = tmp_path / "s.parquet"
    r = CliRunner().invoke(app, ["switch", str(tagged), "--lexicon", str(lex), "--ratio", "1", "-o", str(out),
                                 "--target-lang", "hi"])
    assert r.exit_code == 0, r.output
    rows = pq.read_table(out).to_pylist()
    unswitched = [x for x in rows if x["n_switched"] == 0]
    switched = [x for x in rows if x["n_switched"] > 0]
    assert unswitched and switched
    assert all(x["text_cs"] == x["text"] for x in unswitched)
    for x in switched:
        assert x["text_cs"].endswith(x["text"][-1])  # final punctuation still glued, e.g. "बिल्ली."
        assert x["text_cs"] == x["text"].replace("dog", "कुत्ता").replace("cat", "बिल्ली")
