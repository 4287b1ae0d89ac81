from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cstool.base.errors import CstoolError
from cstool.io.artifacts import TAGGED, schema_provenance
from cstool.stages.lexicon import LexiconConfig, run
from cstool.text.lexicon import load_lexicon
from tests.conftest import shared_file
from tests.stages.conftest import assert_user_error, invoke

# A toy language pair: each source word has one translation with the same UPOS; the target language puts
# the verb last (source order: noun verb adj noun; target order: noun adj noun verb), so the aligner has
# to learn the mapping rather than read it off positions.
NOUNS = {"kato": "cat", "hundo": "dog", "domo": "house", "libro": "book", "akvo": "water", "pano": "bread"}
VERBS = {"vidas": "sees", "mangas": "eats", "havas": "has", "amas": "loves"}
ADJS = {"granda": "big", "ruga": "red", "nova": "new", "bona": "good"}
PROPER = {"Petro": "Peter"}  # PROPN on both sides: dropped unless --keep-proper
MIXED = {"urbo": "Paris"}  # NOUN on the source side, PROPN on the target side: a proper noun, dropped


def parallel(n: int = 60, seed: int = 0) -> tuple[pa.Table, pa.Table]:
    rng = random.Random(seed)
    src, tgt = [], []
    for i in range(n):
        subj = rng.choice(list(NOUNS) + list(PROPER) + list(MIXED))
        verb, adj, obj = rng.choice(list(VERBS)), rng.choice(list(ADJS)), rng.choice(list(NOUNS))
        s_tok = [subj, verb, adj, obj, "."]
        s_pos = ["PROPN" if subj in PROPER else "NOUN", "VERB", "ADJ", "NOUN", "PUNCT"]
        tr = {**NOUNS, **VERBS, **ADJS, **PROPER, **MIXED}
        t_tok = [tr[subj], tr[adj], tr[obj], tr[verb], "."]
        t_pos = ["PROPN" if subj in PROPER or subj in MIXED else "NOUN", "ADJ", "NOUN", "VERB", "PUNCT"]
        src.append(
            {"id": f"s{i}", "text": " ".join(s_tok), "tokens": s_tok, "upos": s_pos, "lemmas": None, "lang": "eo"}
        )
        tgt.append(
            {"id": f"s{i}", "text": " ".join(t_tok), "tokens": t_tok, "upos": t_pos, "lemmas": None, "lang": "en"}
        )
    rng.shuffle(tgt)  # paired by id, not by row
    return pa.Table.from_pylist(src, schema=TAGGED), pa.Table.from_pylist(tgt, schema=TAGGED)


