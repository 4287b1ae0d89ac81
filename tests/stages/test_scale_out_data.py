"""Data stages as job arrays (docs/scale-out.md): ``tag`` and ``switch`` run with ``--shard i/n`` into a folder,
the next stage reads the folder as one artifact, and the result equals the unsharded pipeline: the same rows,
in the folder's order (shard 0's rows, then shard 1's) instead of the input's."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cstool.io import artifacts
from cstool.io.conllu import read_conllu

from .conftest import invoke

N = 2
SWITCH_POS = ("NOUN", "ADJ", "VERB", "ADV")


def _ok(*args) -> None:
    code, output = invoke(*args)
    assert code == 0, output


def _rows(spec: Path) -> list[dict]:
    return artifacts.open_source(spec).read_all().to_pylist()


def _lexicon(tagged: Path, path: Path) -> Path:
    """A lexicon for the words the tagger put in SWITCH_POS (targets marked, so a switch is visible)."""
    entries = {}
    for row in _rows(tagged):
        for token, upos in zip(row["tokens"], row["upos"], strict=True):
            if upos in SWITCH_POS:
                entries.setdefault((token, upos), f"{token}·x")
    assert entries
    path.write_text(
        "source\ttarget\tupos\n" + "".join(f"{s}\t{t}\t{u}\n" for (s, u), t in entries.items()), encoding="utf-8"
    )
    return path


def test_sharded_tag_switch_teacher_cache_equal_the_unsharded_pipeline(tmp_path, tagger, tiny_lm):
    corpus = tmp_path / "corpus.txt"
    sentences = [" ".join(s.forms) for s in read_conllu(tagger["dev"] or tagger["train"])][:30]
    corpus.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    tag = ["tag", corpus, "--lang", tagger["lang"], "--pos-model", tagger["path"]]
    cache = ["--teacher", tiny_lm, "--text-column", "text_cs", "--block-size", "24", "--top-k", "4", "--device", "cpu"]

    # one process, the whole corpus
    whole = tmp_path / "whole"
    _ok(*tag, "-o", whole / "tagged.parquet")
    lexicon = _lexicon(whole / "tagged.parquet", tmp_path / "lexicon.tsv")
    switch = ["--lexicon", lexicon, "--target-lang", "xx", "--ratio", "0.5"]
    _ok("switch", whole / "tagged.parquet", *switch, "-o", whole / "switched.parquet")
    _ok("teacher-cache", whole / "switched.parquet", *cache, "-o", whole / "cache.parquet")

    # a job array of N tasks per stage: each writes its shard into a folder the next stage reads
    for i in range(N):
        _ok(*tag, "--shard", f"{i}/{N}", "--workers", "2", "-o", tmp_path / "tagged" / f"part-{i:03d}.parquet")
    for i in range(N):
        _ok(
            "switch",
            tmp_path / "tagged",
            *switch,
            "--shard",
            f"{i}/{N}",
            "-o",
            tmp_path / "switched" / f"part-{i:03d}.parquet",
        )
    _ok("teacher-cache", tmp_path / "switched", *cache, "-o", tmp_path / "cache.parquet")

    # same rows; in the folder, shard 0's rows come first, then shard 1's
    for stage in ("tagged", "switched"):
        expected = _rows(whole / f"{stage}.parquet")
        got = _rows(tmp_path / stage)
        assert sorted(got, key=lambda r: int(r["id"])) == sorted(expected, key=lambda r: int(r["id"]))
    tagged_ids = [r["id"] for r in _rows(whole / "tagged.parquet")]
    assert [r["id"] for r in _rows(tmp_path / "tagged")] == tagged_ids[0::2] + tagged_ids[1::2]
    switched = _rows(tmp_path / "switched")
    assert sum(r["n_switched"] for r in switched) > 0
    # switch's shard i of the tagged folder: every other row of the folder's order
    folder_ids = [r["id"] for r in _rows(tmp_path / "tagged")]
    assert [r["id"] for r in switched] == folder_ids[0::2] + folder_ids[1::2]

    # teacher-cache reads the folder as one artifact, in file-name order: the cache equals the cache of one
    # file holding the folder's rows in that order
    in_order = tmp_path / "in_order.parquet"
    pq.write_table(pa.Table.from_pylist(switched), in_order)
    _ok("teacher-cache", in_order, *cache, "-o", tmp_path / "cache_in_order.parquet")
    assert pq.read_table(tmp_path / "cache.parquet").equals(pq.read_table(tmp_path / "cache_in_order.parquet"))
    prov = artifacts.read_provenance(tmp_path / "cache.parquet")
    assert [Path(r["path"]).name for r in prov["inputs"]] == [f"part-{i:03d}.parquet" for i in range(N)]
    # the same texts as the unsharded pipeline, so the same number of cached tokens
    assert pq.read_table(tmp_path / "cache.parquet").num_rows == pq.read_table(whole / "cache.parquet").num_rows

    # distill takes the folder with the cache made from it (the cache's inputs are the folder's files)
    student = ["--student-config", "llama:layers=1,hidden=32,heads=4,positions=64", "--max-steps", "2"]
    _ok(
        "distill",
        tmp_path / "switched",
        "--teacher-cache",
        tmp_path / "cache.parquet",
        *student,
        *("--text-column", "text_cs", "--block-size", "24", "--batch-size", "2", "--device", "cpu"),
        "-o",
        tmp_path / "student",
    )
    assert (tmp_path / "student" / "config.json").is_file()
    # eval scores the folder as one data set: the same texts give the same scores as the unsharded file
    scores = {}
    for name, data in (("whole", whole / "switched.parquet"), ("folder", tmp_path / "switched")):
        _ok(
            "eval",
            "--model",
            tiny_lm,
            "--data",
            f"x={data}",
            "--text-column",
            "text_cs",
            "--device",
            "cpu",
            "-o",
            tmp_path / f"eval_{name}.parquet",
        )
        rows = pq.read_table(tmp_path / f"eval_{name}.parquet").to_pylist()
        scores[name] = {r["metric"]: r["value"] for r in rows}
    assert scores["folder"].keys() == scores["whole"].keys() and scores["whole"]
    for metric, value in scores["whole"].items():
        assert scores["folder"][metric] == pytest.approx(value, rel=1e-5), metric
    # tag reads a folder too: gold tokens and tags are kept as they are
    _ok("tag", tmp_path / "tagged", "--lang", tagger["lang"], "-o", tmp_path / "again.parquet")
    assert _rows(tmp_path / "again.parquet") == _rows(tmp_path / "tagged")
