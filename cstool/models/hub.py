"""Fetching model files from the Hugging Face Hub into its standard cache, as transformers does.

A name is a Hub repository id when it looks like one (:func:`looks_like_repo_id`: OWNER/NAME, whose OWNER is
not a local folder); a path that does not exist is never sent to the Hub. A repository (or one file of it) is
looked up in the Hugging Face cache ($HF_HOME, $HF_HUB_CACHE) first and downloaded there on first use, with
huggingface_hub's progress on stderr and one line saying where. Offline mode (``--offline``, $CSTOOL_OFFLINE
or $HF_HUB_OFFLINE set to 1, see :mod:`cstool.base.offline`) uses the cache only and turns a fetch into a clear
error naming why downloads are off and what to provide. $HF_ENDPOINT points the client at another server
(the tests serve the Hub's layout from 127.0.0.1).
"""

from __future__ import annotations

import re
from pathlib import Path

from cstool.base.console import is_quiet, log
from cstool.base.errors import ModelNotFoundError, first_line
from cstool.base.offline import offline_reason

# What a plain transformers checkpoint needs: config, safetensors weights, tokenizer, chat template and
# generation files; a tokenizer alone needs all of them but the weights.
CHECKPOINT_FILES = ("*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken", "*.jinja")
TOKENIZER_FILES = tuple(p for p in CHECKPOINT_FILES if p != "*.safetensors")
_REPO_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def looks_like_repo_id(name: str) -> bool:
    """Whether ``name`` (not an existing path) may be a Hub repository id: OWNER/NAME in the Hub's characters,
    not starting with ``.``, ``/`` or ``~``, its OWNER not a local folder (``runs/studnet`` is a misspelt path)."""
    owner, slash, repo = str(name).partition("/")
    return (
        bool(slash)
        and all(_REPO_PART.fullmatch(part) for part in (owner, repo))
        and not repo.endswith((".", ".gguf"))
        and not Path(owner).is_dir()
    )


def _downloads_on(why_offline: str) -> str:
    """How to let cstool download again: drop the flag, or unset the variable."""
    return "drop --offline" if why_offline == "--offline" else f"unset {why_offline.split('=')[0]}"


def fetch(
    repo_id: str,
    *,
    filename: str | None = None,
    revision: str = "main",
    offline: bool = False,
    files: tuple[str, ...] = CHECKPOINT_FILES,
    instead: str = "give a local folder or .gguf file as SOURCE",
) -> Path:
    """The local path of ``repo_id`` (its ``files``, glob patterns) or of its file ``filename``, from the cache
    or downloaded into it; the snapshot folder is named by the commit it holds. ``instead``: what the user can
    give in its place, for the hints of the errors."""
    import huggingface_hub
    from huggingface_hub import constants, errors

    why_offline = offline_reason(offline)
    what = f"{filename} of {repo_id}" if filename else repo_id
    if is_quiet():
        huggingface_hub.utils.disable_progress_bars()
    common = {"revision": revision, "local_files_only": why_offline is not None}
    try:
        if why_offline is None:
            log(f"fetching {what} (revision {revision}) into the Hugging Face cache {constants.HF_HUB_CACHE}")
        if filename:
            return Path(huggingface_hub.hf_hub_download(repo_id, filename, **common))
        return Path(huggingface_hub.snapshot_download(repo_id, allow_patterns=list(files), **common))
    except errors.LocalEntryNotFoundError:
        if why_offline is None:
            raise ModelNotFoundError(
                f"cannot reach the Hugging Face Hub ({constants.ENDPOINT}) for {what}, and it is not in the cache",
                f"check the network (or $HF_ENDPOINT), or {instead}",
            ) from None
        raise ModelNotFoundError(
            f"{what} is not in the Hugging Face cache {constants.HF_HUB_CACHE}, and downloads are off ({why_offline})",
            f"{instead}, or {_downloads_on(why_offline)} to fetch it into the cache",
        ) from None
    except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError, errors.EntryNotFoundError) as e:
        raise ModelNotFoundError(
            f"the Hugging Face Hub has no {what} at revision {revision}: {first_line(e)}",
            "check the repository id (OWNER/NAME)"
            + (", --revision and --gguf-file" if filename or revision != "main" else "")
            + "; a local path must exist",
        ) from None
    except (errors.HfHubHTTPError, OSError) as e:
        raise ModelNotFoundError(
            f"cannot fetch {what} from {constants.ENDPOINT}: {first_line(e)}",
            f"check the network and the repository id, or {instead}",
        ) from None
