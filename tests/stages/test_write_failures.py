"""A write that cannot finish is one error line and leaves nothing behind (``atomic.write_error``,
``locks.locks_output``), so the same command runs again once the cause is gone.

A full disk is a real OS error here, not a mock: the command runs in a process whose file-size limit
(``RLIMIT_FSIZE``) is a few kilobytes, with SIGXFSZ ignored, so every write past the limit fails with EFBIG,
as writes to a full disk fail with ENOSPC.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.stages.conftest import assert_user_error, invoke


def _limited(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _cstool(args: list, limit: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "cstool", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limited(limit) if limit else None,
    )


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


COMMANDS = {
    "tag": lambda i, out: ["tag", i["conllu"], "--lang", "en", "-o", out / "x.parquet"],
    "build-vlm": lambda i, out: ["build-vlm", i["vqa"], "-o", out / "vlm"],
    "train-tokenizer": lambda i, out: ["train-tokenizer", i["tagged"], "--vocab-size", "300", "-o", out / "tok"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_full_disk_is_one_error_line_and_a_rerun_succeeds(command, inputs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    args = COMMANDS[command](inputs, out)
    failed = _cstool(args, limit=2048)
    assert_user_error(failed.returncode, failed.stderr, "cannot write", "a file grew past the size allowed")
    assert _listing(out) == []  # no partial folder, no temporary file, no lock file
    again = _cstool(args)
    assert again.returncode == 0, again.stderr


def test_an_output_name_of_255_bytes_is_written_and_a_longer_one_refused(inputs, tmp_path):
    longest = tmp_path / ("n" * 247 + ".parquet")  # 255 bytes: its temporary name must be shortened to fit
    code, output = invoke("tag", inputs["conllu"], "--lang", "en", "-o", longest)
    assert code == 0, output
    assert _listing(tmp_path) == [longest.name]
    code, output = invoke("tag", inputs["conllu"], "--lang", "en", "-o", tmp_path / ("n" * 248 + ".parquet"))
    assert_user_error(code, output, "is 256 bytes long", "at most 255 bytes")
    assert _listing(tmp_path) == [longest.name]


def test_train_tagger_refuses_a_name_whose_provenance_would_not_fit_before_training(inputs, tmp_path):
    out = tmp_path / ("t" * 247 + ".pt")  # the tagger's name fits; TAGGER.cstool.json would not
    code, output = invoke("train-tagger", "--train", inputs["conllu"], "--lang", "en", "-o", out)
    assert_user_error(code, output, "-o (its provenance)", "bytes long")
    assert _listing(tmp_path) == []
