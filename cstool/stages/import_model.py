"""import-model: a GGUF file or a Hugging Face checkpoint (a Hub repository or a local folder) into a plain
transformers folder: ``config.json``, safetensors weights and the tokenizer, which loads with plain
``AutoModelForCausalLM.from_pretrained(FOLDER)`` and serves as ``--teacher`` of distill and teacher-cache.

SOURCE is found as transformers finds a model: a local path (a ``.gguf`` file, or a folder with ``config.json``
or one ``.gguf``), else a Hub repository id (OWNER/NAME) in the Hugging Face cache, else downloaded into that cache
(:mod:`cstool.models.hub`; never with ``--offline`` or $HF_HUB_OFFLINE=1). GGUF weights are dequantized (transformers
reads them through the ``gguf`` package: ``pip install 'cstool[gguf]'``). The folder appears whole or not at
all, and its ``cstool.json`` records the source, the Hub commit and the SHA-256 of every file read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cstool.base import devices
from cstool.base.errors import ConfigError, InputError, ModelNotFoundError
from cstool.base.fields import offline_option, option
from cstool.io import artifacts, atomic, paths
from cstool.models import hf

__all__ = ["ImportModelConfig", "ImportModelResult", "run"]


@dataclass(frozen=True)
class ImportModelConfig:
    gguf_file: str | None = option(
        None, "The GGUF file to import from SOURCE (a Hub repository, or a folder holding several)."
    )
    revision: str = option("main", "Hub branch, tag or commit of SOURCE.")
    dtype: str = option("float32", "float32, bfloat16 or float16: the dtype of the saved weights.")
    offline: bool = offline_option()

    def __post_init__(self) -> None:
        problems = []
        if problem := devices.dtype_problem(self.dtype):
            problems.append(problem)
        if self.gguf_file is not None and not self.gguf_file.endswith(".gguf"):
            problems.append(f"--gguf-file must name a .gguf file, got {self.gguf_file!r}")
        ConfigError.collect(problems, "see cstool import-model --help")


@dataclass(frozen=True)
class ImportModelResult:
    output: Path
    format: str  # gguf or transformers
    model_type: str
    parameters: int
    vocab: int
    commit: str | None  # the Hub commit, when SOURCE came from the Hub


@dataclass(frozen=True)
class _Located:
    folder: Path  # the folder holding the checkpoint (a Hub snapshot, or the user's)
    gguf_file: str | None
    commit: str | None


def run(config: ImportModelConfig, *, source: str, output: str | os.PathLike) -> ImportModelResult:
    """Locate SOURCE, load it, write the plain folder ``output`` (atomic; an existing non-empty one is refused)."""
    out = Path(output)
    local = Path(source).expanduser()
    paths.check_outputs({"-o": out}, {"SOURCE": [local]} if local.exists() else {}, folders=["-o"])
    if out.exists() and any(out.iterdir()):
        raise InputError(f"-o {out} exists and is not empty", "choose a new folder, or delete this one first")
    located = locate(source, config)
    model, tokenizer = load(located, config)
    write(model, tokenizer, out, provenance(source, located, config))
    return ImportModelResult(
        output=out,
        format="gguf" if located.gguf_file else "transformers",
        model_type=model.config.model_type,
        parameters=sum(p.numel() for p in model.parameters()),
        vocab=len(tokenizer),
        commit=located.commit,
    )


# ---------------------------------------------------------------------------------------------------------
# Setup: where SOURCE is


def locate(source: str, config: ImportModelConfig) -> _Located:
    """A local ``.gguf`` file or folder, else a Hub repository (cached or fetched)."""
    p = Path(source).expanduser()
    if p.is_file():
        if p.suffix != ".gguf":
            raise InputError(
                f"SOURCE {source} is a file but not a .gguf file",
                "give a .gguf file, a checkpoint folder (config.json + weights) or a Hub repository id OWNER/NAME",
            )
        if config.gguf_file not in (None, p.name):
            raise ConfigError(
                f"SOURCE is the file {p.name} but --gguf-file says {config.gguf_file}", "drop --gguf-file"
            )
        return _Located(p.parent, p.name, None)
    if p.is_dir():
        return _Located(p, _gguf_in(p, config.gguf_file), None)
    from cstool.models import hub

    if not hub.looks_like_repo_id(source):
        raise ModelNotFoundError(
            f"SOURCE {source} not found: no such file or folder",
            "give a .gguf file, a checkpoint folder (config.json + weights) or a Hub repository id OWNER/NAME",
        )
    fetched = hub.fetch(source, filename=config.gguf_file, revision=config.revision, offline=config.offline)
    folder = fetched.parent if config.gguf_file else fetched
    return _Located(folder, config.gguf_file or _gguf_in(folder, None, repo=source), folder.name)


def _gguf_in(folder: Path, wanted: str | None, repo: str | None = None) -> str | None:
    """The GGUF file to read in ``folder`` (None: a transformers checkpoint)."""
    if wanted is not None:
        if not (folder / wanted).is_file():
            found = sorted(f.name for f in folder.glob("*.gguf"))
            raise ModelNotFoundError(
                f"--gguf-file {wanted}: no such file in {folder}",
                f"it has {', '.join(found)}" if found else "give the name of a .gguf file in SOURCE",
            )
        return wanted
    if (folder / "config.json").is_file():
        return None
    found = sorted(f.name for f in folder.glob("*.gguf"))
    if len(found) == 1:
        return found[0]
    where = repo or str(folder)
    if found:
        raise ConfigError(
            f"{where} holds {len(found)} GGUF files: {', '.join(found)}",
            "choose one with --gguf-file NAME (e.g. the Q8_0 or F16 file: dequantized, the quality stays closest)",
        )
    raise ModelNotFoundError(
        f"{where} has no config.json and no .gguf file",
        "a checkpoint folder needs config.json and weights (save_pretrained); for a GGUF-only Hub repository "
        "name its file with --gguf-file NAME.gguf",
    )


# ---------------------------------------------------------------------------------------------------------
# Main work: loading


def load(located: _Located, config: ImportModelConfig) -> tuple[Any, Any]:
    import torch

    dtype = getattr(torch, config.dtype)
    if located.gguf_file:
        return hf.load_gguf(located.folder, located.gguf_file, dtype=dtype)
    tokenizer = hf.load_tokenizer(located.folder)
    return hf.load_causal_lm(located.folder, dtype=dtype), tokenizer


# ---------------------------------------------------------------------------------------------------------
# Writing


def provenance(source: str, located: _Located, config: ImportModelConfig) -> dict:
    """The options, the source and the Hub commit, and a SHA-256 of every file read (the GGUF, or the
    checkpoint's config, weights and tokenizer files)."""
    if located.gguf_file:
        files = [located.folder / located.gguf_file]
    else:
        files = sorted(f for f in located.folder.iterdir() if f.is_file() and not f.name.startswith("."))
    options = {**artifacts.jsonable(config), "source": source, "commit": located.commit}
    return artifacts.make_provenance("import-model", options=options, inputs=[str(f) for f in files])


def write(model: Any, tokenizer: Any, out: Path, prov: dict) -> None:
    with atomic.atomic_dir(out) as tmp:
        hf.save_model_dir(model, tokenizer, tmp, prov)
