"""User-facing errors: one line of what went wrong plus a hint of how to fix it.

The CLI prints ``error: <message>`` and ``hint: <hint>`` to stderr and exits 2. Anything that is not a
``CstoolError`` is a bug in cstool and keeps its traceback.
"""

from __future__ import annotations


class CstoolError(Exception):
    """An error caused by the user's input, options or environment."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


def first_line(e: BaseException) -> str:
    """The first line of an exception's text (its type's name when it has none): for messages of one line."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) in a stage that keeps resumable work: says what was kept and how to continue.

    A KeyboardInterrupt, so that callers that stop on Ctrl-C still do; the CLI prints its message and hint
    (a plain KeyboardInterrupt reads "interrupted; no output was written") and exits 130."""

    exit_code = 130

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class SchemaError(CstoolError):
    """An artifact lacks columns a stage needs, or has them with the wrong type."""


class InputError(CstoolError):
    """An input file is missing, empty, unreadable or malformed."""


class OutputError(CstoolError):
    """An output cannot be written: the disk is full, a name is too long, the filesystem is read-only."""


class ModelNotFoundError(CstoolError):
    """A model, tokenizer, tagger or adapter is not where it was asked to be loaded from."""


class ConfigError(CstoolError):
    """Options that are out of range or contradict each other; the message lists every problem."""

    @classmethod
    def collect(cls, problems: list[str], hint: str | None = None) -> None:
        """Raise once with every problem found, or do nothing when there are none."""
        if problems:
            raise cls("; ".join(problems), hint)


def at_least(config: object, minimum: int, *fields: str) -> list[str]:
    """Problems for the integer ``fields`` of ``config`` below ``minimum``, named as their CLI flags."""
    return [
        f"--{name.replace('_', '-')} must be at least {minimum}, got {getattr(config, name)}"
        for name in fields
        if getattr(config, name) < minimum
    ]
