"""cstool tag and train-tagger with a real Stanza tagger trained offline once per run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cstool.base.errors import ConfigError, InputError, ModelNotFoundError
from cstool.cli import app
from cstool.io import artifacts
from cstool.io.conllu import read_conllu
from cstool.stages.tag import TagConfig, run
from cstool.stages.train_tagger import upos_accuracy
from cstool.text.lexicon import UPOS_TAGS
from cstool.text.tokenize import tokenize
from tests.conftest import TINY_CONLLU, shared_file

runner = CliRunner()
CSTOOL = [sys.executable, "-m", "cstool"]


def _sentences(tagger) -> list[list[str]]:
    return [s.forms for s in read_conllu(tagger["dev"] or tagger["train"])][:40]


@pytest.fixture()
def txt(tmp_path, tagger) -> Path:
    lines = [" ".join(f) for f in _sentences(tagger)]
    path = tmp_path / "in.txt"
    path.write_text("\n".join(lines[:20]) + "\n\n" + "\n".join(lines[20:]) + "\n", encoding="utf-8")
    return path


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


# --- tokenizer -----------------------------------------------------------------------------------------


def test_tokenize_peels_punctuation_and_keeps_combining_marks():
    assert tokenize("मैं घर जाता हूँ।") == ["मैं", "घर", "जाता", "हूँ", "।"]
    assert tokenize('"Don\'t stop," she said (twice).') == [
        '"',
        "Don't",
        "stop",
        ",",
        '"',
        "she",
        "said",
        "(",
        "twice",
        ")",
        ".",
    ]
    assert tokenize("3.5 km, e-mail!") == ["3.5", "km", ",", "e-mail", "!"]


# --- train-tagger ----------------------------------------------------------------------------------------


def test_trained_tagger_is_accurate_and_explains_itself(tagger):
    # 300 small-model steps on Marathi UFAL reach ~70 % dev UPOS; 150 steps on the tiny fixture ~90 %.
    assert tagger["accuracy"] > (0.6 if tagger["lang"] == "mr" else 0.8)
    prov = artifacts.read_provenance(tagger["path"])
    assert prov["stage"] == "train-tagger"
    assert prov["result"]["dev_upos_accuracy"] == pytest.approx(tagger["accuracy"])
    assert prov["inputs"][0]["sha256"] == artifacts.file_sha256(tagger["train"])


def test_train_tagger_cli_without_dev_holds_out_sentences(tmp_path):
    out = tmp_path / "t.pt"
    r = _run(
        "train-tagger", "--train", TINY_CONLLU, "--lang", "en", "-o", out, "--max-steps", "60", "--eval-interval", "30"
    )
    assert r.exit_code == 0, r.output
    assert "dev UPOS accuracy" in r.output
    acc = upos_accuracy(out, TINY_CONLLU, lang="en")
    assert 0.0 < acc <= 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.pt", "t.pt.cstool.json"]


def test_train_tagger_bad_treebank(tmp_path):
    bad = tmp_path / "bad.conllu"
    bad.write_text("1\tx\n")
    r = _run("train-tagger", "--train", bad, "--lang", "en", "-o", tmp_path / "t.pt")
    assert r.exit_code == 2 and "bad.conllu:1: expected 10" in r.output
    assert not (tmp_path / "t.pt").exists()


# --- tag: formats ----------------------------------------------------------------------------------------


def test_tag_txt_with_trained_tagger(txt, tmp_path, tagger):
    out = tmp_path / "out.parquet"
    r = _run("tag", txt, "--lang", tagger["lang"], "--pos-model", tagger["path"], "-o", out)
    assert r.exit_code == 0, r.output
    t = pq.read_table(out)
    assert t.schema.names == artifacts.TAGGED.names
    assert t.num_rows == 40
    assert t.column("id").to_pylist()[19:21] == ["20", "22"]  # line numbers; the blank line 21 is skipped
    rows = t.to_pylist()
    gold = _sentences(tagger)
    assert [r["tokens"] for r in rows] == [tokenize(" ".join(g)) for g in gold]
    assert all(len(r["tokens"]) == len(r["upos"]) for r in rows)
    assert {u for r in rows for u in r["upos"]} <= set(UPOS_TAGS)
    assert rows[0]["lang"] == tagger["lang"] and rows[0]["lemmas"] is None
    prov = artifacts.read_provenance(out)
    assert prov["stage"] == "tag" and prov["options"]["tagger"] == str(tagger["path"])


def test_tagging_is_deterministic_byte_identical(txt, tmp_path, tagger):
    outs = []
    for name in ("a.parquet", "b.parquet"):
        cfg = TagConfig(lang=tagger["lang"], pos_model=str(tagger["path"]), batch_size=7)
        run(cfg, input=str(txt), output=str(tmp_path / name))
        outs.append((tmp_path / name).read_bytes())
    assert outs[0] == outs[1]


def test_batch_size_and_shards_do_not_change_tags(txt, tmp_path, tagger):
    whole = tmp_path / "whole.parquet"
    run(TagConfig(lang=tagger["lang"], pos_model=str(tagger["path"]), batch_size=64), input=str(txt), output=str(whole))
    parts = []
    for i in range(3):
        p = tmp_path / f"part{i}.parquet"
        run(
            TagConfig(lang=tagger["lang"], pos_model=str(tagger["path"]), batch_size=5, shard=f"{i}/3"),
            input=str(txt),
            output=str(p),
        )
        parts.extend(pq.read_table(p).to_pylist())
    expected = {r["id"]: r for r in pq.read_table(whole).to_pylist()}
    assert len(parts) == len(expected)
    assert {r["id"]: r for r in parts} == expected


# --- tag --workers N -------------------------------------------------------------------------------------


def _tag_bytes(src, out: Path, tagger, **options) -> bytes:
    run(TagConfig(lang=tagger["lang"], pos_model=str(tagger["path"]), **options), input=str(src), output=str(out))
    return out.read_bytes()


def test_workers_give_byte_identical_output(txt, tmp_path, tagger):
    # 40 rows in batches of 3: 14 batches, several in flight per worker, results arriving out of order.
    one = _tag_bytes(txt, tmp_path / "w1.parquet", tagger, batch_size=3)
    two = _tag_bytes(txt, tmp_path / "w2.parquet", tagger, batch_size=3, workers=2)
    assert one == two
    assert pq.read_table(tmp_path / "w2.parquet").num_rows == 40
    assert "workers" not in artifacts.read_provenance(tmp_path / "w2.parquet")["options"]
    # with --shard, and with more workers than batches (the 20 rows of the shard are one batch)
    one = _tag_bytes(txt, tmp_path / "s1.parquet", tagger, shard="1/2")
    three = _tag_bytes(txt, tmp_path / "s3.parquet", tagger, shard="1/2", workers=3)
    assert one == three and pq.read_table(tmp_path / "s3.parquet").num_rows == 20


def test_workers_retag_conllu_byte_identical(tmp_path, tagger):
    gold = tagger["dev"] or tagger["train"]
    one = _tag_bytes(gold, tmp_path / "w1.parquet", tagger, retag=True, batch_size=4)
    two = _tag_bytes(gold, tmp_path / "w2.parquet", tagger, retag=True, batch_size=4, workers=2)
    assert one == two
    assert pq.read_table(tmp_path / "w2.parquet").num_rows == len(list(read_conllu(gold)))


def test_workers_errors_are_one_line_and_write_nothing(txt, tmp_path, tagger):
    out = tmp_path / "o.parquet"
    # the tagger fails to load in the workers
    bad_model = tmp_path / "bad.pt"
    bad_model.write_bytes(b"not a tagger")
    r = _run("tag", txt, "--lang", "en", "--pos-model", bad_model, "-o", out, "--workers", "2")
    _assert_fails(r, f"cannot load Stanza POS model {bad_model}", out)
    assert r.output.count("error:") == 1
    # the input goes bad while the workers tag its first batches
    f = tmp_path / "late.txt"
    f.write_bytes(txt.read_bytes() + b"na\xefve\n")
    r = _run(
        "tag",
        f,
        "--lang",
        tagger["lang"],
        "--pos-model",
        tagger["path"],
        "-o",
        out,
        "--workers",
        "2",
        "--batch-size",
        "4",
    )
    _assert_fails(r, "late.txt:42: not valid UTF-8", out)


def test_bad_workers_value(txt, tmp_path, tagger):
    out = tmp_path / "o.parquet"
    for value, message in (("0", "--workers must be at least 1, got 0"), ("two", "Invalid value for '--workers'")):
        r = _run("tag", txt, "--lang", tagger["lang"], "--pos-model", tagger["path"], "-o", out, "--workers", value)
        assert r.exit_code == 2 and message in " ".join(r.output.split()), r.output
        assert not out.exists()


def _worker_pids(parent: int) -> list[int]:
    """The tag worker processes of ``parent`` (spawned children, not multiprocessing's resource tracker)."""
    pids = []
    for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"spawn_main" in cmdline:
            pids.append(int(child))
    return pids


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def _start_big_tag(tmp_path, tagger, *extra) -> tuple[subprocess.Popen, list[int]]:
    """``cstool tag`` of a large file with --workers 2, once it has started writing; and its worker pids."""
    big = tmp_path / "big.txt"
    line = " ".join(_sentences(tagger)[0])
    big.write_text((line + "\n") * 100_000, encoding="utf-8")
    out = tmp_path / "o.parquet"
    proc = subprocess.Popen(
        CSTOOL
        + ["tag", str(big), "--lang", tagger["lang"], "--pos-model", str(tagger["path"]), "-o", str(out)]
        + ["--workers", "2", "--batch-size", "64", *extra],
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    deadline = time.time() + 90
    while time.time() < deadline and not any(p.name.startswith(".o.parquet.tmp") for p in tmp_path.iterdir()):
        time.sleep(0.2)
    time.sleep(1.0)
    workers = _worker_pids(proc.pid)
    assert len(workers) == 2 and proc.poll() is None
    return proc, workers


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_ctrl_c_with_workers_leaves_no_output_and_no_workers(tmp_path, tagger):
    proc, workers = _start_big_tag(tmp_path, tagger)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert b"interrupted" in err and b"Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.txt"]
    assert not any(_running(pid) for pid in workers)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_a_worker_that_dies_is_an_error(tmp_path, tagger):
    proc, workers = _start_big_tag(tmp_path, tagger)
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err.decode()
    assert err.count(b"error:") == 1 and b"a tag worker process stopped unexpectedly (killed by signal 9)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.txt"]
    assert not any(_running(pid) for pid in workers)


