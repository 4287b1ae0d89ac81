"""adapt-vocab: give a trained causal LM a new tokenizer, its new embedding rows initialised from the old
tokenizer's pieces (the method and the mean rule: :mod:`cstool.lm.vocab_adapt`). The output folder loads with
plain ``AutoModelForCausalLM`` / ``AutoTokenizer`` and carries the options that made it (cstool.json)."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from cstool.base.errors import ConfigError, InputError
from cstool.base.fields import offline_option, option
from cstool.io import artifacts, atomic, locks, paths
from cstool.lm.vocab_adapt import MODES, adapt_vocabulary
from cstool.models import hf

__all__ = ["AdaptVocabConfig", "AdaptVocabResult", "run"]


@dataclass(frozen=True)
class AdaptVocabConfig:
    tokenizer: str = option(help="New tokenizer folder (e.g. from cstool train-tokenizer on the new language).")
    mode: str = option("replace", "replace: the model takes the new tokenizer; extend: the new pieces are added.")
    offline: bool = offline_option()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}", "e.g. --mode extend")


@dataclass(frozen=True)
class AdaptVocabResult:
    output: Path  # the adapted model folder
    mode: str
    old_vocab: int  # tokenizer lengths before and after
    new_vocab: int
    old_rows: int  # embedding rows before and after
    new_rows: int
    parameters: int

    def summary(self) -> dict[str, int | str]:
        """What the console shows: every field but the folder."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "output"}


@locks.locks_output("adapt-vocab", "output")
def run(config: AdaptVocabConfig, *, model: str, output: str | os.PathLike) -> AdaptVocabResult:
    """Adapt the model at ``model`` (a folder or Hub id) to ``config.tokenizer`` and save it to ``output``."""
    model_path, out = model, Path(output)
    paths.check_outputs({"-o": out}, {"MODEL": [model_path], "--tokenizer": [config.tokenizer]}, folders=["-o"])
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} exists and is not empty", "choose another -o or delete the folder")
    old_tok = hf.load_tokenizer(model_path, offline=config.offline)
    new_tok = hf.load_tokenizer(config.tokenizer, offline=config.offline)
    lm = hf.load_causal_lm(model_path, offline=config.offline)
    old_rows = lm.get_input_embeddings().num_embeddings
    lm, tok = adapt_vocabulary(lm, old_tok, new_tok, mode=config.mode)
    prov = artifacts.make_provenance("adapt-vocab", options={**artifacts.jsonable(config), "model": model_path})
    with atomic.atomic_dir(out) as tmp:
        hf.save_model_dir(lm, tok, tmp, prov)
    return AdaptVocabResult(
        output=out,
        mode=config.mode,
        old_vocab=len(old_tok),
        new_vocab=len(tok),
        old_rows=old_rows,
        new_rows=lm.get_input_embeddings().num_embeddings,
        parameters=sum(p.numel() for p in lm.parameters()),
    )
