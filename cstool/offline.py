"""Whether cstool may download anything: ``--offline``, or $CSTOOL_OFFLINE / $HF_HUB_OFFLINE set to 1.

Stanza models (:mod:`cstool.stanza_models`) and Hub datasets (:mod:`cstool.hfdata`) ask the same question here.
Hugging Face models are another matter: :mod:`cstool.models` loads them from local paths and fetches one only
when the caller passes ``allow_download=True`` (``--allow-download`` of distill and teacher-cache).
"""

from __future__ import annotations

import os

OFFLINE_ENV = ("CSTOOL_OFFLINE", "HF_HUB_OFFLINE")


def offline_reason(flag: bool = False) -> str | None:
    """Why nothing may be downloaded (``--offline``, or $CSTOOL_OFFLINE / $HF_HUB_OFFLINE set to 1), or None."""
    if flag:
        return "--offline"
    for name in OFFLINE_ENV:
        if os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{name}={os.environ[name]}"
    return None
