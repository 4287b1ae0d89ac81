from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cstool.base.errors import ConfigError
from cstool.cli import app
from cstool.io.artifacts import SWITCHED, TAGGED, schema_provenance
from cstool.stages.switch import (
    SwitchConfig,
    parse_curriculum,
    switch_batches,
    switch_table,
)
from cstool.text.cs_stats import cmi_and_switch_points, fit_profile, js_divergence
from cstool.text.lexicon import load_lexicon
from tests.conftest import shared_file

DATA = Path(__file__).resolve().parents[1] / "data"
LEX = DATA / "switch_lexicon.tsv"
CSTOOL = str(Path(sys.executable).with_name("cstool"))
ROWS = [  # id, tokens, upos, lemmas
    ("s1", ["मैं", "घर", "जाता", "हूँ", "।"], ["PRON", "NOUN", "VERB", "AUX", "PUNCT"], ["मैं", "घर", "जाना", "है", "।"]),
    ("s2", ["लाल", "किला", "बड़ा", "है"], ["PROPN", "PROPN", "ADJ", "AUX"], ["लाल", "किला", "बड़ा", "है"]),
    ("s3", ["रेलगाड़ी", "अच्छा", "चल", "रही", "है"], ["NOUN", "ADV", "NOUN", "AUX", "AUX"], None),
    ("s4", ["DOG", "किताब", "में", "3"], ["NOUN", "NOUN", "ADP", "NUM"], ["dog", "किताब", "में", "3"]),
]


def tagged(rows=ROWS) -> pa.Table:
    return pa.table(
        {
            "id": [r[0] for r in rows],
            "text": [" ".join(r[1]) for r in rows],
            "tokens": [r[1] for r in rows],
            "upos": [r[2] for r in rows],
            "lemmas": [r[3] for r in rows],
            "lang": ["hi"] * len(rows),
        },
        schema=TAGGED,
    )


def synthetic(n: int, seed: int = 0) -> pa.Table:
    """Many rows drawn from the fixture vocabulary (every UPOS mixed), with distinct ids."""
    vocab = [(t, u) for r in ROWS for t, u in zip(r[1], r[2])]
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        pick = [vocab[j] for j in rng.integers(0, len(vocab), rng.integers(3, 15))]
        rows.append((f"r{i}", [t for t, _ in pick], [u for _, u in pick], None))
    return tagged(rows)


@pytest.fixture(scope="module")
def lex():
    return load_lexicon(LEX)


def run(lex, table=None, **options) -> list[dict]:
    return switch_table(
        table if table is not None else tagged(), lexicon=lex, config=SwitchConfig(**options)
    ).to_pylist()


def test_ratio_one_switches_every_eligible_unit(lex):
    out = run(lex, ratio=1.0, pos="NOUN,ADJ,VERB,ADV,PROPN")
    s1, s2, s3, s4 = out
    assert (
        s1["tokens_cs"][0] == "मैं"
        and s1["tokens_cs"][1] in ("house", "home")
        and s1["tokens_cs"][2:] == ["goes", "हूँ", "।"]
    )
    assert s1["switched"] == [False, True, True, False, False] and s1["n_switched"] == 2 and s1["n_eligible"] == 2
    # A phrase source replaces two tokens with one entry; the record keeps the phrase.
    assert s2["tokens_cs"] == ["Red", "Fort", "big", "है"]
    assert s2["switched"] == [True, True, True, False]
    assert s2["switch_src"] == ["लाल किला", "बड़ा"] and s2["switch_tgt"] == ["Red Fort", "big"]
    # A multi-word target gives two tokens; the NOUN-tagged verb entry is used without --strict-pos.
    assert s3["tokens_cs"] == ["train", "car", "well", "walk", "रही", "है"]
    assert s3["switch_src"] == ["रेलगाड़ी", "अच्छा", "चल"] and s3["switch_tgt"] == ["train car", "well", "walk"]
    assert s3["text_cs"] == "train car well walk रही है"
    assert s4["tokens_cs"] == ["dog", "book", "में", "3"]  # ADP not chosen: में stays
    assert all(r["cs_ratio"] == 1.0 and r["cs_epoch"] == 0 and r["strategy"] == "pos" for r in out)


