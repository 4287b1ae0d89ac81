"""Probe-set builders: PUD pairs joined on sent_id, cloze items with same-UPOS distractors."""

from __future__ import annotations

import pyarrow.parquet as pq

from cstool.io.conllu import read_conllu
from cstool.lm.probe_sets import cloze_table, main, parallel_table
from cstool.lm.probes import probe_from_table
from tests.conftest import TINY_CONLLU, shared_file


def test_cloze_items_hold_out_a_word_against_same_upos_forms():
    sents = {s.sent_id: s for s in read_conllu(TINY_CONLLU)}
    table = cloze_table(TINY_CONLLU, distractors=2, seed=1)
    assert table.num_rows > 10
    upos_of = {(f, p) for s in sents.values() for f, p in zip(s.forms, s.upos)}
    labels = set()
    for row in table.to_pylist():
        s = sents[row["id"]]
        gold = row["choices"][row["label"]]
        j = len(row["context"].split(" "))
        assert row["context"] == " ".join(s.forms[:j]) and s.forms[j] == gold and j >= 3
        assert len(set(row["choices"])) == 3 and all((c, s.upos[j]) in upos_of for c in row["choices"])
        labels.add(row["label"])
    assert len(labels) > 1  # the gold is not always in the same place
    assert cloze_table(TINY_CONLLU, distractors=2, seed=1).equals(table)
    probe_from_table("cloze", "choice", table)  # a valid choice probe


def test_pud_pair_builds_translation_and_cloze_sets(tmp_path):
    en = shared_file("ud/en_pud-ud-test.conllu")
    hi = shared_file("ud/hi_pud-ud-test.conllu")
    pairs = parallel_table(en, hi)
    assert pairs.num_rows == 1000
    first = pairs.to_pylist()[0]
    assert first["id"] == "n01001011" and first["source"].startswith("“While much of the digital transition")
    assert first["target"].startswith("“संयुक्त राज्य अमेरिका")
    main([str(en), str(hi), str(tmp_path)])
    assert pq.read_table(tmp_path / "translation.parquet").equals(pairs)
    for lang in ("en", "hi"):
        probe = probe_from_table(lang, "choice", pq.read_table(tmp_path / f"cloze.{lang}.parquet"))
        assert len(probe.items) > 900


def test_shard_keeps_the_sentences_tag_shard_holds_out(tmp_path):
    """A probe built with --shard 0/5 holds exactly the sentences `cstool tag --shard 0/5` puts in the dev set,
    so a benchmark can probe on sentences it never trains on."""
    import pyarrow.parquet as pq

    from cstool.stages import tag
    from cstool.stages.tag import TagConfig

    en = shared_file("ud/en_pud-ud-test.conllu")
    hi = shared_file("ud/hi_pud-ud-test.conllu")
    main([str(en), str(hi), str(tmp_path), "--shard", "0/5"])
    pairs = pq.read_table(tmp_path / "translation.parquet")
    tag.run(TagConfig(lang="hi", shard="0/5"), input=str(hi), output=str(tmp_path / "dev.parquet"), quiet=True)
    dev = pq.read_table(tmp_path / "dev.parquet")
    assert pairs.num_rows == dev.num_rows == 200
    assert pairs.column("target").to_pylist() == dev.column("text").to_pylist()
    cloze = pq.read_table(tmp_path / "cloze.hi.parquet")
    assert set(cloze.column("id").to_pylist()) <= set(dev.column("id").to_pylist())
    assert 150 < cloze.num_rows <= 200
    main([str(hi), str(tmp_path / "one"), "--shard", "1/5"])  # one treebank: cloze only
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["cloze.hi.parquet"]
