"""cstool lexicon streams: memory does not grow with the number of sentence pairs."""

from __future__ import annotations

import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cstool.base.errors import CstoolError
from cstool.io.artifacts import TAGGED
from cstool.stages.lexicon import LexiconConfig, iter_pairs, run
from cstool.text import induction
from tests.stages.test_lexicon_stage import known_links, parallel, read_tsv


def _sides(tmp_path, n: int, *, ordered: bool = True):
    s, t = parallel(n, seed=n)
    if ordered:  # the target in source id order (parallel() shuffles it)
        order = {r["id"]: k for k, r in enumerate(s.to_pylist())}
        t = pa.Table.from_pylist(sorted(t.to_pylist(), key=lambda r: order[r["id"]]), schema=TAGGED)
    paths = tmp_path / f"s{n}.parquet", tmp_path / f"t{n}.parquet"
    pq.write_table(s, paths[0])
    pq.write_table(t, paths[1])
    return paths


def _peak_while_pairing(paths) -> tuple[int, int]:
    tracemalloc.start()
    try:
        n = sum(1 for _ in iter_pairs(str(paths[0]), str(paths[1]), pair_by="id", upos_counts=({}, {})))
        return n, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_pairing_memory_does_not_grow_with_the_pairs(tmp_path):
    # 4x the pairs, the same peak (one batch of each side, the vocabulary-sized UPOS tallies): a reader that
    # kept every row would need about 4x.
    n_small, small = _peak_while_pairing(_sides(tmp_path, 2048))
    n_big, big = _peak_while_pairing(_sides(tmp_path, 8192))
    assert (n_small, n_big) == (2048, 8192)
    assert big < 1.5 * small, (small, big)


def test_frozen_tables_give_the_links_of_training(tmp_path):
    from nltk.translate import AlignedSent, IBMModel2

    paths = _sides(tmp_path, 40)
    pairs = list(iter_pairs(str(paths[0]), str(paths[1]), pair_by="id"))
    bitext = [AlignedSent(list(s.words), list(t.words)) for s, t in pairs]
    IBMModel2(bitext, 5)  # aligns the corpus it was trained on
    trained = induction._train([(s.words, t.words) for s, t in pairs], "ibm2", 5)
    for (s, t), sent in zip(pairs, bitext):
        assert induction._viterbi(trained, s.words, t.words) == {(i, j) for i, j in sent.alignment if j is not None}
    before = len(trained.translation_table)
    induction._viterbi(trained, ("unseen", "words", "here"), ("nie", "viditaj", "vortoj", "ĉi", "tie", "."))
    assert len(trained.translation_table) == before  # reading an unseen word stores nothing


def test_a_sample_smaller_than_the_corpus_still_recovers_the_alignments(tmp_path):
    paths = _sides(tmp_path, 120)
    out = tmp_path / "lex.tsv"
    result = run(LexiconConfig(align_train_pairs=40), source=str(paths[0]), target=str(paths[1]), output=str(out))
    assert result.pairs == 120  # all pairs aligned and counted, 40 of them trained on
    got = {(r["source"], r["target"], r["upos"]) for r in read_tsv(out)}
    assert got == known_links()


def test_sides_out_of_order_beyond_the_window_are_one_line_errors(tmp_path):
    paths = _sides(tmp_path, 30, ordered=False)  # parallel() shuffles the target
    run(LexiconConfig(pair_window=30), source=str(paths[0]), target=str(paths[1]), output=str(tmp_path / "a.tsv"))
    with pytest.raises(CstoolError, match="--pair-window 2"):
        run(LexiconConfig(pair_window=2), source=str(paths[0]), target=str(paths[1]), output=str(tmp_path / "b.tsv"))
    assert not (tmp_path / "b.tsv").exists()
