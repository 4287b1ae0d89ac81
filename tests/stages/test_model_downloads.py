"""Models named by a Hub id: fetched into the Hugging Face cache on first use, loaded from it with --offline
or $HF_HUB_OFFLINE=1, refused in one line when offline and absent; a misspelt local path never reaches the Hub.

The Hub is a local server on 127.0.0.1 in the Hub's layout (tests/hubserver.py), the cache a fresh $HF_HOME
per test; huggingface_hub reads both when it is imported, so those runs are subprocesses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from cstool.base import offline
from tests.conftest import TINY_CORPUS
from tests.hubserver import serve_hub

from .conftest import assert_user_error, invoke

ROOT = Path(__file__).resolve().parents[2]


def _texts(tmp_path: Path) -> Path:
    path = tmp_path / "en.txt"
    path.write_text("\n".join(TINY_CORPUS[:8]) + "\n", encoding="utf-8")
    return path


def _env(tmp_path: Path, **extra: str) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in offline.OFFLINE_ENV}
    return {**base, "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(ROOT), **extra}


def _cli(env: dict, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cstool", *map(str, args)], env=env, capture_output=True, text=True)


def _assert_one_line_error(r: subprocess.CompletedProcess, *expected: str) -> None:
    assert r.returncode == 2 and r.stderr.count("error:") == 1 and "Traceback" not in r.stderr, r.stderr
    flat = " ".join(r.stderr.split())
    for text in expected:
        assert text in flat, (text, r.stderr)


def test_a_hub_id_offline_and_not_in_the_cache_is_one_line_naming_why(tmp_path):
    env = _env(tmp_path, HF_HUB_OFFLINE="1", HF_ENDPOINT="http://127.0.0.1:9")  # nothing listens on port 9
    r = _cli(env, "eval", "--model", "tiny/llama", "--data", f"en={_texts(tmp_path)}", "-o", tmp_path / "s.parquet")
    _assert_one_line_error(
        r,
        "tiny/llama is not in the Hugging Face cache",
        "downloads are off (HF_HUB_OFFLINE=1)",
        "cstool import-model tiny/llama -o DIR",
        "unset HF_HUB_OFFLINE",
    )
    assert not (tmp_path / "s.parquet").exists()


def test_a_hub_id_is_fetched_on_first_use_then_loads_offline_from_the_cache(tmp_path, tiny_lm):
    data = _texts(tmp_path)
    with serve_hub({"tiny/llama": tiny_lm}) as hub:
        env = _env(tmp_path, HF_ENDPOINT=hub["url"])
        first = _cli(env, "eval", "--model", "tiny/llama", "--data", f"en={data}", "-o", tmp_path / "a.parquet")
        assert first.returncode == 0, first.stderr
        assert "fetching tiny/llama" in first.stderr and str(tmp_path / "hf") in first.stderr
        fetched = [r for r in hub["requests"] if "/resolve/" in r]
        assert any(r.endswith("/model.safetensors") for r in fetched)
        snapshot = tmp_path / "hf" / "hub" / "models--tiny--llama" / "snapshots" / hub["commits"]["tiny/llama"]
        assert (snapshot / "model.safetensors").is_file()

        asked = len(hub["requests"])
        for extra, flags in (({"HF_HUB_OFFLINE": "1"}, []), ({}, ["--offline"])):
            out = tmp_path / f"b{len(flags)}.parquet"
            again = _cli({**env, **extra}, "eval", "--model", "tiny/llama", "--data", f"en={data}", "-o", out, *flags)
            assert again.returncode == 0, again.stderr
            assert "fetching" not in again.stderr
            assert len(hub["requests"]) == asked  # from the cache: the server was not asked
            assert (
                pq.read_table(out)
                .drop(["run", "model"])
                .equals(pq.read_table(tmp_path / "a.parquet").drop(["run", "model"]))
            )

        missing = _cli(env, "eval", "--model", "tiny/nothing", "--data", f"en={data}", "-o", tmp_path / "m.parquet")
        _assert_one_line_error(missing, "the Hugging Face Hub has no tiny/nothing")

    shutil.rmtree(tmp_path / "hf")
    refused = _cli(
        env, "eval", "--model", "tiny/llama", "--data", f"en={data}", "-o", tmp_path / "c.parquet", "--offline"
    )
    _assert_one_line_error(refused, "tiny/llama is not in the Hugging Face cache", "(--offline)", "drop --offline")


def test_a_misspelt_local_path_is_not_found_with_a_close_name_and_never_asks_the_hub(tmp_path, tiny_lm, monkeypatch):
    import huggingface_hub

    from cstool.models import hub

    def no_network(*args, **kwargs):
        raise AssertionError(f"the Hub was asked for {args}")

    monkeypatch.setattr(hub, "fetch", no_network)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # online: the name alone keeps it off the network
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_lm, tmp_path / "runs" / "student")
    data = _texts(tmp_path)
    for name in ("./runs/studnet", "runs/studnet"):
        code, output = invoke("eval", "--model", name, "--data", f"en={data}", "-o", "s.parquet")
        assert_user_error(code, output, f"not found at {name}: no such folder", "did you mean runs/student?")
        code, output = invoke(
            "distill", data, "--teacher", name, "--student-config", "llama:layers=1,hidden=32,heads=4", "-o", "out"
        )
        assert_user_error(code, output, f"teacher model not found at {name}", "did you mean runs/student?")
    assert not (tmp_path / "s.parquet").exists() and not (tmp_path / "out").exists()
