"""Cost grows with the input, not faster: the lexicon loader is linear in the senses of one word, and tag
tags an over-long line in bounded pieces, so its memory does not grow with the length of the line."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cstool.stages.tag import MAX_PIECE_TOKENS, WORDS_PER_CALL, _stanza_words
from cstool.text.lexicon import load_lexicon
from cstool.text.tokenize import text_pieces, token_pieces, tokenize

CSTOOL = str(Path(sys.executable).with_name("cstool"))
WORDS = "this red book sees the tree . He sings quietly in a dog .".split()


def _senses(path: Path, n: int) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        f.write("source\ttarget\tupos\n" + "".join(f"घर\thouse{i}\tNOUN\n" for i in range(n)))
    return path


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def test_lexicon_loading_is_linear_in_senses_per_word(tmp_path):
    small, large = _senses(tmp_path / "s.tsv", 5_000), _senses(tmp_path / "l.tsv", 40_000)
    t_small = min(_seconds(lambda: load_lexicon(small)) for _ in range(3))
    t_large = min(_seconds(lambda: load_lexicon(large)) for _ in range(2))
    lex = load_lexicon(large)
    assert len(lex) == 40_000 and len(lex.targets) >= 40_000
    # 8× the senses: about 8× the time when linear, 64× when quadratic (as it was: 20 k senses took 8.5 s)
    assert t_large < 20 * t_small + 0.5, (t_small, t_large)


@pytest.mark.parametrize("n", [0, 1, 999, 1000, 1001, 2500])
def test_token_pieces_are_bounded_and_keep_every_token(n):
    tokens = [f"w{i}" for i in range(n)]
    pieces = token_pieces(tokens, MAX_PIECE_TOKENS)
    assert all(1 <= len(p) <= MAX_PIECE_TOKENS for p in pieces)
    assert [t for p in pieces for t in p] == tokens


@pytest.mark.parametrize("text", ["", "short", "a b " * 4000, "x" * 25_000, "नमस्ते दुनिया " * 2000 + "y" * 12_000])
def test_text_pieces_are_bounded_cut_at_whitespace_and_keep_every_character(text):
    pieces = text_pieces(text, 10_000)
    assert "".join(pieces) == text
    assert all(1 <= len(p) <= 10_000 for p in pieces)
    assert all(p[-1].isspace() or len(p) == 10_000 or i == len(pieces) - 1 for i, p in enumerate(pieces))


class _Watch:
    """The real Stanza pipeline, with the longest sentence and the most words it was given in one call."""

    def __init__(self, pipeline):
        self.pipeline, self.longest, self.most = pipeline, 0, 0

    def __call__(self, sentences):
        self.longest = max([self.longest, *map(len, sentences)])
        self.most = max(self.most, sum(map(len, sentences)))
        return self.pipeline(sentences)


def test_a_long_line_reaches_stanza_in_bounded_pieces_and_comes_back_whole(tagger):
    from cstool.models import stanza_pipelines

    pipeline = _Watch(
        stanza_pipelines.load_stanza_pipeline(tagger["lang"], pos_model=tagger["path"], pretokenized=True)
    )
    long_line = " ".join(WORDS[i % len(WORDS)] for i in range(25_000))
    texts = ["the tree .", long_line]
    results = _stanza_words(pipeline, texts, [tokenize(t) for t in texts])
    assert [r[0] for r in results] == [tokenize(t) for t in texts]
    assert all(len(r[1]) == len(r[0]) and None not in r[1] for r in results)
    assert pipeline.longest == MAX_PIECE_TOKENS and pipeline.most <= WORDS_PER_CALL


def _peak_rss_kb(argv: list[str]) -> int:
    """Peak resident memory of ``argv`` run as a child of a fresh Python (so the measure is its own)."""
    code = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "assert r.returncode == 0, r.stderr.decode()\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def test_memory_of_tag_does_not_grow_with_the_length_of_a_line(tagger, tmp_path):
    """A line of 60,000 tokens costs about what a line of 2,000 does (tagged whole, it took ~1 GB more)."""
    peaks = {}
    for n in (2_000, 60_000):
        path = tmp_path / f"line{n}.txt"
        path.write_text(" ".join(WORDS[i % len(WORDS)] for i in range(n)) + "\n", encoding="utf-8")
        out = tmp_path / f"out{n}.parquet"
        argv = [CSTOOL, "-q", "tag", str(path), "--lang", tagger["lang"], "--pos-model", str(tagger["path"])]
        peaks[n] = _peak_rss_kb([*argv, "-o", str(out)])
        assert len(pq.read_table(out).column("upos")[0].as_py()) == n
    assert peaks[60_000] - peaks[2_000] < 400 * 1024, peaks
