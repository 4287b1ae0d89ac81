"""Code-switched text that keeps the original sentence: only the switched spans of ``text`` are replaced.

Joining ``tokens_cs`` with spaces would also change every unswitched sentence (``है?`` → ``है ?``, multi-word
tokens split apart), so CS and no-CS training data would differ in more than the switches. Tokens are aligned
to the text left to right; when they cannot be (the tokenizer normalised something), the joined tokens are used.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pyarrow as pa


def _is_word_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LMN"


def splice_text(text: str, tokens: list[str], units: list[tuple[int, int, str]]) -> str | None:
    """``text`` with each unit (first token index, token count, replacement) replaced, in ascending order.

    Returns None when the tokens do not appear in ``text`` in order (only whitespace between them). A
    replacement glued to letters on either side (part of a multi-word token) gets a space there.
    """
    spans = []
    pos = 0
    for tok in tokens:
        i = text.find(tok, pos)
        if i < 0 or text[pos:i].strip():
            return None
        spans.append((i, i + len(tok)))
        pos = i + len(tok)
    out, cur = [], 0
    for first, count, replacement in units:
        a, z = spans[first][0], spans[first + count - 1][1]
        out.append(text[cur:a])
        left = " " if a > 0 and _is_word_char(text[a - 1]) else ""
        right = " " if z < len(text) and _is_word_char(text[z]) else ""
        out.append(left + replacement + right)
        cur = z
    out.append(text[cur:])
    return "".join(out)


def text_cs_column(
    texts: list[str | None], forms: pa.Array, row_offsets: np.ndarray, unit_row: np.ndarray,
    unit_start: np.ndarray, unit_len: np.ndarray, unit_target: pa.Array, joined: pa.Array,
) -> tuple[pa.Array, int]:
    """The ``text_cs`` column of a batch, and how many switched rows fell back to the joined tokens.

    Rows with nothing switched keep ``text`` as it is. ``unit_*`` describe the switched units (row, global
    first token, token count, target string), ordered by first token.
    """
    out = list(texts)
    if len(unit_row) == 0:
        return pa.array([t if t is not None else j for t, j in zip(out, joined.to_pylist())], pa.string()), 0
    flat = forms.to_pylist()
    targets = unit_target.to_pylist()
    joined_list = joined.to_pylist()
    fallbacks = 0
    bounds = np.flatnonzero(np.diff(unit_row)) + 1
    for group in np.split(np.arange(len(unit_row)), bounds):
        r = int(unit_row[group[0]])
        lo, hi = int(row_offsets[r]), int(row_offsets[r + 1])
        units = [(int(unit_start[k]) - lo, int(unit_len[k]), targets[k]) for k in group]
        spliced = splice_text(out[r], flat[lo:hi], units) if out[r] is not None else None
        if spliced is None:
            fallbacks += 1
            spliced = joined_list[r]
        out[r] = spliced
    for r, t in enumerate(out):
        if t is None:
            out[r] = joined_list[r]
    return pa.array(out, pa.string()), fallbacks
