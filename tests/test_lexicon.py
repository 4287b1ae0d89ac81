from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from cstool.base.errors import InputError
from cstool.text.lexicon import dominant_script, load_lexicon

DATA = Path(__file__).resolve().parent / "data"


def _targets(lex, group: int) -> list[str]:
    start, count = lex.group_start[group], lex.group_count[group]
    return lex.targets.to_pylist()[start : start + count]


def _lookup(lex, forms, upos, lemmas=None, strict=False):
    f = pa.array(forms, pa.string())
    return lex.lookup(
        f,
        pa.array([x.lower() for x in forms]),
        pa.array(upos),
        None if lemmas is None else pa.array(lemmas),
        strict_pos=strict,
    )


def test_tsv_header_duplicates_senses_and_multiword():
    lex = load_lexicon(DATA / "switch_lexicon.tsv")
    assert len(lex) == 14 and lex.duplicates == 1 and lex.bad_lines == 0
    g = _lookup(lex, ["घर", "रेलगाड़ी", "कुछ"], ["NOUN", "NOUN", "NOUN"])
    assert _targets(lex, g[0]) == ["house", "home"]  # two senses, the duplicate row dropped
    assert _targets(lex, g[1]) == ["train car"]
    assert g[2] == -1
    assert lex.phrase_lengths == [2]


def test_lookup_order_case_lemma_and_strict_pos():
    lex = load_lexicon(DATA / "switch_lexicon.tsv")
    # lower-cased form with UPOS; lemma with UPOS; UPOS-less fallback for a NOUN-tagged verb entry.
    g = _lookup(lex, ["DOG", "जाते", "चल"], ["NOUN", "VERB", "NOUN"], lemmas=["dog", "जाना", "चल"])
    assert [_targets(lex, x) for x in g] == [["dog"], ["go"], ["walk"]]
    strict = _lookup(lex, ["DOG", "जाते", "चल"], ["NOUN", "VERB", "NOUN"], lemmas=["dog", "जाना", "चल"], strict=True)
    assert strict[2] == -1 and _targets(lex, strict[1]) == ["go"]
    # (form, UPOS) beats the UPOS-less lookup: अच्छा as ADV is "well", as ADJ "good".
    g = _lookup(lex, ["अच्छा", "अच्छा"], ["ADV", "ADJ"])
    assert _targets(lex, g[0]) == ["well"] and _targets(lex, g[1]) == ["good"]


def test_phrase_matching_stays_inside_sentences():
    lex = load_lexicon(DATA / "switch_lexicon.tsv")
    lower = pa.array(["लाल", "किला", "लाल", "किला"])
    upos = pa.array(["PROPN"] * 4)
    starts, lengths, groups = lex.match_phrases(lower, np.array([0, 0, 1, 2]), upos, strict_pos=False)
    assert starts.tolist() == [0] and lengths.tolist() == [2] and _targets(lex, groups[0]) == ["Red Fort"]
    none, _, _ = lex.match_phrases(lower, np.array([0, 0, 1, 2]), pa.array(["NOUN"] * 4), strict_pos=True)
    assert len(none) == 0


def test_muse_space_and_tab_separated():
    lex = load_lexicon(DATA / "switch_muse.txt")
    g = _lookup(lex, ["किताब", "रेलगाड़ी", "बड़ा"], ["NOUN", "NOUN", "ADJ"])
    assert _targets(lex, g[0]) == ["book", "volume"]
    assert _targets(lex, g[1]) == ["train car"]
    assert _targets(lex, g[2]) == ["big"]
    assert _lookup(lex, ["किताब"], ["NOUN"], strict=True)[0] == -1  # MUSE entries carry no UPOS


def test_bad_lines_reported_with_file_and_line(tmp_path):
    path = tmp_path / "lex.tsv"
    path.write_bytes(
        "source\ttarget\tupos\nघर\thouse\tNOUN\nअकेला\nपानी\twater\tNOUNX\nकल\t\tADV\nदिन\tday\tNOUN\n".encode()
    )
    with pytest.raises(InputError) as e:
        load_lexicon(path)
    assert f"{path}:3:" in e.value.message and f"{path}:4: unknown UPOS 'NOUNX'" in e.value.message
    assert f"{path}:5: empty source or target" in e.value.message and "--skip-bad-lines" in e.value.hint
    lex = load_lexicon(path, skip_bad_lines=True)
    assert lex.bad_lines == 3 and len(lex) == 2


def test_invalid_utf8_and_empty(tmp_path):
    path = tmp_path / "lex.txt"
    path.write_bytes(b"a b\n\xff\xfe c\n")
    with pytest.raises(InputError, match=r"lex.txt:2: not valid UTF-8"):
        load_lexicon(path)
    empty = tmp_path / "empty.tsv"
    empty.write_text("source\ttarget\n\n")
    with pytest.raises(InputError, match="has no entries"):
        load_lexicon(empty)


def test_dominant_script():
    assert dominant_script(["घर", "house", "किताब"]) == "DEVANAGARI"
    assert dominant_script(["house", "1", "dog"]) == "LATIN"


