"""Fetching model files from the Hugging Face Hub into its standard cache, as transformers does.

A repository (or one file of it) is looked up in the Hugging Face cache ($HF_HOME, $HF_HUB_CACHE) first and
downloaded there on first use, with huggingface_hub's progress on stderr and one line saying where. Offline
mode (``--offline``, $CSTOOL_OFFLINE or $HF_HUB_OFFLINE set to 1, see :mod:`cstool.offline`) turns a fetch
into a clear error naming what to provide. $HF_ENDPOINT points the client at another server (the tests serve
the Hub's layout from 127.0.0.1).
"""

from __future__ import annotations

from pathlib import Path

from cstool.console import is_quiet, log
from cstool.errors import ModelNotFoundError, first_line
from cstool.offline import offline_reason

# What a plain transformers checkpoint needs: config, safetensors weights, tokenizer and generation files.
CHECKPOINT_FILES = ("*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken")


def fetch(repo_id: str, *, filename: str | None = None, revision: str = "main", offline: bool = False) -> Path:
    """The local path of ``repo_id`` (its checkpoint files) or of its file ``filename``, from the cache or
    downloaded into it; the snapshot folder is named by the commit it holds."""
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
        return Path(huggingface_hub.snapshot_download(repo_id, allow_patterns=list(CHECKPOINT_FILES), **common))
    except errors.LocalEntryNotFoundError:
        if why_offline is None:
            raise ModelNotFoundError(
                f"cannot reach the Hugging Face Hub ({constants.ENDPOINT}) for {what}, and it is not in the cache",
                "check the network (or $HF_ENDPOINT), or give a local folder or .gguf file as SOURCE",
            ) from None
        raise ModelNotFoundError(
            f"{what} is not in the Hugging Face cache {constants.HF_HUB_CACHE}, and downloads are off ({why_offline})",
            "give a local folder or .gguf file as SOURCE, or fetch it once where the Hub can be reached",
        ) from None
    except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError, errors.EntryNotFoundError) as e:
        raise ModelNotFoundError(
            f"the Hugging Face Hub has no {what} at revision {revision}: {first_line(e)}",
            "check the repository id (OWNER/NAME), --revision and --gguf-file; a local path must exist",
        ) from None
    except (errors.HfHubHTTPError, OSError) as e:
        raise ModelNotFoundError(
            f"cannot fetch {what} from {constants.ENDPOINT}: {first_line(e)}",
            "check the network and the repository id, or give a local folder or .gguf file as SOURCE",
        ) from None
