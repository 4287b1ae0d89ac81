"""cstool's script-agnostic tokenizer and sentence splitter, used by ``tag`` when Stanza's own tokenizer is
not available (a single POS model file carries none), and the cutting of over-long rows into bounded pieces."""

from __future__ import annotations

import re
import unicodedata


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PS"


def tokenize(text: str) -> list[str]:
    """Split on whitespace, then peel punctuation and symbols off both ends of each piece.

    Works for any script written with spaces (Latin, Devanagari, ...): combining marks stay inside words,
    the danda ``।`` is split off, and inner punctuation (``don't``, ``3.5``, ``e-mail``) stays.
    """
    out: list[str] = []
    for piece in text.split():
        start, end = 0, len(piece)
        lead: list[str] = []
        while start < end and _is_punct(piece[start]):
            lead.append(piece[start])
            start += 1
        trail: list[str] = []
        while end > start and _is_punct(piece[end - 1]):
            trail.append(piece[end - 1])
            end -= 1
        out.extend(lead)
        if start < end:
            out.append(piece[start:end])
        out.extend(reversed(trail))
    return out


_SENT_END = re.compile(r"(?<=[.!?।॥])\s+")


def split_sentences(text: str) -> list[str]:
    """Sentence split for documents when Stanza's tokenizer is not available: after . ! ? । ॥ + space."""
    return [s for s in _SENT_END.split(text.strip()) if s]


def token_pieces(tokens: list[str], size: int) -> list[list[str]]:
    """``tokens`` cut into consecutive pieces of at most ``size`` tokens (none for no tokens)."""
    return [tokens[i : i + size] for i in range(0, len(tokens), size)]


_LAST_SPACE = re.compile(r"\s(?=\S*$)")


def text_pieces(text: str, size: int) -> list[str]:
    """``text`` cut into consecutive pieces of at most ``size`` characters, at the last whitespace before the
    limit (inside a word only when a word is longer than ``size``); joined, the pieces are ``text``."""
    out, start = [], 0
    while len(text) - start > size:
        m = _LAST_SPACE.search(text, start, start + size)
        end = m.start() + 1 if m and m.start() > start else start + size
        out.append(text[start:end])
        start = end
    if start < len(text):
        out.append(text[start:])
    return out
