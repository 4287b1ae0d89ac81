"""The CLI shell: help, version, start-up cost, error formatting."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from cstool import __version__
from cstool.cli import app

runner = CliRunner()


def test_help_lists_every_stage():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for name in ("tag", "switch", "distill", "replay-train", "eval", "train-tagger", "info"):
        assert f" {name} " in r.output


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"cstool {__version__}"


def test_cli_import_does_not_load_torch_or_stanza():
    code = "import sys, cstool.cli; print(sorted(m for m in ('torch', 'stanza', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_errors_print_one_line_and_hint_with_brackets_intact(tmp_path):
    bad = tmp_path / "data [1].parquet"
    bad.write_text("not parquet")
    r = runner.invoke(app, ["info", str(bad)])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert lines[0].startswith(f"error: {bad} is not a Parquet or Arrow artifact")
    assert lines[1].startswith("hint:")


def test_debug_shows_the_traceback(tmp_path):
    r = runner.invoke(app, ["--debug", "info", str(tmp_path / "missing.parquet")])
    assert r.exit_code != 0 and r.exception is not None
