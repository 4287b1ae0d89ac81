"""Text files read line by line as UTF-8, the one way cstool reads line-based inputs (plain text, JSONL, CSV,
CoNLL-U, lexicons): a line that is not UTF-8 is an error naming the file and line (or, for readers that count
bad lines, a ``None``), never a traceback. A byte-order mark at the start of the file is dropped."""

from __future__ import annotations

import os
from collections.abc import Iterator

from cstool.base.errors import InputError

UTF8_HINT = "convert the file to UTF-8, e.g. iconv -f LATIN1 -t UTF-8 FILE > FILE.utf8"


def utf8_lines(
    path: str | os.PathLike, *, keepends: bool = False, bad: str = "raise"
) -> Iterator[tuple[int, str | None]]:
    """(line number from 1, text) per line of ``path``, without the line end unless ``keepends``.

    A line that is not valid UTF-8 raises an InputError with ``path:line`` (``bad="raise"``), or is yielded as
    ``None`` (``bad="none"``)."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                if bad == "none":
                    yield lineno, None
                    continue
                raise InputError(f"{path}:{lineno}: not valid UTF-8 (byte {e.start} of the line)", UTF8_HINT) from None
            if lineno == 1:
                line = line.removeprefix("\ufeff")
            yield lineno, line if keepends else line.rstrip("\r\n")