@pytest.fixture(scope="module")
def sides(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("parallel")
    s, t = parallel()
    pq.write_table(s, root / "src.parquet")
    pq.write_table(t, root / "tgt.parquet")
    return root / "src.parquet", root / "tgt.parquet"


def read_tsv(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    head = lines[0].split("\t")
    return [dict(zip(head, line.split("\t"))) for line in lines[1:]]


def known_links() -> set[tuple[str, str, str]]:
    """The (source, target, UPOS) entries the made parallel text holds."""
    return (
        {(s, t, "NOUN") for s, t in NOUNS.items()}
        | {(s, t.lower(), "VERB") for s, t in VERBS.items()}
        | {(s, t, "ADJ") for s, t in ADJS.items()}
    )


def test_known_alignments_are_recovered_and_switch_reads_the_lexicon(sides, tmp_path):
    out = tmp_path / "lex.tsv"
    result = run(LexiconConfig(), source=str(sides[0]), target=str(sides[1]), output=str(out), coverage=str(sides[0]))
    got = {(r["source"], r["target"], r["upos"]) for r in read_tsv(out)}
    assert got == known_links()
    assert all(r["origin"] == "parallel" and float(r["score"]) >= 0.5 and int(r["count"]) >= 2 for r in read_tsv(out))
    assert result.dropped["links proper-noun"] > 0 and result.dropped["links noun-propn"] > 0
    lex = load_lexicon(out)  # the file switch --lexicon reads
    assert len(lex) == len(known_links())
    cov = pq.read_table(tmp_path / "lex.coverage.parquet")
    rows = {r["upos"]: r for r in cov.to_pylist()}
    assert rows["VERB"]["coverage"] == 1.0 and rows["ADJ"]["coverage"] == 1.0
    assert rows["PUNCT"]["covered"] == 0 and rows["PROPN"]["covered"] == 0
    assert rows["ALL"]["tokens"] == 5 * 60
    assert schema_provenance(cov.schema)["stage"] == "lexicon"


def test_intersection_and_ibm1_also_recover_the_verbs(sides, tmp_path):
    out = tmp_path / "lex.parquet"
    run(
        LexiconConfig(model="ibm1", symmetrise="intersection"),
        source=str(sides[0]),
        target=str(sides[1]),
        output=str(out),
    )
    table = pq.read_table(out)
    verbs = {(r["source"], r["target"]) for r in table.to_pylist() if r["upos"] == "VERB"}
    assert verbs == set(VERBS.items())
    assert schema_provenance(table.schema)["stage"] == "lexicon"


def test_dictionaries_are_filtered_merged_and_take_upos_from_the_parallel_text(sides, tmp_path):
    tsv = tmp_path / "dict.tsv"
    tsv.write_text(
        "source\ttarget\tupos\n"
        "kato\tcat\tNOUN\n"  # also induced: one entry, both origins
        "fiŝo\tfish\tNOUN\n"
        "radio\tradio\tNOUN\n"  # identical
        "42\tforty-two\tNUM\n"  # number
        "!\t!\tPUNCT\n"  # identical (checked first)
        "«\t“\tPUNCT\n"  # punctuation
        "Berlino\tBerlin\tPROPN\n",  # proper noun
        encoding="utf-8",
    )
    muse = tmp_path / "muse.txt"
    muse.write_text("vidas sees\nmanĝo meal\n", encoding="utf-8")
    out = tmp_path / "lex.tsv"
    result = run(
        LexiconConfig(),
        source=str(sides[0]),
        target=str(sides[1]),
        dictionaries=[str(tsv), str(muse)],
        output=str(out),
    )
    rows = {(r["source"], r["target"]): r for r in read_tsv(out)}
    assert rows[("kato", "cat")]["origin"] == "parallel+dict.tsv"
    assert rows[("fiŝo", "fish")]["origin"] == "dict.tsv" and rows[("fiŝo", "fish")]["score"] == ""
    assert rows[("vidas", "sees")]["upos"] == "VERB"  # MUSE pair: UPOS from the tagged parallel text
    assert rows[("vidas", "sees")]["origin"] == "parallel+muse.txt"
    assert rows[("manĝo", "meal")]["upos"] == ""  # unseen words keep no UPOS
    for reason, n in (("identical", 2), ("number", 1), ("punctuation", 1), ("proper-noun", 1)):
        assert result.dropped[f"dict.tsv {reason}"] == n, reason


def write(table: pa.Table, path: Path) -> Path:
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize(
    "case,expected",
    [
        ("unpaired", "ids do not pair up"),
        ("empty", "has no rows"),
        ("rows", "rows do not pair up"),
        ("duplicate", "more than once"),
    ],
)
def test_bad_inputs_are_one_line_errors_and_write_nothing(tmp_path, case, expected):
    s, t = parallel(10)
    if case == "unpaired":
        t = t.slice(0, 9)
    elif case == "empty":
        t = t.slice(0, 0)
    elif case == "duplicate":
        s = pa.concat_tables([s, s.slice(0, 1)])
    args = ["--pair-by", "row"] if case == "rows" else []
    if case == "rows":
        t = t.slice(0, 9)
    out = tmp_path / "lex.tsv"
    code, output = invoke(
        "lexicon",
        "--source",
        write(s, tmp_path / "s.parquet"),
        "--target",
        write(t, tmp_path / "t.parquet"),
        "--coverage",
        tmp_path / "s.parquet",
        "-o",
        out,
        *args,
    )
    assert_user_error(code, output, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.parquet", "t.parquet"]


def test_config_problems_are_collected():
    with pytest.raises(CstoolError) as e:
        LexiconConfig(model="ibm9", min_prob=2.0, min_count=0)
    assert "--model" in str(e.value) and "--min-prob" in str(e.value) and "--min-count" in str(e.value)


@pytest.mark.slow
def test_pud_pair_induced_lexicon_agrees_with_wiktionary(tmp_path):
    """The induced Hindi→English lexicon of the PUD pair against the Wiktionary lexicon (see bench/lexicon.py)."""
    hi_conllu = shared_file("ud/hi_pud-ud-test.conllu")
    en_conllu = shared_file("ud/en_pud-ud-test.conllu")
    wiki = shared_file("lexicons/hi-en.wiktionary.tsv")
    for lang, path in (("hi", hi_conllu), ("en", en_conllu)):
        code, output = invoke("tag", path, "--lang", lang, "-o", tmp_path / f"{lang}.parquet")
        assert code == 0, output
    out = tmp_path / "lex.tsv"
    run(LexiconConfig(), source=str(tmp_path / "hi.parquet"), target=str(tmp_path / "en.parquet"), output=str(out))
    induced: dict[str, set[str]] = {}
    for r in read_tsv(out):
        induced.setdefault(r["source"], set()).add(r["target"].lower())
    gold: dict[str, set[str]] = {}
    for r in read_tsv(wiki):
        gold.setdefault(r["source"], set()).add(r["target"].lower())
    shared = [s for s in induced if s in gold]
    hits = sum(bool(induced[s] & gold[s]) for s in shared)
    assert len(shared) >= 100 and hits / len(shared) >= 0.5


def test_docs_list_every_option():
    import dataclasses

    text = (Path(__file__).resolve().parents[2] / "docs" / "lexicon.md").read_text(encoding="utf-8")
    for f in dataclasses.fields(LexiconConfig):
        flag = f"`--{f.name.replace('_', '-')}`"
        assert flag in text, flag


def test_one_side_only_or_output_over_an_input_is_refused(sides, tmp_path):
    code, output = invoke("lexicon", "--target", sides[1], "-o", tmp_path / "lex.tsv")
    assert_user_error(code, output, "--source and --target go together")
    code, output = invoke("lexicon", "--source", sides[0], "--target", sides[1], "-o", sides[1])
    assert_user_error(code, output, "is also an input")
    assert not (tmp_path / "lex.tsv").exists()


def test_shards_induce_from_disjoint_pairs_and_merge_back(tmp_path):
    # Shard 0/2 sees the even source rows, shard 1/2 the odd ones: a word that occurs only in odd rows is in
    # shard 1's lexicon alone; the two shards' lexicons merged with --dictionary hold both.
    s, t = parallel(80)
    rows, tgt = s.to_pylist(), t.to_pylist()
    odd = {r["id"] for i, r in enumerate(rows) if i % 2}
    for row in rows:  # odd rows: "kato" is "felo", translated "kitty"
        if row["id"] in odd:
            row["tokens"] = ["felo" if w == "kato" else w for w in row["tokens"]]
    for row in tgt:
        if row["id"] in odd:
            row["tokens"] = ["kitty" if w == "cat" else w for w in row["tokens"]]
    src_path = write(pa.Table.from_pylist(rows, schema=TAGGED), tmp_path / "s.parquet")
    tgt_path = write(pa.Table.from_pylist(tgt, schema=TAGGED), tmp_path / "t.parquet")
    got = {}
    for i in (0, 1):
        out = tmp_path / f"lex{i}.tsv"
        result = run(LexiconConfig(shard=f"{i}/2"), source=src_path, target=tgt_path, output=str(out))
        assert result.pairs == 40
        got[i] = {(r["source"], r["target"]) for r in read_tsv(out)}
    assert ("felo", "kitty") in got[1] and not any(src == "felo" for src, _ in got[0])
    assert ("kato", "cat") in got[0]
    run(
        LexiconConfig(),
        dictionaries=[str(tmp_path / "lex0.tsv"), str(tmp_path / "lex1.tsv")],
        output=str(tmp_path / "all.tsv"),
    )
    merged = {(r["source"], r["target"]) for r in read_tsv(tmp_path / "all.tsv")}
    assert merged == got[0] | got[1]
    code, output = invoke(
        "lexicon", "--source", src_path, "--target", tgt_path, "--shard", "2/2", "-o", tmp_path / "x.tsv"
    )
    assert_user_error(code, output, "--shard")
    code, output = invoke(
        "lexicon", "--source", src_path, "--target", tgt_path, "--shard", "100/1000", "-o", tmp_path / "x.tsv"
    )
    assert_user_error(code, output, "holds no sentence pair")
    assert not (tmp_path / "x.tsv").exists()