def test_exact_output_for_a_fixed_seed(lex):
    table = synthetic(6, seed=3)
    out = run(lex, table, ratio=0.5, seed=7)
    got = [(r["id"], [i for i, s in enumerate(r["switched"]) if s], r["switch_tgt"]) for r in out]
    assert got == EXPECTED_SEED7
    again = run(lex, table, ratio=0.5, seed=7)
    assert again == out
    other = run(lex, table, ratio=0.5, seed=8)
    assert [r["switched"] for r in other] != [r["switched"] for r in out]


# Reviewed by hand: only NOUN/ADJ/VERB/ADV units with lexicon entries switch, both senses of घर occur.
EXPECTED_SEED7 = [
    ("r0", [0, 8, 10], ["home", "house", "big"]),
    ("r1", [1, 5], ["goes", "goes"]),
    ("r2", [0, 1, 2, 3, 12], ["train car", "big", "big", "walk", "walk"]),
    ("r3", [1], ["book"]),
    ("r4", [3], ["well"]),
    ("r5", [], []),
]


def test_cmi_and_switch_points_by_hand(lex):
    # s1 at ratio 1: मैं(hi) X(en) goes(en) हूँ(hi) ।(neutral): n-u = 4, max lang = 2 → CMI 50, 2 switch points.
    s1 = run(lex, ratio=1.0)[0]
    assert s1["cmi"] == pytest.approx(50.0) and s1["switch_points"] == 2
    lang = np.array([0, 1, 1, -1, 0, 0, 1])
    cmi, points = cmi_and_switch_points(lang, np.array([1, 2, 0, 1, 1, 1, 1]), np.array([0, 0, 0, 0, 1, 1, 1]), 2)
    assert cmi.tolist() == pytest.approx([100 * (1 - 2 / 3), 100 * (1 - 2 / 3)]) and points.tolist() == [1, 1]


def test_only_chosen_upos_switch_under_pos(lex):
    out = run(lex, synthetic(400), ratio=0.8, pos="NOUN,VERB")
    switched_upos = {u for r in out for u, s in zip(r["upos"], r["switched"]) if s}
    assert switched_upos == {"NOUN", "VERB"}


def test_weights_scale_and_zero_weight_blocks(lex):
    out = run(lex, synthetic(300), ratio=1.0, weights="NOUN=0,ADJ=0.5")
    upos = [u for r in out for u, s in zip(r["upos"], r["switched"]) if s]
    assert "NOUN" not in upos and "VERB" in upos
    adj = [s for r in out for u, s in zip(r["upos"], r["switched"]) if u == "ADJ"]
    assert 0.4 < sum(adj) / len(adj) < 0.6


def test_random_matches_pos_switch_count_and_is_pos_blind(lex):
    table = synthetic(3000, seed=1)
    pos = run(lex, table, ratio=0.3)
    rnd = run(lex, table, ratio=0.3, strategy="random")
    n_pos, n_rnd = sum(r["n_switched"] for r in pos), sum(r["n_switched"] for r in rnd)
    sigma = np.sqrt(n_pos + n_rnd)  # Bernoulli sums: variance ≤ mean
    assert abs(n_pos - n_rnd) < 4 * sigma, (n_pos, n_rnd)
    assert {u for r in rnd for u, s in zip(r["upos"], r["switched"]) if s} >= {"ADP", "AUX", "NOUN"}


def test_strict_pos_never_maps_noun_to_verb_entry(lex):
    s3_loose = run(lex, ratio=1.0)[2]
    s3_strict = run(lex, ratio=1.0, strict_pos=True)[2]
    assert "walk" in s3_loose["switch_tgt"]
    assert "walk" not in s3_strict["switch_tgt"] and s3_strict["switched"][2] is False


def test_none_strategy_passes_through(lex):
    out = run(lex, strategy="none", ratio=1.0)
    assert all(r["tokens_cs"] == r["tokens"] and not any(r["switched"]) and r["n_eligible"] == 0 for r in out)


