"""text_cs keeps the original sentence and replaces only switched spans."""

from __future__ import annotations

import pyarrow.parquet as pq
from typer.testing import CliRunner

from cstool.cli import app
from cstool.text.splice import splice_text

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
    r = CliRunner().invoke(
        app, ["switch", str(tagged), "--lexicon", str(lex), "--ratio", "1", "-o", str(out), "--target-lang", "hi"]
    )
    assert r.exit_code == 0, r.output
    rows = pq.read_table(out).to_pylist()
    unswitched = [x for x in rows if x["n_switched"] == 0]
    switched = [x for x in rows if x["n_switched"] > 0]
    assert unswitched and switched
    assert all(x["text_cs"] == x["text"] for x in unswitched)
    for x in switched:
        assert x["text_cs"].endswith(x["text"][-1])  # final punctuation still glued, e.g. "बिल्ली."
        assert x["text_cs"] == x["text"].replace("dog", "कुत्ता").replace("cat", "बिल्ली")


def _reference_column(texts, tokens, units_by_row, tokens_cs):
    """text_cs row by row with splice_text, as the batch version must give it."""
    out = []
    for text, toks, units, cs in zip(texts, tokens, units_by_row, tokens_cs):
        spliced = splice_text(text, toks, units) if text is not None and units else text
        out.append(" ".join(cs) if spliced is None else spliced)
    return out


def test_batch_splice_matches_splice_text_row_by_row():
    import random

    import numpy as np
    import pyarrow as pa

    from cstool.text.splice import text_cs_column

    rng = random.Random(3)
    words = ["प्रिया", "क्या", "है", "?", "dog", "e\u0301", "🐈", "a", "ß", "“", "”", "-", "", "two words", "x\u00a0y"]
    spaces = [" ", "  ", "\t", "\n", "\u00a0", "\u2009", "\u3000", "\u1680", "\u0085", "\u200b", ""]
    texts, tokens, units_by_row, tokens_cs = [], [], [], []
    for _ in range(3000):
        toks = [rng.choice(words[:12] if rng.random() < 0.9 else words) for _ in range(rng.randint(1, 6))]
        text = rng.choice(spaces[:3]) if rng.random() < 0.2 else ""
        for t in toks:
            text += t + (rng.choice(spaces) if rng.random() < 0.7 else "")
        if rng.random() < 0.1:  # a text the tokens do not align to
            text = text.replace(rng.choice(toks) or "x", "?", 1)
        if rng.random() < 0.1:
            text += rng.choice(["!", " tail", "क", " and more words  at the end"])
        if rng.random() < 0.15 and len(text) > 1:  # whitespace somewhere, often inside a token
            cut = rng.randrange(1, len(text))
            text = text[:cut] + rng.choice(spaces[:9]) + text[cut:]
        if rng.random() < 0.05:
            text = None
        units, i = [], 0
        while i < len(toks):
            n = rng.choice([1, 1, 2])
            if i + n <= len(toks) and rng.random() < 0.4:
                units.append((i, n, rng.choice(["cooks", "is cooking", "बिल्ली", "x"])))
            i += n
        texts.append(text)
        tokens.append(toks)
        units_by_row.append(units)
        tokens_cs.append([w for t in toks for w in t.split(" ")])
    lengths = np.array([len(t) for t in tokens])
    row_offsets = np.concatenate([[0], np.cumsum(lengths)])
    unit_row = np.array([r for r, us in enumerate(units_by_row) for _ in us], np.int64)
    unit_start = np.array([row_offsets[r] + s for r, us in enumerate(units_by_row) for s, _, _ in us], np.int64)
    unit_len = np.array([n for us in units_by_row for _, n, _ in us], np.int64)
    unit_target = pa.array([t for us in units_by_row for _, _, t in us], pa.string())
    forms = pa.array([t for ts in tokens for t in ts], pa.string())
    expected = _reference_column(texts, tokens, units_by_row, tokens_cs)
    for lo, hi in ((0, 3000), (17, 1500)):  # also a batch that is a slice (non-zero Arrow offsets)
        sel = (unit_row >= lo) & (unit_row < hi)
        got, fallbacks = text_cs_column(
            pa.array(texts, pa.string()).slice(lo, hi - lo),
            forms.slice(row_offsets[lo], row_offsets[hi] - row_offsets[lo]),
            row_offsets[lo : hi + 1] - row_offsets[lo],
            unit_row[sel] - lo,
            unit_start[sel] - row_offsets[lo],
            unit_len[sel],
            unit_target.filter(pa.array(sel)),
            pa.array(tokens_cs[lo:hi], pa.list_(pa.string())),
        )
        assert got.to_pylist() == expected[lo:hi]
        aligned = [
            texts[r] is not None and splice_text(texts[r], tokens[r], units_by_row[r]) is not None
            for r in range(lo, hi)
            if units_by_row[r]
        ]
        assert fallbacks == aligned.count(False)


def test_space_mask_agrees_with_str_isspace():
    import sys

    import numpy as np

    from cstool.text.splice import space_mask

    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c < 0xE000]
    data = np.frombuffer("".join(chars).encode("utf-8"), np.uint8)
    mask = space_mask(data)
    lengths = np.array([len(c.encode("utf-8")) for c in chars])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    assert (mask[starts] == np.array([c.isspace() for c in chars])).all()
    assert (np.add.reduceat(mask, starts) == mask[starts] * lengths).all()  # whole characters marked


def test_batch_ending_in_empty_tokens_still_checks_the_last_real_token():
    import numpy as np
    import pyarrow as pa

    from cstool.text.splice import text_cs_column

    texts = pa.array(["x ab  tail", ""])
    forms = pa.array(["x", "ab ", ""])  # a token with trailing whitespace, then a row with an empty token
    out, _ = text_cs_column(
        texts,
        forms,
        np.array([0, 2, 3]),
        np.array([0]),
        np.array([0]),
        np.array([1]),
        pa.array(["cooks"]),
        pa.array(["cooks ab ", ""]),
    )
    assert out.to_pylist()[0] == splice_text("x ab  tail", ["x", "ab "], [(0, 1, "cooks")])
