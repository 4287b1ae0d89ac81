"""Code-switched text that keeps the original sentence: only the switched spans of ``text`` are replaced.

Joining ``tokens_cs`` with spaces would also change every unswitched sentence (``है?`` → ``है ?``, multi-word
tokens split apart), so CS and no-CS training data would differ in more than the switches. Tokens are aligned
to the text left to right; when they cannot be (the tokenizer normalised something), the joined tokens are used.

:func:`splice_text` states the rule for one sentence. :func:`text_cs_column` applies it to a whole batch on
the UTF-8 bytes of the Arrow columns (numpy, no Python object per token); rows whose tokens are empty or hold
whitespace, where the byte-level reasoning below does not apply, go through :func:`splice_text` itself.

Why bytes suffice: for a non-empty token without whitespace, ``text.find(tok, pos)`` with only whitespace
skipped before it succeeds exactly when the token's bytes follow ``pos`` after a run of whitespace. So the
tokens of a row align iff the row's text with every whitespace character removed starts with the
concatenated tokens, and no token's bytes are interrupted by whitespace in the text.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


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


# ---------------------------------------------------------------------------------------------------------
# The same over a batch, on UTF-8 bytes

_ASCII_SPACE = np.zeros(256, bool)
_ASCII_SPACE[[0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20]] = True
_WORD_CHAR_BMP: np.ndarray | None = None  # _is_word_char of every code point below U+10000, made on first use


def _utf8(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets as int64, rebased to start at 0; data bytes) of a string array; null slots may be non-empty."""
    if pa.types.is_large_string(arr.type):
        width = np.int64
    else:
        arr, width = arr.cast(pa.string()), np.int32
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], width, count=len(arr) + 1, offset=arr.offset * np.dtype(width).itemsize).astype(
        np.int64
    )
    data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None and len(bufs[2]) else np.zeros(0, np.uint8)
    return offsets - offsets[0], data[offsets[0] : offsets[-1]]


def _strings(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    """A string array over ``data`` (no copy of it); ``offsets`` must cut it at character boundaries."""
    if len(data) >= 2**31:
        raise ValueError("one batch holds over 2 GiB of text; use smaller batches")
    return pa.Array.from_buffers(
        pa.string(), len(offsets) - 1, [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)]
    )


def space_mask(data: np.ndarray) -> np.ndarray:
    """Per byte of UTF-8 ``data``: does it belong to a character for which ``str.isspace`` holds?"""
    mask = data <= 0x20  # ASCII whitespace lies below 0x21; keep only those bytes
    low = np.flatnonzero(mask)
    mask[low] = _ASCII_SPACE[data[low]]
    lead = np.flatnonzero((data == 0xC2) | ((data - np.uint8(0xE1)) <= 2))  # C2, E1, E2, E3
    if len(lead):
        end = len(data) - 1
        b0, b1, b2 = data[lead], data[np.minimum(lead + 1, end)], data[np.minimum(lead + 2, end)]
        two = (b0 == 0xC2) & ((b1 == 0x85) | (b1 == 0xA0))  # U+0085, U+00A0
        three = (
            ((b0 == 0xE1) & (b1 == 0x9A) & (b2 == 0x80))  # U+1680
            | (
                (b0 == 0xE2)
                & (b1 == 0x80)
                & (((b2 >= 0x80) & (b2 <= 0x8A)) | (b2 == 0xA8) | (b2 == 0xA9) | (b2 == 0xAF))
            )
            | ((b0 == 0xE2) & (b1 == 0x81) & (b2 == 0x9F))  # U+205F
            | ((b0 == 0xE3) & (b1 == 0x80) & (b2 == 0x80))
        )  # U+3000
        for k, hit in ((0, two | three), (1, two | three), (2, three)):
            mask[lead[hit] + k] = True
    return mask