def test_deterministic_across_batch_sizes_shards_and_order(lex):
    table = synthetic(200, seed=5)
    config = SwitchConfig(ratio=0.4, strategy="random", sentence_rate=0.7, seed=11)
    full = switch_table(table, lexicon=lex, config=config)
    for size in (1, 7, 64):
        out = pa.Table.from_batches(
            list(switch_batches(iter(table.to_batches(max_chunksize=size)), lexicon=lex, config=config))
        )
        assert out.equals(full)
    by_id = {r["id"]: r for r in full.to_pylist()}
    for k in range(3):
        shard = switch_table(
            table,
            lexicon=lex,
            config=SwitchConfig(ratio=0.4, strategy="random", sentence_rate=0.7, seed=11, shard=f"{k}/3"),
        )
        assert shard.num_rows == len(range(k, 200, 3))
        assert all(r == by_id[r["id"]] for r in shard.to_pylist())
    reversed_ = switch_table(table.take(pa.array(range(199, -1, -1))), lexicon=lex, config=config)
    assert all(r == by_id[r["id"]] for r in reversed_.to_pylist())


def test_curriculum_emits_one_variant_per_epoch(lex):
    assert parse_curriculum("linear:0.5:0.0:3") == (0.5, 0.25, 0.0)
    assert parse_curriculum("const:0.2:2") == (0.2, 0.2) and parse_curriculum("list:0.3,0.1") == (0.3, 0.1)
    out = run(lex, synthetic(50), curriculum="linear:0.5:0.0:3")
    assert len(out) == 150
    assert [(r["cs_epoch"], r["cs_ratio"]) for r in out[:3]] == [(0, 0.5), (1, 0.25), (2, 0.0)]
    assert [r["id"] for r in out[:6]] == ["r0"] * 3 + ["r1"] * 3
    assert all(r["n_switched"] == 0 for r in out if r["cs_epoch"] == 2)
    assert (
        sum(r["n_switched"] for r in out if r["cs_epoch"] == 0)
        > sum(r["n_switched"] for r in out if r["cs_epoch"] == 1)
        > 0
    )


def test_config_collects_every_problem():
    with pytest.raises(ConfigError) as e:
        SwitchConfig(ratio=1.5, pos="NOUN,NOUNS", curriculum="linear:0.5", strategy="pos2", weights="ADJ=-1")
    msg = e.value.message
    for part in ("--ratio", "NOUNS", "--curriculum", "--strategy", "--weights"):
        assert part in msg
    with pytest.raises(ConfigError, match="not both"):
        SwitchConfig(weights="NOUN=1", profile="x.conllu")
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        SwitchConfig(curriculum="linear:2:0:3")


def test_js_divergence_and_profile_fit(tmp_path):
    assert js_divergence([1, 2, 0], [2, 4, 0]) == pytest.approx(0.0)
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)
    conllu = tmp_path / "cs.conllu"
    sents = [
        [("NOUN", "en"), ("ADP", "hi"), ("VERB", "hi"), ("PUNCT", "univ")],
        [("NOUN", "hi"), ("ADJ", "en"), ("VERB", "hi"), ("AUX", "hi")],
        [("NOUN", "en"), ("VERB", "en"), ("ADJ", "en"), ("ADP", "hi")],
    ]  # English-matrix: not used
    conllu.write_text(
        "\n".join(
            "".join(f"{i}\t_\t_\t{u}\t_\t_\t0\troot\t_\t{lang}\n" for i, (u, lang) in enumerate(s, 1)) for s in sents
        )
        + "\n"
    )
    prof = fit_profile(conllu, target_lang="en", pos=("NOUN", "ADJ", "VERB"))
    assert prof.source_lang == "hi" and prof.sentences == 2
    assert prof.rates["NOUN"] == 0.5 and prof.rates["ADJ"] == 1.0 and prof.rates["VERB"] == 0.0
    assert prof.weights["NOUN"] == 0.5 and prof.weights["ADJ"] == 1.0 and prof.weights["PRON"] == 0.0


# ---------------------------------------------------------------------------------------------------------
# The command line


