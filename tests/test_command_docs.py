"""docs/commands/ is what the generator writes from the config dataclasses: a page that drifts fails here."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cstool.cli.app import COMMANDS
from cstool.cli.docs import main, page, pages
from cstool.continual.config import ReplayConfig

DOCS = Path(__file__).resolve().parents[1] / "docs" / "commands"


def test_the_pages_are_what_the_generator_writes():
    assert main([str(DOCS), "--check"]) == 0, "run: python -m cstool.cli.docs docs/commands"


def test_every_command_has_a_page_and_the_index_links_it():
    written = pages()
    assert set(written) == {f"{n}.md" for n in COMMANDS} | {"README.md"}
    assert all(f"]({n}.md)" in written["README.md"] for n in COMMANDS)


def test_a_page_shows_each_option_with_its_default_from_the_dataclass():
    text = page(COMMANDS["replay-train"])
    for f in dataclasses.fields(ReplayConfig):
        assert f"`--{f.name.replace('_', '-')}" in text, f.name
    row = next(line for line in text.splitlines() if line.startswith("| `--consolidation-new`"))
    assert "| `0.6` |" in row  # the default lives on the dataclass field only


def test_the_check_names_a_stale_page(tmp_path, capsys):
    main([str(tmp_path)])
    assert main([str(tmp_path), "--check"]) == 0
    (tmp_path / "switch.md").write_text("edited by hand\n")
    (tmp_path / "gone.md").write_text("a page of no command\n")
    assert main([str(tmp_path), "--check"]) == 1
    err = capsys.readouterr().err
    assert "switch.md differs" in err and "gone.md differs" in err