def _code_points(data: np.ndarray, lead: np.ndarray) -> np.ndarray:
    """The code point of the character whose first byte is at each position ``lead`` of UTF-8 ``data``."""
    end = len(data) - 1
    b0, b1, b2, b3 = (data[np.minimum(lead + k, end)].astype(np.int64) for k in range(4))
    return np.where(
        b0 < 0x80,
        b0,
        np.where(
            b0 < 0xE0,
            ((b0 & 0x1F) << 6) | (b1 & 0x3F),
            np.where(
                b0 < 0xF0,
                ((b0 & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (b2 & 0x3F),
                ((b0 & 0x07) << 18) | ((b1 & 0x3F) << 12) | ((b2 & 0x3F) << 6) | (b3 & 0x3F),
            ),
        ),
    )


def _word_chars(cps: np.ndarray) -> np.ndarray:
    """:func:`_is_word_char` of each code point."""
    global _WORD_CHAR_BMP
    if _WORD_CHAR_BMP is None:
        _WORD_CHAR_BMP = np.frombuffer(bytes(_is_word_char(chr(c)) for c in range(0x10000)), np.bool_)
    out = _WORD_CHAR_BMP[np.minimum(cps, 0xFFFF)]
    for i in np.flatnonzero(cps > 0xFFFF).tolist():
        out[i] = _is_word_char(chr(int(cps[i])))
    return out


def text_cs_column(
    texts: pa.Array | None,
    forms: pa.Array,
    row_offsets: np.ndarray,
    unit_row: np.ndarray,
    unit_start: np.ndarray,
    unit_len: np.ndarray,
    unit_target: pa.Array,
    tokens_cs: pa.Array,
) -> tuple[pa.Array, int]:
    """The ``text_cs`` column of a batch, and how many switched rows fell back to the joined tokens.

    ``texts``: the batch's ``text`` column (None: no such column). Rows with nothing switched keep ``text``
    as it is; a null text, or tokens that do not align to it, give ``tokens_cs`` joined by spaces.
    ``unit_*`` describe the switched units (row, global first token, token count, target string), ordered
    by first token; ``row_offsets`` (n_rows + 1) index ``forms``, the batch's tokens.
    """
    n_rows = len(row_offsets) - 1
    row_offsets = np.asarray(row_offsets, np.int64)
    unit_row, unit_start, unit_len = (np.asarray(x, np.int64) for x in (unit_row, unit_start, unit_len))
    if texts is None:
        t_off, t_data, t_valid = np.zeros(n_rows + 1, np.int64), np.zeros(0, np.uint8), np.zeros(n_rows, bool)
    else:
        t_off, t_data = _utf8(texts)
        t_valid = texts.is_valid().to_numpy(zero_copy_only=False) if texts.null_count else np.ones(n_rows, bool)
    has_units = np.zeros(n_rows, bool)
    has_units[unit_row] = True
    spliced = has_units & t_valid
    # Rows with an empty token or one holding whitespace are spliced in Python (``slow``), the rest here.
    f_off, f_data = _utf8(forms)
    tok_len = np.diff(f_off)
    tok_row = np.repeat(np.arange(n_rows), np.diff(row_offsets))
    bad_tok = tok_len <= 0
    f_space = space_mask(f_data)
    if f_space.any():  # whitespace bytes inside each token, by a running count (empty tokens count 0)
        running = np.concatenate([[0], np.cumsum(f_space, dtype=np.int64)])
        bad_tok |= running[f_off[1:]] - running[f_off[:-1]] > 0
    slow = np.zeros(n_rows, bool)
    slow[tok_row[bad_tok]] = True
    slow &= spliced
    ok = spliced & ~slow
    # Align: the text without whitespace must start with the row's tokens (compared row by row by Arrow)...
    t_space = space_mask(t_data)
    spaces = np.flatnonzero(t_space)
    nonspace_before_space = spaces - np.arange(len(spaces))
    ns_off = t_off - np.searchsorted(spaces, t_off)  # non-space bytes before each row boundary
    first_byte = f_off[row_offsets]
    tok_bytes = np.diff(first_byte)
    ok &= tok_bytes <= np.diff(ns_off)
    prefix = np.empty(2 * n_rows + 1, np.int64)
    prefix[0::2], prefix[1::2] = ns_off, ns_off[:-1] + np.minimum(tok_bytes, np.diff(ns_off))
    joined_tokens = np.empty(2 * n_rows + 1, np.int64)
    joined_tokens[0::2], joined_tokens[1::2] = first_byte, first_byte[1:]
    same = pc.equal(_strings(prefix, t_data[~t_space]), _strings(joined_tokens, f_data))
    ok &= same.to_numpy(zero_copy_only=False)[0::2]
    # ... and no whitespace may cut a token: the byte after each space of a row, in the row's concatenated
    # tokens, must start a token (or lie past them).
    space_row = np.repeat(np.arange(n_rows), np.diff(np.searchsorted(spaces, t_off)))
    in_ok = ok[space_row]
    sr = space_row[in_ok]
    after = nonspace_before_space[in_ok] - ns_off[sr] + first_byte[sr]
    token_start = np.zeros(len(f_data) + 1, bool)
    token_start[f_off] = True
    ok[sr[(after < first_byte[sr + 1]) & ~token_start[np.minimum(after, len(f_data))]]] = False
    # The switched units of aligned rows: byte span [a, z) in the text, and a space where a letter touches it.
    u = np.flatnonzero(ok[unit_row])
    ur = unit_row[u]
    last = unit_start[u] + unit_len[u] - 1
    g_first = ns_off[ur] + f_off[unit_start[u]] - first_byte[ur]  # as non-space byte indices
    g_last = ns_off[ur] + f_off[last + 1] - 1 - first_byte[ur]
    a = g_first + np.searchsorted(nonspace_before_space, g_first, "right")
    z = g_last + np.searchsorted(nonspace_before_space, g_last, "right") + 1
    left = a > t_off[ur]
    if left.any():
        p = a[left] - 1
        for _ in range(3):  # back to the first byte of the character before a
            p = np.where((t_data[p] & 0xC0) == 0x80, p - 1, p)
        left[left] = _word_chars(_code_points(t_data, p))
    right = z < t_off[ur + 1]
    if right.any():
        right[right] = _word_chars(_code_points(t_data, z[right]))
    targets = unit_target if len(u) == len(unit_target) else unit_target.take(pa.array(u))
    replacements = pc.binary_join_element_wise(
        pc.if_else(pa.array(left), " ", ""), targets.cast(pa.string()), pc.if_else(pa.array(right), " ", ""), ""
    )
    # Rows spliced in Python, and rows that fall back to the joined tokens.
    slow_rows = np.flatnonzero(slow).tolist()
    slow_out: list[str | None] = []
    if slow_rows:
        py_texts, py_forms, py_targets = texts.to_pylist(), forms.to_pylist(), unit_target.to_pylist()
        for r in slow_rows:
            lo, hi = int(row_offsets[r]), int(row_offsets[r + 1])
            units = [(int(unit_start[j]) - lo, int(unit_len[j]), py_targets[j]) for j in np.flatnonzero(unit_row == r)]
            slow_out.append(splice_text(py_texts[r], py_forms[lo:hi], units))
    joined = ~t_valid | (spliced & ~slow & ~ok)
    joined[[r for r, s in zip(slow_rows, slow_out) if s is None]] = True
    fallbacks = int((joined & has_units).sum())
    # Text pieces: row r is element P[r] (its whole text, or the text before its first unit); the unit i
    # of aligned rows is element P[r] + 2m + 1 (m: its index within the row), the text after it the next.
    piece_row = ur + 1 + 2 * np.arange(len(u))
    row_piece = np.arange(n_rows + 1) + 2 * np.searchsorted(ur, np.arange(n_rows + 1))
    bounds = np.empty(n_rows + 2 * len(u) + 1, np.int64)
    bounds[row_piece], bounds[piece_row], bounds[piece_row + 1] = t_off, a, z
    n_pieces = len(bounds) - 1
    take = np.arange(n_pieces)
    take[piece_row] = n_pieces + np.arange(len(u))  # a unit's span → its replacement
    parts = [_strings(bounds, t_data), replacements]
    j_rows = np.flatnonzero(joined)
    if len(j_rows):
        take[row_piece[j_rows]] = n_pieces + len(u) + np.arange(len(j_rows))
        parts.append(pc.binary_join(tokens_cs.take(pa.array(j_rows)), " ").cast(pa.string()))
    s_rows = [r for r, s in zip(slow_rows, slow_out) if s is not None]
    if s_rows:
        take[row_piece[s_rows]] = n_pieces + len(u) + len(j_rows) + np.arange(len(s_rows))
        parts.append(pa.array([s for s in slow_out if s is not None], pa.string()))
    pieces = pa.concat_arrays(parts).take(pa.array(take))
    text_cs = pc.binary_join(pa.ListArray.from_arrays(pa.array(row_piece.astype(np.int32)), pieces), "")
    return text_cs, fallbacks