@pytest.fixture()
def tagged_file(tmp_path) -> Path:
    path = tmp_path / "in.parquet"
    pq.write_table(tagged(), path)
    return path


def _cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_cli_writes_output_stats_and_provenance(tagged_file, tmp_path):
    out, stats = tmp_path / "out.parquet", tmp_path / "stats.parquet"
    code, text = _cli(
        "switch", tagged_file, "--lexicon", LEX, "-o", out, "--ratio", "1", "--stats", stats, "--seed", "3"
    )
    assert code == 0, text
    table = pq.read_table(out)
    assert table.schema.remove_metadata().equals(SWITCHED)
    prov = schema_provenance(table.schema)
    assert prov["stage"] == "switch" and prov["seed"] == 3 and prov["options"]["lexicon"]["entries"] == 14
    st = pq.read_table(stats).to_pylist()
    total = next(r for r in st if r["upos"] == "ALL")
    assert (
        total["switched"]
        == sum(table.column("n_switched").to_pylist())
        == sum(r["switched"] for r in st if r["upos"] != "ALL")
    )
    assert "switch: per UPOS" in text


@pytest.mark.parametrize(
    "args, message",
    [
        (["--ratio", "1.5"], "--ratio must lie in [0, 1]"),
        (["--pos", "NOUN,FOO"], "unknown UPOS FOO"),
        (["--curriculum", "linear:0.5:x:3"], "--curriculum"),
        (["--profile", "{tiny}"], "no per-token language ids"),
        (["--lexicon", "{empty}"], "has no entries"),
        (["--lexicon", "{latin}"], "the lexicon's source side is LATIN script, but only 6.2 % of the input's words"),
        (["--lexicon", "{nomatch}"], "coverage is 0 %"),
        (["--lexicon", "{function_words}"], "nothing was switched: 4 of 18 input tokens are in"),
        (["--input", "{untagged}"], "switch needs columns [id, tokens, upos]"),
    ],
)
def test_cli_bad_inputs_exit_2_without_output(tagged_file, tmp_path, args, message):
    (tmp_path / "empty.tsv").write_text("source\ttarget\n")
    (tmp_path / "latin.tsv").write_text("house\tmaison\n")
    (tmp_path / "nomatch.tsv").write_text("कुत्ता\tdog\n")
    (tmp_path / "function_words.tsv").write_text("में\tin\nहै\tis\n")
    pq.write_table(pa.table({"id": ["1"], "text": ["घर"]}), tmp_path / "untagged.parquet")
    subst = {
        "{tiny}": str(DATA / "tiny_en.conllu"),
        "{empty}": str(tmp_path / "empty.tsv"),
        "{latin}": str(tmp_path / "latin.tsv"),
        "{nomatch}": str(tmp_path / "nomatch.tsv"),
        "{function_words}": str(tmp_path / "function_words.tsv"),
        "{untagged}": str(tmp_path / "untagged.parquet"),
    }
    args = [subst.get(a, a) for a in args]
    source = args[1] if args[0] == "--input" else tagged_file
    options = {"--lexicon": str(LEX)}
    if args[0] in ("--lexicon",):
        options["--lexicon"] = args[1]
    elif args[0] != "--input":
        options[args[0]] = args[1]
    out = tmp_path / "out.parquet"
    code, text = _cli("switch", source, *[x for kv in options.items() for x in kv], "-o", out)
    assert code == 2, text
    assert message in " ".join(text.split()) and "hint:" in text and "Traceback" not in text
    assert not out.exists() and not list(tmp_path.glob(".out.parquet*"))


def test_cli_allow_empty_writes_with_zero_coverage(tagged_file, tmp_path):
    (tmp_path / "latin.tsv").write_text("house\tmaison\n")
    code, text = _cli(
        "switch", tagged_file, "--lexicon", tmp_path / "latin.tsv", "-o", tmp_path / "o.parquet", "--allow-empty"
    )
    assert code == 0 and "coverage is 0 %" in text and pq.read_table(tmp_path / "o.parquet").num_rows == 4


