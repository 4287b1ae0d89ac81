"""Every command's --help ends with real examples, and shell completion installs and completes."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import click
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from cstool.cli import app
from cstool.cli.app import COMMANDS, command_app

runner = CliRunner()
CSTOOL = [sys.executable, "-m", "cstool"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_ends_with_examples_that_parse(name):
    spec = COMMANDS[name]
    assert spec.examples, f"cstool {name} has no example"
    r = runner.invoke(app, [name, "--help"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())  # lines as wrapped to the terminal, joined
    assert "Examples: $ cstool" in text
    assert text.endswith(f"$ {spec.examples[-1]}")  # the help ends with the examples
    command = get_command(command_app(name))
    for example in spec.examples:
        assert example.startswith(f"cstool {name} ")
        assert f"$ {example}" in text
        args = shlex.split(example)[2:]
        try:  # the options exist and take values of their type (nothing runs)
            command.make_context(name, args)
        except click.ClickException as e:
            pytest.fail(f"{example}: {e.format_message()}")


def _env(home) -> dict:
    return {**os.environ, "HOME": str(home), "SHELL": "/bin/bash", "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": ""}


def test_shell_completion_installs_and_completes(tmp_path):
    shown = subprocess.run(CSTOOL + ["--show-completion", "bash"], env=_env(tmp_path), capture_output=True, text=True)
    if shown.returncode != 0:  # typer's --show-completion takes no value where it detects the shell itself
        shown = subprocess.run(CSTOOL + ["--show-completion"], env=_env(tmp_path), capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "_CSTOOL_COMPLETE=complete_bash" in shown.stdout and "complete " in shown.stdout

    installed = subprocess.run(CSTOOL + ["--install-completion"], env=_env(tmp_path), capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    script = tmp_path / ".bash_completions" / "cstool.sh"
    assert script.is_file() and "_CSTOOL_COMPLETE" in script.read_text()
    assert str(script) in (tmp_path / ".bashrc").read_text()

    def complete(words: str) -> list[str]:
        env = {**_env(tmp_path), "_CSTOOL_COMPLETE": "complete_bash", "COMP_WORDS": words}
        env["COMP_CWORD"] = str(len(words.split()) - 1)
        r = subprocess.run(CSTOOL, env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    assert complete("cstool ta") == ["tag"]
    assert "--stanza-dir" in complete("cstool tag --st")  # a command's options are generated when completed


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_at_80_columns_shows_every_option_name_whole(name):
    r = runner.invoke(app, [name, "--help"], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert max(map(len, lines)) <= 80
    words = set(re.findall(r"-[-\w]+", r.output))
    command = get_command(command_app(name))
    for p in command.params:
        for opt in [*p.opts, *p.secondary_opts] if p.param_type_name == "option" else []:
            assert opt in words, f"cstool {name} --help at 80 columns: {opt} is not shown whole"