def test_tag_jsonl_carries_columns(tmp_path, tagger):
    sents = _sentences(tagger)[:5]
    path = tmp_path / "in.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"sentence": " ".join(s), "source": "news", "n": i}, ensure_ascii=False)
            for i, s in enumerate(sents)
        ),
        encoding="utf-8",
    )
    out = tmp_path / "o.parquet"
    r = _run(
        "tag", path, "--lang", tagger["lang"], "--pos-model", tagger["path"], "--text-column", "sentence", "-o", out
    )
    assert r.exit_code == 0, r.output
    t = pq.read_table(out)
    assert t.schema.names == artifacts.TAGGED.names + ["n", "source"]
    assert t.column("n").to_pylist() == [0, 1, 2, 3, 4] and t.column("source").to_pylist() == ["news"] * 5
    assert t.column("text").to_pylist() == [" ".join(s) for s in sents]


def test_tag_parquet_input_and_pretokenized(tmp_path, tagger):
    sents = _sentences(tagger)[:6]
    inp = tmp_path / "in.parquet"
    pq.write_table(
        pa.table({"id": [f"d{i}" for i in range(6)], "body": [" ".join(s) for s in sents], "w": [1.5] * 6}), inp
    )
    out = tmp_path / "o.parquet"
    r = _run(
        "tag",
        inp,
        "--lang",
        tagger["lang"],
        "--pos-model",
        tagger["path"],
        "--text-column",
        "body",
        "--pretokenized",
        "-o",
        out,
    )
    assert r.exit_code == 0, r.output
    t = pq.read_table(out)
    assert t.column("id").to_pylist() == [f"d{i}" for i in range(6)]
    assert t.column("tokens").to_pylist() == sents  # whitespace split only
    assert t.column("w").to_pylist() == [1.5] * 6 and "body" not in t.schema.names  # its content is `text`