def test_wrong_direction_lexicon_is_refused_though_some_tokens_match(tagged_file, tmp_path):
    """An en→hi lexicon on Hindi text: 'dog' matches the row with an English word, so coverage is not 0 %."""
    lexicon = tmp_path / "en-hi.tsv"
    lexicon.write_text("source\ttarget\tupos\ndog\tकुत्ता\tNOUN\nhouse\tघर\tNOUN\nbook\tकिताब\tNOUN\n")
    out = tmp_path / "o.parquet"
    code, text = _cli("-q", "switch", tagged_file, "--lexicon", lexicon, "-o", out, "--ratio", "1")
    flat = " ".join(text.split())
    assert code == 2 and "source side is LATIN script, but only 6.2 % of the input's words are" in flat, text
    assert "they are mostly DEVANAGARI" in flat
    assert "source = input language, target = en" in flat and not out.exists()
    code, text = _cli("switch", tagged_file, "--lexicon", lexicon, "-o", out, "--ratio", "1", "--allow-empty")
    assert code == 0 and "LATIN script" in text and pq.read_table(out).num_rows == 4


def test_a_corpus_that_mixes_scripts_passes_the_script_check(tmp_path):
    rows = [*ROWS, ("e1", ["the", "house", "is", "big"], ["DET", "NOUN", "AUX", "ADJ"], None)] * 1
    rows += [
        (f"e{i}", ["a", "red", "dog", "runs", "home"], ["DET", "ADJ", "NOUN", "VERB", "NOUN"], None) for i in (2, 3)
    ]
    pq.write_table(tagged(rows), tmp_path / "mixed.parquet")  # mostly Latin words, 15 of 30 Devanagari
    code, text = _cli(
        "switch", tmp_path / "mixed.parquet", "--lexicon", LEX, "-o", tmp_path / "o.parquet", "--ratio", "1"
    )
    assert code == 0 and "script" not in text, text


def test_nothing_switched_is_refused_unless_allowed(tagged_file, tmp_path):
    lexicon = tmp_path / "function_words.tsv"
    lexicon.write_text("में\tin\nहै\tis\n")  # in the lexicon, but ADP/AUX: not among the default --pos
    out = tmp_path / "o.parquet"
    code, text = _cli("-q", "switch", tagged_file, "--lexicon", lexicon, "-o", out)
    assert code == 2 and "nothing was switched" in text and "0 of them eligible" in " ".join(text.split())
    assert not out.exists()
    code, text = _cli("switch", tagged_file, "--lexicon", lexicon, "-o", out, "--allow-empty")
    assert code == 0 and "nothing was switched" in text
    assert sum(pq.read_table(out).column("n_switched").to_pylist()) == 0
    # asking for no switches is not a mistake
    code, text = _cli("switch", tagged_file, "--lexicon", lexicon, "-o", out, "--strategy", "none")
    assert code == 0 and "nothing was switched" not in text, text
    code, text = _cli("switch", tagged_file, "--lexicon", lexicon, "-o", out, "--pos", "ADP", "--ratio", "1")
    assert code == 0 and sum(pq.read_table(out).column("n_switched").to_pylist()) == 1, text


def test_pipe_tag_to_switch_through_stdin_stdout(tmp_path):
    conllu = tmp_path / "hi.conllu"
    conllu.write_text(
        "".join(
            f"# sent_id = {r[0]}\n"
            + "".join(
                f"{i}\t{t}\t{lem or t}\t{u}\t_\t_\t0\troot\t_\t_\n"
                for i, (t, u, lem) in enumerate(zip(r[1], r[2], r[3] or [None] * 9), 1)
            )
            + "\n"
            for r in ROWS
        )
    )
    tag = subprocess.Popen([CSTOOL, "tag", str(conllu), "--lang", "hi", "-o", "-"], stdout=subprocess.PIPE)
    sw = subprocess.run(
        [CSTOOL, "-q", "switch", "-", "--lexicon", str(LEX), "--ratio", "1", "-o", "-"],
        stdin=tag.stdout,
        capture_output=True,
        check=True,
    )
    tag.stdout.close()
    assert tag.wait() == 0
    piped = ipc.open_stream(io.BytesIO(sw.stdout)).read_all()
    subprocess.run(
        [CSTOOL, "tag", str(conllu), "--lang", "hi", "-o", str(tmp_path / "t.parquet")], check=True, capture_output=True
    )
    subprocess.run(
        [
            CSTOOL,
            "-q",
            "switch",
            str(tmp_path / "t.parquet"),
            "--lexicon",
            str(LEX),
            "--ratio",
            "1",
            "-o",
            str(tmp_path / "s.parquet"),
        ],
        check=True,
        capture_output=True,
    )
    from_files = pq.read_table(tmp_path / "s.parquet")
    assert piped.num_rows == 4
    for col in ("tokens_cs", "switched", "switch_src", "switch_tgt", "cmi"):
        assert piped.column(col).to_pylist() == from_files.column(col).to_pylist()


