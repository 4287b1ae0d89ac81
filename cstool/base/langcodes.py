"""Language codes: Stanza's, checked the same way by every command that takes a language.

A language Stanza knows is accepted only under Stanza's code, the keys of ``lcode2lang``
(``stanza.models.common.constant``) less the three-letter aliases Stanza itself maps to a two-letter code:
``hin``, ``Hindi`` or ``HI`` are refused with "use hi for Hindi", so rows, taggers and evaluations carry one
spelling per language. A language Stanza does not know (a tagger trained here on a new treebank) needs a
lower-case code of 2–3 letters, optionally with ``-variant``. The table is read from Stanza's source file without
importing the ``stanza`` package (which imports torch), so commands that only check a code start fast.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path
from types import ModuleType

SHAPE = r"[a-z]{2,3}(-[a-z0-9]+)*"


@functools.lru_cache(maxsize=1)
def _stanza_constants() -> ModuleType | None:
    spec = importlib.util.find_spec("stanza")
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "models" / "common" / "constant.py"
    loader_spec = importlib.util.spec_from_file_location("_cstool_stanza_constant", path)
    if loader_spec is None or loader_spec.loader is None or not path.is_file():
        return None
    module = importlib.util.module_from_spec(loader_spec)
    loader_spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=1)
def codes() -> dict[str, str]:
    """Accepted code → language name (e.g. ``hi`` → ``Hindi``)."""
    c = _stanza_constants()
    if c is None:
        return {}
    return {code: name for code, name in c.lcode2lang.items() if code not in c.three_to_two_letters}


def problem(value: str | None, option: str = "--lang") -> str | None:
    """Why ``value`` is not an accepted language code (one line naming what is accepted), or None."""
    known = codes()
    if not known:  # Stanza absent: only the shape can be checked
        ok = re.fullmatch(SHAPE, value or "")
        return None if ok else f"{option} must be a lower-case language code such as hi or mr, got {value!r}"
    if value in known:
        return None
    c = _stanza_constants()
    lower = (value or "").strip().lower()
    if lower in known:
        suggestion = lower
    elif lower in c.three_to_two_letters:
        suggestion = c.three_to_two_letters[lower]
    else:
        suggestion = c.langlower2lcode.get(lower)
    said = f"{option} {value!r} is not one of Stanza's language codes"
    if suggestion in known:
        return f"{said}: use {suggestion} for {known[suggestion]}"
    if re.fullmatch(SHAPE, value or ""):
        return None  # a language Stanza does not know
    return (
        f"{option} must be a language code: Stanza's (ISO 639-1 where there is one, e.g. hi Hindi, mr Marathi, "
        f"en English), or for a language Stanza lacks 2-3 lower-case letters; got {value!r}"
    )
