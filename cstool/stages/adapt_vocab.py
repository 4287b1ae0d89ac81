"""adapt-vocab: give a trained causal LM a new tokenizer, its new embedding rows initialised from the old
tokenizer's pieces (the method and the mean rule: :mod:`cstool.lm.vocab_adapt`). The output folder loads with
plain ``AutoModelForCausalLM`` / ``AutoTokenizer`` and carries the options that made it (cstool.json)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cstool.base.errors import ConfigError, InputError
from cstool.base.fields import offline_option, option
from cstool.io import artifacts, atomic, locks, paths
from cstool.lm.vocab_adapt import MODES, adapt_vocabulary
from cstool.models import hf

__all__ = ["AdaptVocabConfig", "adapt_vocab"]


@dataclass(frozen=True)
class AdaptVocabConfig:
    tokenizer: str = option(help="New tokenizer folder (e.g. from cstool train-tokenizer on the new language).")
    mode: str = option("replace", "replace: the model takes the new tokenizer; extend: the new pieces are added.")
    offline: bool = offline_option()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}", "e.g. --mode extend")


@locks.locks_output("adapt-vocab", "out_dir")
def adapt_vocab(model_path: str, out_dir: str | os.PathLike, *, config: AdaptVocabConfig) -> dict[str, Any]:
    """Adapt the model at ``model_path`` to ``config.tokenizer`` and save it to ``out_dir``."""
    out = Path(out_dir)
    paths.check_outputs({"-o": out}, {"MODEL": [model_path], "--tokenizer": [config.tokenizer]}, folders=["-o"])
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} exists and is not empty", "choose another -o or delete the folder")
    old_tok = hf.load_tokenizer(model_path, offline=config.offline)
    new_tok = hf.load_tokenizer(config.tokenizer, offline=config.offline)
    model = hf.load_causal_lm(model_path, offline=config.offline)
    old_rows = model.get_input_embeddings().num_embeddings
    model, tok = adapt_vocabulary(model, old_tok, new_tok, mode=config.mode)
    prov = artifacts.make_provenance("adapt-vocab", options={**artifacts.jsonable(config), "model": model_path})
    with atomic.atomic_dir(out) as tmp:
        hf.save_model_dir(model, tok, tmp, prov)
    return {
        "mode": config.mode,
        "old_vocab": len(old_tok),
        "new_vocab": len(tok),
        "old_rows": old_rows,
        "new_rows": model.get_input_embeddings().num_embeddings,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