@pytest.mark.parametrize(
    "content, found, hint",
    [
        ("source,target,upos\nघर,house,NOUN\n".encode(), "comma-separated values (CSV) on line 1", "tab-separated"),
        ("घर, house\nपानी, water\n".encode(), "comma-separated values (CSV)", "tab-separated"),
        ("घर\thouse\tNOUN\nपानी\twater\tNOUN\n".encode(), "3 tab-separated columns but no header line", "upos"),
        ("src\ttgt\tpos\nघर\thouse\tNOUN\n".encode(), "a header line that does not name both source and target", ""),
        ("word\ttranslation\nघर\thouse\n".encode(), "a header line that does not name both source and target", ""),
        ("source\ttarget\nघर\thouse\n".encode("utf-16"), "encoded as UTF-16", "iconv -f UTF-16 -t UTF-8"),
        ("घर\thouse\n".encode("utf-16-le"), "encoded as UTF-16 or UTF-32 (NUL bytes)", "iconv -f UTF-16"),
    ],
)
def test_a_file_in_another_format_names_what_was_expected_and_found(tmp_path, content, found, hint):
    path = tmp_path / "lex.tsv"
    path.write_bytes(content)
    for skip in (False, True):
        with pytest.raises(InputError) as e:
            load_lexicon(path, skip_bad_lines=skip)
        assert found in e.value.message and "a first line naming the columns source and target" in e.value.message
        assert "--skip-bad-lines" not in e.value.hint and hint in e.value.hint


def test_readable_files_are_not_mistaken_for_other_formats(tmp_path):
    path = tmp_path / "lex.txt"
    path.write_text("1,000 1,000\nघर house\n")  # MUSE: a comma inside a word is not CSV
    assert len(load_lexicon(path)) == 2
    path.write_text("source\ttarget\tgloss\tupos\nघर\thouse\tbuilding\tNOUN\n")
    assert len(load_lexicon(path)) == 1


def _reference(entries, form, upos, strict):
    """The documented lookup order over (source, target, upos) entries, in plain Python: the distinct
    targets of the first table that has the key, in first-seen order."""

    def find(match):
        found = []
        for s, t, u in entries:
            if " " not in s and match(s, u) and t not in found:
                found.append(t)
        return found

    steps = [
        lambda s, u: s == form and u is not None and u == upos,
        lambda s, u: s.lower() == form.lower() and u is not None and u == upos,
    ]
    if not strict:
        steps += [lambda s, u: s == form, lambda s, u: s.lower() == form.lower()]
    for step in steps:
        if found := find(step):
            return found
    return []


def test_lookup_matches_a_plain_python_reference_on_random_lexicons(tmp_path):
    rng = np.random.default_rng(7)
    words = ["घर", "Ghar", "ghar", "GHAR", "पानी", "Paani", "अच्छा", "x"]
    tags = ["NOUN", "ADJ", "ADV", "VERB", ""]
    targets = ["house", "home", "water", "good", "well", "very good", "a b c"]
    for trial in range(20):
        rows = [
            (words[rng.integers(len(words))], targets[rng.integers(len(targets))], tags[rng.integers(len(tags))])
            for _ in range(int(rng.integers(1, 40)))
        ]
        path = tmp_path / f"lex{trial}.tsv"
        path.write_text("source\ttarget\tupos\n" + "".join(f"{s}\t{t}\t{u}\n" for s, t, u in rows), encoding="utf-8")
        lex = load_lexicon(path)
        entries = [(s, t, u or None) for s, t, u in dict.fromkeys(rows)]
        assert len(lex) == len(entries) and lex.duplicates == len(rows) - len(entries)
        forms = [w for w in words for _ in tags]
        upos = [u or None for _ in words for u in tags]
        for strict in (False, True):
            found = _lookup(lex, forms, upos, strict=strict)
            got = [_targets(lex, g) if g >= 0 else [] for g in found]
            assert got == [_reference(entries, f, u, strict) for f, u in zip(forms, upos)], (trial, strict)
        for g in range(len(lex.group_start)):  # each candidate's words
            for c in range(lex.group_start[g], lex.group_start[g] + lex.group_count[g]):
                start, n = lex.word_start[c], lex.word_count[c]
                assert lex.target_words.to_pylist()[start : start + n] == lex.targets[c].as_py().split(" ")


def test_a_large_lexicon_is_compact(tmp_path):
    # 200,000 entries: what the loaded lexicon keeps is a small multiple of the file, not kilobytes per entry.
    path = tmp_path / "big.tsv"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("source\ttarget\tupos\n")
        for i in range(200_000):
            fh.write(f"शब्द{i}\tword{i}\t{'NOUN' if i % 2 else 'VERB'}\n")
    lex = load_lexicon(path)
    assert len(lex) == 200_000
    kept = sum(a.nbytes for a, _ in lex._keys.values()) + sum(
        s.nbytes + c.nbytes + g.nbytes for s, c, g in lex._by_upos.values()
    )
    kept += lex.targets.nbytes + lex.target_words.nbytes
    kept += lex.group_start.nbytes + lex.group_count.nbytes + lex.word_start.nbytes + lex.word_count.nbytes
    assert kept / len(lex) < 350, kept / len(lex)  # bytes per entry (the file: 33; before: about 1,300)