def test_tag_conllu_reads_gold_without_a_model(tmp_path):
    out = tmp_path / "o.parquet"
    r = _run("tag", TINY_CONLLU, "--lang", "en", "-o", out)
    assert r.exit_code == 0, r.output
    rows = pq.read_table(out).to_pylist()
    gold = list(read_conllu(TINY_CONLLU))
    assert [r["tokens"] for r in rows] == [g.forms for g in gold]
    assert [r["upos"] for r in rows] == [g.upos for g in gold]
    assert rows[0]["id"] == "tiny-1" and rows[0]["lemmas"] == gold[0].lemmas
    assert rows[0]["text"] == "this red book sees the tree."


def test_tag_conllu_retag_uses_the_tagger_on_gold_tokens(tmp_path, tagger):
    gold_file = tagger["dev"] or tagger["train"]
    out = tmp_path / "o.parquet"
    r = _run("tag", gold_file, "--lang", tagger["lang"], "--retag", "--pos-model", tagger["path"], "-o", out)
    assert r.exit_code == 0, r.output
    rows = pq.read_table(out).to_pylist()
    gold = list(read_conllu(gold_file))
    assert [r["tokens"] for r in rows] == [g.forms for g in gold]
    pred = [u for r in rows for u in r["upos"]]
    ref = [u for g in gold for u in g.upos]
    acc = sum(a == b for a, b in zip(pred, ref)) / len(ref)
    assert acc == pytest.approx(upos_accuracy(tagger["path"], gold_file, lang=tagger["lang"]))


