"""Whether cstool may download anything: ``--offline``, or $CSTOOL_OFFLINE / $HF_HUB_OFFLINE set to 1.

Everything cstool fetches on first use asks this one question: Hugging Face models named by a Hub id
(:mod:`cstool.models.hf`, through :mod:`cstool.models.hub`), Stanza models
(:mod:`cstool.models.stanza_pipelines`) and Hub datasets (:mod:`cstool.io.hfdata`, :mod:`cstool.lm.harness`).
Online, a missing one is downloaded into its cache (the Hugging Face cache, Stanza's resources folder);
offline, only what the cache holds is used and a missing
one is a one-line error naming why downloads are off. The command line runs a command with ``--offline``
inside :func:`refused`, so its flag reaches every download of the command, not only the model loads.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

OFFLINE_ENV = ("CSTOOL_OFFLINE", "HF_HUB_OFFLINE")
_refused = {"depth": 0}


def offline_reason(flag: bool = False) -> str | None:
    """Why nothing may be downloaded (``--offline``, or $CSTOOL_OFFLINE / $HF_HUB_OFFLINE set to 1), or None."""
    if flag or _refused["depth"]:
        return "--offline"
    for name in OFFLINE_ENV:
        if os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{name}={os.environ[name]}"
    return None


@contextlib.contextmanager
def refused(on: bool = True) -> Iterator[None]:
    """While inside, :func:`offline_reason` says ``--offline`` (when ``on``): a command's ``--offline``."""
    _refused["depth"] += bool(on)
    try:
        yield
    finally:
        _refused["depth"] -= bool(on)
