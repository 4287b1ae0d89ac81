"""``cstool tag corpus.txt --lang xx`` with no model at hand: Stanza's models are downloaded on first use.

A local HTTP server on 127.0.0.1 serves a Stanza-format index (``resources_<version>.json``) and the
language's default package, as Stanza's hub does for hi: a tokenizer, a POS tagger (made by
``cstool train-tagger``) and a lemmatizer, all trained here on the tiny English treebank in seconds. Stanza
is pointed at the server by $STANZA_RESOURCES_URL (its own convention), the resources folder starts empty
($STANZA_RESOURCES_DIR), and the server counts the requests.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cstool.base import offline
from cstool.base.errors import ModelNotFoundError
from cstool.models import stanza_pipelines
from tests.conftest import TINY_CONLLU

from .conftest import assert_user_error, invoke

CSTOOL = [sys.executable, "-m", "cstool"]
PACKAGE = "tiny"


def _stanza_main(main, args: list[str]) -> None:
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), contextlib.redirect_stderr(devnull):
        main(args)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> dict:
    """Stanza's layout for language 'xx' (tokenize, pos, lemma), served from a thread; ``requests`` lists the
    paths asked for."""
    import stanza
    from stanza.models import lemmatizer, tokenizer
    from stanza.utils.datasets import conllu_to_text, prepare_tokenizer_data

    work = tmp_path_factory.mktemp("stanza-xx")
    pos = work / "pos.pt"
    code, out = invoke(
        "train-tagger", "--train", TINY_CONLLU, "--lang", "xx", "-o", pos, "--max-steps", "30", "--eval-interval", "30"
    )
    assert code == 0, out
    txt, labels, mwt = work / "t.txt", work / "t.toklabels", work / "t.mwt.json"
    conllu_to_text.main([str(TINY_CONLLU), str(txt)])
    _stanza_main(prepare_tokenizer_data.main, [str(txt), str(TINY_CONLLU), "-o", str(labels), "-m", str(mwt)])
    common = ["--save_dir", str(work), "--shorthand", "xx_tiny"]
    _stanza_main(
        tokenizer.main,
        ["--mode", "train", "--txt_file", str(txt), "--label_file", str(labels), "--mwt_json_file", str(mwt)]
        + ["--dev_txt_file", str(txt), "--dev_label_file", str(labels), "--dev_conll_gold", str(TINY_CONLLU)]
        + ["--lang", "xx", "--steps", "100", "--eval_steps", "1000", "--save_name", "tok.pt", *common],
    )
    _stanza_main(
        lemmatizer.main,
        ["--mode", "train", "--dict_only", "--train_file", str(TINY_CONLLU), "--eval_file", str(TINY_CONLLU)]
        + ["--save_name", "lemma.pt", *common],
    )
    root = work / "hub"
    entry: dict = {"lang_name": "Tiny", "packages": {"default": {}}, "default_processors": {}}
    for processor, file in {"tokenize": "tok.pt", "pos": "pos.pt", "lemma": "lemma.pt"}.items():
        data = (work / file).read_bytes()
        (root / "xx" / processor).mkdir(parents=True)
        (root / "xx" / processor / f"{PACKAGE}.pt").write_bytes(data)
        entry[processor] = {PACKAGE: {"md5": hashlib.md5(data).hexdigest()}}
        entry["packages"]["default"][processor] = entry["default_processors"][processor] = PACKAGE

    # 'yy': xx's tokenizer and lemmatizer, and a tagger the server does not have (it answers 404).
    for processor in ("tokenize", "lemma"):
        (root / "yy" / processor).mkdir(parents=True)
        shutil.copy(root / "xx" / processor / f"{PACKAGE}.pt", root / "yy" / processor / f"{PACKAGE}.pt")
    index_yy = json.loads(json.dumps(entry))
    index_yy["pos"] = {"gone": {"md5": "0" * 32}}
    index_yy["packages"]["default"]["pos"] = index_yy["default_processors"]["pos"] = "gone"
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    url = f"http://127.0.0.1:{server.server_port}"
    index = {"xx": entry, "yy": index_yy, "url": url + "/{lang}/{filename}"}
    (root / f"resources_{stanza.__resources_version__}.json").write_text(json.dumps(index))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": url, "requests": requests, "pos": pos, "index": f"/resources_{stanza.__resources_version__}.json"}
    server.shutdown()
    server.server_close()


def _env(served: dict, resources: Path, **more: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in offline.OFFLINE_ENV}  # the Makefile exports HF_HUB_OFFLINE
    return {**env, "STANZA_RESOURCES_URL": served["url"], "STANZA_RESOURCES_DIR": str(resources), **more}


@pytest.fixture
def corpus(tmp_path) -> Path:
    lines = [ln[len("# text = ") :] for ln in TINY_CONLLU.read_text().splitlines() if ln.startswith("# text = ")]
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines[:12]) + "\n", encoding="utf-8")
    return path


def test_first_use_downloads_once_then_reuses(served, corpus, tmp_path):
    resources = tmp_path / "stanza_resources"
    env = _env(served, resources, OMP_NUM_THREADS="1")
    before = len(served["requests"])
    first = subprocess.run(CSTOOL + ["tag", str(corpus), "--lang", "xx"], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert served["requests"][before:] == [served["index"]] + [
        f"/xx/{p}/{PACKAGE}.pt" for p in ("tokenize", "pos", "lemma")
    ]
    assert str(resources) in first.stderr and "Downloading" in first.stderr  # Stanza's progress, and where it went
    out = tmp_path / "corpus.tagged.parquet"  # the default output, beside the input
    assert f"→ {out}" in first.stderr
    tagged = pq.read_table(out).to_pylist()
    for processor in ("tokenize", "pos", "lemma"):
        assert (resources / "xx" / processor / f"{PACKAGE}.pt").is_file()

    out.unlink()
    second = subprocess.run(CSTOOL + ["tag", str(corpus), "--lang", "xx"], env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert len(served["requests"]) == before + 4  # cached: not one request more
    assert "Downloading" not in second.stderr
    assert pq.read_table(out).to_pylist() == tagged

    # Tags are the served tagger's: the same as tagging with the file itself (--pos-model), and lemmas are there.
    reference = tmp_path / "reference.parquet"
    code, output = invoke("tag", corpus, "--lang", "xx", "--pos-model", served["pos"], "-o", reference)
    assert code == 0, output
    expected = pq.read_table(reference).to_pylist()
    assert [r["tokens"] for r in tagged] == [r["tokens"] for r in expected]
    assert [r["upos"] for r in tagged] == [r["upos"] for r in expected]
    assert all(r["lemmas"] and len(r["lemmas"]) == len(r["tokens"]) for r in tagged)
    assert tagged[0]["lemmas"][0] == tagged[0]["tokens"][0].lower()

    # Offline, the folder that holds the language is used as it is (here given as --stanza-dir).
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("STANZA_RESOURCES_DIR", str(tmp_path / "elsewhere"))
        code, output = invoke("tag", corpus, "--lang", "xx", "--stanza-dir", resources, "-o", tmp_path / "b.parquet")
    assert code == 0, output
    assert len(served["requests"]) == before + 4
    assert pq.read_table(tmp_path / "b.parquet").to_pylist() == tagged


def test_with_workers_the_download_happens_once_before_they_start(served, corpus, tmp_path):
    """--workers 2 on an empty resources folder: the parent fetches the models once; the workers only load them,
    and the output is byte-identical to one process's."""
    resources = tmp_path / "stanza_resources"
    env = _env(served, resources, OMP_NUM_THREADS="1")
    before = len(served["requests"])
    args = ["tag", str(corpus), "--lang", "xx", "--batch-size", "4"]
    two = subprocess.run(
        CSTOOL + args + ["--workers", "2", "-o", str(tmp_path / "two.parquet")], env=env, capture_output=True, text=True
    )
    assert two.returncode == 0, two.stderr
    assert len(served["requests"]) == before + 4 and two.stderr.count(str(resources)) >= 1
    one = subprocess.run(CSTOOL + args + ["-o", str(tmp_path / "one.parquet")], env=env, capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    assert len(served["requests"]) == before + 4
    assert (tmp_path / "two.parquet").read_bytes() == (tmp_path / "one.parquet").read_bytes()


@pytest.mark.parametrize("how", ["HF_HUB_OFFLINE", "CSTOOL_OFFLINE", "--offline"])
def test_offline_is_a_clear_error_without_requests(served, corpus, tmp_path, monkeypatch, how):
    for name in offline.OFFLINE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STANZA_RESOURCES_URL", served["url"])
    monkeypatch.setenv("STANZA_RESOURCES_DIR", str(tmp_path / "stanza_resources"))
    if how != "--offline":
        monkeypatch.setenv(how, "1")
    before = len(served["requests"])
    code, output = invoke("tag", corpus, "--lang", "xx", *(["--offline"] if how == "--offline" else []))
    assert_user_error(code, output, "no Stanza model for language 'xx'", how, "cstool train-tagger")
    assert len(served["requests"]) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt"]  # no output, no folder made


def test_language_without_a_stanza_model_gets_the_train_tagger_hint_at_once(served, tmp_path, monkeypatch):
    for name in offline.OFFLINE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STANZA_RESOURCES_URL", served["url"])
    before = len(served["requests"])
    with pytest.raises(ModelNotFoundError) as e:
        stanza_pipelines.ensure_stanza_models("zz", tmp_path / "res", quiet=True)
    assert "Stanza has no POS model for language 'zz'" in e.value.message
    assert "cstool train-tagger" in e.value.hint and "--lang zz" in e.value.hint
    assert served["requests"][before:] == [served["index"]]  # the index only, no model


def test_a_failed_download_leaves_no_file_that_passes_for_a_model(served, tmp_path, monkeypatch):
    for name in offline.OFFLINE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STANZA_RESOURCES_URL", served["url"])
    res = tmp_path / "res"
    for _ in range(2):  # and the next run tries again rather than loading the error page
        with pytest.raises(ModelNotFoundError) as e, contextlib.redirect_stderr(io.StringIO()):
            stanza_pipelines.ensure_stanza_models("yy", res, quiet=True)
        assert f"cannot download Stanza's 'yy' models into {res}: md5 for" in e.value.message
        assert not (res / "yy" / "pos" / "gone.pt").exists()
    assert served["requests"].count("/yy/pos/gone.pt") == 2
    assert served["requests"].count(f"/yy/tokenize/{PACKAGE}.pt") == 1  # the good file was kept


def test_server_down_is_a_clear_error_with_the_cause(tmp_path, monkeypatch):
    for name in offline.OFFLINE_ENV:
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("STANZA_RESOURCES_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(ModelNotFoundError) as e, contextlib.redirect_stderr(io.StringIO()):
        stanza_pipelines.ensure_stanza_models("xx", tmp_path / "res", quiet=True)
    assert f"cannot download Stanza's 'xx' models into {tmp_path / 'res'}: " in e.value.message
    assert "Connection" in e.value.message or "refused" in e.value.message, e.value.message
    assert "STANZA_RESOURCES_URL" in e.value.hint and "train-tagger" in e.value.hint
    assert not list((tmp_path / "res").glob("*.json"))  # nothing half-written
