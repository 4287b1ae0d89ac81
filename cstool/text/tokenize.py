"""cstool's script-agnostic tokenizer and sentence splitter, used by ``tag`` when Stanza's own tokenizer is
not available (a single POS model file carries none)."""

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