def test_tag_docs_mode_splits_sentences_and_keeps_one_row_per_line(tmp_path, tagger):
    sents = [" ".join(s) for s in _sentences(tagger)[:4]]
    path = tmp_path / "docs.txt"
    path.write_text(f"{sents[0]} . {sents[1]}\n{sents[2]} ! {sents[3]}\n", encoding="utf-8")
    out = tmp_path / "o.parquet"
    r = _run("tag", path, "--lang", tagger["lang"], "--docs", "--pos-model", tagger["path"], "-o", out)
    assert r.exit_code == 0, r.output
    rows = pq.read_table(out).to_pylist()
    assert len(rows) == 2
    assert rows[0]["tokens"] == tokenize(sents[0]) + ["."] + tokenize(sents[1])


def test_pipe_through_stdout_and_stdin(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.run(
        CSTOOL + ["tag", str(TINY_CONLLU), "--lang", "en", "-o", "-"], capture_output=True, env=env, check=True
    )
    out = tmp_path / "o.parquet"
    second = subprocess.run(
        CSTOOL + ["tag", "-", "--lang", "en", "--pretokenized", "-o", str(out)],
        input=first.stdout,
        capture_output=True,
        env=env,
    )
    assert second.returncode == 0, second.stderr.decode()
    t = pq.read_table(out)
    assert t.num_rows == 60  # gold columns came through the pipe, nothing needed re-tagging
    prov = artifacts.read_provenance(out)
    assert prov["inputs"][0]["path"] == "-" and prov["inputs"][0]["provenance"]["stage"] == "tag"


def test_real_hindi_pud_gold(tmp_path):
    out = tmp_path / "hi.parquet"
    r = _run("tag", shared_file("ud/hi_pud-ud-test.conllu"), "--lang", "hi", "-o", out)
    assert r.exit_code == 0, r.output
    t = pq.read_table(out)
    assert t.num_rows == 1000 and sum(len(x) for x in t.column("tokens").to_pylist()) > 20000


# --- bad input -------------------------------------------------------------------------------------------


def _assert_fails(result, message, out: Path):
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not out.exists() and not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]


def test_empty_input(tmp_path, tagger):
    f = tmp_path / "empty.txt"
    f.write_text("\n  \n")
    out = tmp_path / "o.parquet"
    _assert_fails(
        _run("tag", f, "--lang", tagger["lang"], "--pos-model", tagger["path"], "-o", out), "holds no text to tag", out
    )


def test_non_utf8_reports_file_and_line(tmp_path, tagger):
    f = tmp_path / "latin.txt"
    f.write_bytes(b"fine line\nna\xefve\n")
    out = tmp_path / "o.parquet"
    _assert_fails(
        _run("tag", f, "--lang", tagger["lang"], "--pos-model", tagger["path"], "-o", out),
        "latin.txt:2: not valid UTF-8",
        out,
    )


def test_missing_text_column_lists_columns(tmp_path, tagger):
    f = tmp_path / "x.jsonl"
    f.write_text('{"body": "a b", "id": 1}\n')
    out = tmp_path / "o.parquet"
    r = _run("tag", f, "--lang", tagger["lang"], "--pos-model", tagger["path"], "-o", out)
    _assert_fails(r, "no column 'text'; the line has [body, id]", out)
    pq.write_table(pa.table({"body": ["a"]}), tmp_path / "x.parquet")
    r = _run("tag", tmp_path / "x.parquet", "--lang", tagger["lang"], "--pos-model", tagger["path"], "-o", out)
    _assert_fails(r, "has no column 'text'; columns there: [body]", out)


def test_malformed_conllu_names_file_and_line(tmp_path):
    f = tmp_path / "bad.conllu"
    f.write_text("# sent_id = 1\n1\ta\ta\tNOUN\t_\t_\t0\troot\t_\t_\n2\tb\tb\tNOUN\n")
    out = tmp_path / "o.parquet"
    _assert_fails(_run("tag", f, "--lang", "en", "-o", out), "bad.conllu:3: expected 10 tab-separated columns", out)


