"""Stanza's and transformers' warning noise is hidden unless --debug (cstool's own warnings stay)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import TINY_CONLLU

ROOT = Path(__file__).resolve().parents[1]


def _train_tagger(tmp_path, *globals_: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("TRANSFORMERS_VERBOSITY", None)
    r = subprocess.run(
        [sys.executable, "-m", "cstool", *globals_, "train-tagger", "--train", str(TINY_CONLLU), "--lang", "en"]
        + ["-o", str(tmp_path / f"t{len(globals_)}.pt"), "--max-steps", "10", "--eval-interval", "10"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    return r.stderr


def test_stanza_warnings_only_with_debug(tmp_path):
    plain = _train_tagger(tmp_path)
    assert "WARNING" not in plain and "not a known dataset" not in plain
    assert "dev UPOS accuracy" in plain or "tagger" in plain  # cstool's own lines stay
    debug = _train_tagger(tmp_path, "--debug")
    assert "WARNING: en_cstool is not a known dataset" in debug


def test_transformers_logs_errors_only_unless_asked(monkeypatch):
    import logging
    import warnings

    from cstool.base.console import hush_libraries

    monkeypatch.delenv("TRANSFORMERS_VERBOSITY", raising=False)
    with warnings.catch_warnings():
        hush_libraries()
        import transformers

        assert os.environ["TRANSFORMERS_VERBOSITY"] == "error"
        assert transformers.utils.logging.get_verbosity() == logging.ERROR
        transformers.utils.logging.set_verbosity_warning()  # leave the library as the other tests expect it
