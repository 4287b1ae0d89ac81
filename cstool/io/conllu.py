"""A streaming CoNLL-U reader (https://universaldependencies.org/format.html).

Sentences are read as their *syntactic words* (integer ids), which is what UPOS, lemmas and dependency
relations attach to. Multi-word token ranges (``2-3``) give the surface form, used only to rebuild the
sentence text when there is no ``# text`` comment; empty nodes (``8.1``) are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cstool.base.errors import InputError
from cstool.io.lines import utf8_lines

UPOS_TAGS = (  # Universal Dependencies' part-of-speech tags
    "ADJ",
    "ADP",
    "ADV",
    "AUX",
    "CCONJ",
    "DET",
    "INTJ",
    "NOUN",
    "NUM",
    "PART",
    "PRON",
    "PROPN",
    "PUNCT",
    "SCONJ",
    "SYM",
    "VERB",
    "X",
)
_WORD_ID = re.compile(r"^[1-9][0-9]*$")
_RANGE_ID = re.compile(r"^([1-9][0-9]*)-([1-9][0-9]*)$")
_EMPTY_ID = re.compile(r"^[0-9]+\.[1-9][0-9]*$")


@dataclass
class ConllSentence:
    sent_id: str | None
    text: str
    forms: list[str] = field(default_factory=list)
    upos: list[str] = field(default_factory=list)
    lemmas: list[str | None] = field(default_factory=list)
    misc: list[str] = field(default_factory=list)
    heads: list[str] = field(default_factory=list)  # column 7 as written (an integer in a valid tree)
    heads: list[str] = field(default_factory=list)  # column 7 as written (an integer in a valid tree)
    line: int = 0  # line number of the sentence's first line, for messages


def _space_after(misc: str) -> bool:
    return "SpaceAfter=No" not in misc.split("|")


def read_conllu(path: str | Path, *, gold_upos: str | None = None) -> Iterator[ConllSentence]:
    """Yield the sentences of a CoNLL-U file. Malformed lines raise InputError with file:line; with
    ``gold_upos`` (the UPOS column is used as tags; the text is the hint of the error) so does a UPOS that
    is not one of UD's 17 tags."""
    path = Path(path)
    sent: ConllSentence | None = None
    surface: list[tuple[str, bool]] = []
    covered_until = 0
    comments: dict[str, str] = {}

    def finish() -> ConllSentence | None:
        nonlocal sent, surface, covered_until, comments
        done = sent
        if done is not None:
            if "text" in comments:
                done.text = comments["text"]
            else:
                done.text = "".join(form + (" " if sp else "") for form, sp in surface).rstrip()
            done.sent_id = comments.get("sent_id")
        sent, surface, covered_until, comments = None, [], 0, {}
        return done

    for lineno, line in utf8_lines(path):
        if not line.strip():
            done = finish()
            if done is not None:
                yield done
            continue
        if line.startswith("#"):
            key, sep, value = line[1:].partition("=")
            if sep:
                comments.setdefault(key.strip(), value.strip())
            continue
        cols = line.split("\t")
        if len(cols) != 10:
            raise InputError(
                f"{path}:{lineno}: expected 10 tab-separated columns, found {len(cols)}",
                "CoNLL-U separates columns with tabs; check this line",
            )
        if sent is None:
            sent = ConllSentence(sent_id=None, text="", line=lineno)
        wid, form, lemma, upos, misc = cols[0], cols[1], cols[2], cols[3], cols[9]
        if _EMPTY_ID.match(wid):
            continue
        m = _RANGE_ID.match(wid)
        if m:
            start, end = int(m.group(1)), int(m.group(2))
            if end < start:
                raise InputError(f"{path}:{lineno}: bad multi-word token range {wid}", "the range must be ascending")
            surface.append((form, _space_after(misc)))
            covered_until = end
            continue
        if not _WORD_ID.match(wid):
            raise InputError(f"{path}:{lineno}: bad word id {wid!r}", "ids are 1, 2, ..., ranges 1-2, empty nodes 1.1")
        if int(wid) != len(sent.forms) + 1:
            raise InputError(
                f"{path}:{lineno}: word id {wid} out of sequence (expected {len(sent.forms) + 1})",
                "a blank line must separate sentences",
            )
        if gold_upos is not None and upos not in UPOS_TAGS:
            raise InputError(
                f"{path}:{lineno}: UPOS {upos!r} of word {wid} is not a UD tag"
                + (" (the column is empty)" if upos == "_" else ""),
                f"column 4 holds one of {', '.join(UPOS_TAGS)}; {gold_upos}",
            )
        sent.forms.append(form)
        sent.upos.append(upos)
        sent.lemmas.append(None if lemma == "_" and form != "_" else lemma)
        sent.misc.append(misc)
        sent.heads.append(cols[6])
        if int(wid) > covered_until:
            surface.append((form, _space_after(misc)))
    done = finish()
    if done is not None:
        yield done


def normalized_blocks(path: str | Path) -> list[str]:
    """The sentences of a CoNLL-U file as blocks of lines, as a strict reader (Stanza's) wants them: no byte
    order mark, ``\n`` line ends, and sentences separated by one empty line (a line of only spaces or tabs
    separates sentences here, as :func:`read_conllu` reads it)."""
    blocks, block = [], []
    for _, line in utf8_lines(path):
        if line.strip():
            block.append(line.rstrip("\r"))
        elif block:
            blocks.append("\n".join(block))
            block = []
    if block:
        blocks.append("\n".join(block))
    return blocks