def test_unknown_language_without_model_names_path_and_flags(tmp_path, txt):
    empty = tmp_path / "stanza"
    empty.mkdir()
    (empty / "resources.json").write_text("{}")
    out = tmp_path / "o.parquet"
    r = _run("tag", txt, "--lang", "xx", "--stanza-dir", empty, "-o", out)
    _assert_fails(r, f"no Stanza model for language 'xx' in {empty}", out)
    assert "--pos-model" in r.output and "cstool train-tagger" in r.output


def test_missing_pos_model_file(tmp_path, txt):
    out = tmp_path / "o.parquet"
    r = _run("tag", txt, "--lang", "hi", "--pos-model", tmp_path / "nope.pt", "-o", out)
    _assert_fails(r, "Stanza POS model", out)
    assert "train-tagger" in r.output


def test_unwritable_output(tmp_path, tagger, txt):
    (tmp_path / "ro").write_text("a file, not a folder")
    out = tmp_path / "ro" / "o.parquet"
    r = _run("tag", txt, "--lang", tagger["lang"], "--pos-model", tagger["path"], "-o", out)
    assert r.exit_code == 2 and "cannot write" in r.output


def test_bad_options_are_all_reported_at_once():
    with pytest.raises(ConfigError) as e:
        TagConfig(lang="hindi language", batch_size=0, shard="3/3")
    assert "--lang" in e.value.message and "--batch-size" in e.value.message and "--shard" in e.value.message


def test_missing_input(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        run(TagConfig(lang="hi"), input=str(tmp_path / "nope.txt"), output=str(tmp_path / "o.parquet"))


def test_ctrl_c_during_tagging_leaves_no_output(tmp_path, tagger):
    big = tmp_path / "big.txt"
    line = " ".join(_sentences(tagger)[0])
    big.write_text((line + "\n") * 200_000, encoding="utf-8")
    out = tmp_path / "o.parquet"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        CSTOOL + ["tag", str(big), "--lang", tagger["lang"], "--pos-model", str(tagger["path"]), "-o", str(out)],
        stderr=subprocess.PIPE,
        env=env,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name.startswith(".o.parquet.tmp") for p in tmp_path.iterdir()):
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert b"interrupted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.txt"]


def test_model_loader_errors_name_path_and_flag(tmp_path, monkeypatch):
    import huggingface_hub.constants

    from cstool.models import hf

    with pytest.raises(ModelNotFoundError) as e:
        hf.load_causal_lm(tmp_path / "no-model")
    assert str(tmp_path / "no-model") in e.value.message and "save_pretrained" in e.value.hint
    assert "Hub" not in e.value.hint  # a local path: the Hub is no way out
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as e:  # a Hub id: looked up in the cache only, offline
        hf.load_causal_lm("someone/some-model")
    assert "someone/some-model is not in the Hugging Face cache" in e.value.message
    assert "HF_HUB_OFFLINE=1" in e.value.message and "unset HF_HUB_OFFLINE" in e.value.hint
    with pytest.raises(ModelNotFoundError, match="adapter_config.json"):
        hf.load_adapter(None, tmp_path)


# --- languages -------------------------------------------------------------------------------------------


def test_tagger_trained_for_another_language_is_refused(tmp_path, tagger, txt):
    other = "hi" if tagger["lang"] != "hi" else "mr"
    out = tmp_path / "o.parquet"
    r = _run("tag", txt, "--lang", other, "--pos-model", tagger["path"], "-o", out)
    _assert_fails(r, f"was trained for language '{tagger['lang']}'", out)
    assert f"--lang is '{other}'" in r.output and f"pass --lang {tagger['lang']}" in " ".join(r.output.split())


@pytest.mark.parametrize(
    "command",
    [
        ["tag", "in.txt"],
        ["train-tagger", "--train", TINY_CONLLU, "-o", "t.pt"],
        ["vqa-import", "q.jsonl", "-o", "t.pt"],
    ],
)
def test_every_command_refuses_a_language_code_stanza_spells_otherwise(tmp_path, command):
    for given, want in (("hin", "use hi for Hindi"), ("Marathi", "use mr for Marathi"), ("h1", "2-3 lower-case")):
        r = _run(*[tmp_path / c if c in ("in.txt", "t.pt", "q.jsonl") else c for c in command], "--lang", given)
        assert r.exit_code == 2 and want in " ".join(r.output.split()), r.output
    assert not (tmp_path / "t.pt").exists()


def test_switch_target_lang_is_checked_the_same_way():
    with pytest.raises(ConfigError, match="--target-lang 'eng' is not one of Stanza's language codes: use en"):
        from cstool.stages.switch import SwitchConfig

        SwitchConfig(target_lang="eng")