# ---------------------------------------------------------------------------------------------------------
# Real data


@pytest.fixture(scope="module")
def pud():
    from cstool.stages.tag import TagConfig, tag_batches
    from cstool.text.corpus import read_input

    path = shared_file("ud/hi_pud-ud-test.conllu")
    batches, _ = read_input(str(path), TagConfig(lang="hi"))
    return pa.Table.from_batches(list(tag_batches(batches, config=TagConfig(lang="hi"))))


def test_hindi_pud_with_wiktionary(pud):
    lex = load_lexicon(shared_file("lexicons/hi-en.wiktionary.tsv"))
    out = switch_table(pud, lexicon=lex, config=SwitchConfig(ratio=0.5)).to_pylist()
    assert sum(r["n_switched"] for r in out) > 2000
    for r in out:  # outside the chosen UPOS, only inner tokens of a phrase (which takes its last token's UPOS)
        off = sum(s and u not in ("NOUN", "ADJ", "VERB", "ADV") for u, s in zip(r["upos"], r["switched"]))
        assert off <= sum(len(src.split()) - 1 for src in r["switch_src"]), r["id"]
    strict = switch_table(pud, lexicon=lex, config=SwitchConfig(ratio=1.0, strict_pos=True)).to_pylist()
    entries = {(s, u) for s, _, u in (line.split("\t")[:3] for line in lex_lines())}
    checked = 0
    for r in strict:  # units in order: a one-token unit under --strict-pos has an entry with its own UPOS
        positions = iter(i for i, s in enumerate(r["switched"]) if s)
        for src in r["switch_src"]:
            units = [next(positions) for _ in src.split(" ")]
            if len(units) == 1:
                form, lemma, upos = r["tokens"][units[0]], r["lemmas"][units[0]], r["upos"][units[0]]
                assert (form, upos) in entries or (lemma, upos) in entries or (form.lower(), upos) in entries
                checked += 1
    assert checked > 2000


def lex_lines():
    return shared_file("lexicons/hi-en.wiktionary.tsv").read_text().splitlines()[1:]


def test_profile_fitted_from_hiencs_is_closer_than_random(pud, tmp_path):
    profile = shared_file("ud/qhe_hiencs-ud-train.conllu")
    lexicon = shared_file("lexicons/hi-en.wiktionary.tsv")
    src = tmp_path / "pud.parquet"
    pq.write_table(pud, src)
    js, counts = {}, {}
    for strategy in ("pos", "random"):
        stats = tmp_path / f"{strategy}.stats.parquet"
        code, text = _cli(
            "-q",
            "switch",
            src,
            "--lexicon",
            lexicon,
            "--profile",
            profile,
            "--strategy",
            strategy,
            "--ratio",
            "0.5",
            "-o",
            tmp_path / f"{strategy}.parquet",
            "--stats",
            stats,
        )
        assert code == 0, text
        total = next(r for r in pq.read_table(stats).to_pylist() if r["upos"] == "ALL")
        js[strategy], counts[strategy] = total["js_divergence"], total["switched"]
    assert js["pos"] + 0.03 < js["random"], js
    assert abs(counts["pos"] - counts["random"]) < 4 * np.sqrt(counts["pos"] + counts["random"]), counts
