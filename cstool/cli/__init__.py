"""The cstool command line: one thin command per stage, generated from the stage's config dataclass.

Each command parses its options (flags, or keys of ``--config x.yaml``), builds the stage's config, calls
the stage function and reports; the work itself lives in ``cstool.stages``. :mod:`cstool.cli.app` holds the
typer app and global options, :mod:`cstool.cli.options` the generator, and ``data``, ``lm``, ``continual``
and ``vqa`` the commands.
"""

from __future__ import annotations

from cstool.cli import continual, data, lm, vqa
from cstool.cli.app import app, register

register(*data.COMMANDS, panel="Text data")
register(*lm.COMMANDS, panel="Language models")
register(*continual.COMMANDS, panel="Continual learning")
register(*vqa.COMMANDS, panel="VQA")

__all__ = ["app", "main"]


def main() -> None:
    app(prog_name="cstool")  # also under python -m cstool: usage lines and shell completion say cstool
