"""The one place that loads models: Hugging Face causal LMs and tokenizers, Stanza pipelines, peft adapters.

Everything is offline by default: a path must exist locally. A download happens only when the caller
passes ``allow_download=True`` (the ``--allow-download`` flag), and every "not found" error names the
path that is missing and the flag or command that provides it. Heavy libraries are imported inside the
functions, so importing this module is cheap.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cstool.errors import CstoolError, ModelNotFoundError


def set_threads(n: int | None) -> int:
    """Use ``n`` CPU threads for torch (default: $OMP_NUM_THREADS, else 1). Returns the number used.

    More threads than free cores makes torch far slower, so the default never guesses upwards.
    """
    if n is None:
        n = int(os.environ.get("OMP_NUM_THREADS") or 1)
    if n < 1:
        raise CstoolError(f"--threads must be at least 1, got {n}", "use --threads 1 on a shared machine")
    os.environ["OMP_NUM_THREADS"] = str(n)
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def _resolve(path_or_id: str | os.PathLike, what: str, allow_download: bool) -> tuple[str, bool]:
    """Return (name to pass to from_pretrained, local_files_only)."""
    p = Path(path_or_id).expanduser()
    if p.exists():
        return str(p), True
    if allow_download:
        return str(path_or_id), False
    raise ModelNotFoundError(
        f"{what} not found at {path_or_id}",
        f"give a local directory made by save_pretrained, or pass --allow-download to fetch '{path_or_id}' "
        "from the Hugging Face Hub",
    )


def load_tokenizer(path: str | os.PathLike, *, allow_download: bool = False):
    from transformers import AutoTokenizer

    name, local = _resolve(path, "tokenizer", allow_download)
    try:
        return AutoTokenizer.from_pretrained(name, local_files_only=local, trust_remote_code=False)
    except (OSError, ValueError) as e:
        raise ModelNotFoundError(
            f"cannot load a tokenizer from {name}: {str(e).splitlines()[0]}",
            "the folder needs tokenizer files (tokenizer.json or tokenizer_config.json) written by save_pretrained",
        ) from None


def load_causal_lm(
    path: str | os.PathLike,
    *,
    allow_download: bool = False,
    dtype: Any = None,
    device: str = "cpu",
    gguf_file: str | None = None,
):
    """Load a causal LM (any ``AutoModelForCausalLM`` architecture) from a local folder."""
    from transformers import AutoModelForCausalLM

    name, local = _resolve(path, "model", allow_download)
    kwargs: dict[str, Any] = {"local_files_only": local, "trust_remote_code": False}
    if dtype is not None:
        kwargs["dtype"] = dtype
    if gguf_file is not None:
        kwargs["gguf_file"] = gguf_file
    try:
        model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
    except (OSError, ValueError) as e:
        raise ModelNotFoundError(
            f"cannot load a causal LM from {name}: {str(e).splitlines()[0]}",
            "the folder needs config.json and weights written by save_pretrained",
        ) from None
    return model.to(device)


def load_adapter(model, path: str | os.PathLike, *, adapter_name: str = "default", trainable: bool = False):
    """Attach a peft adapter saved with ``save_pretrained`` to ``model`` (a base or a PeftModel)."""
    from peft import PeftModel

    p = Path(path)
    if not (p / "adapter_config.json").is_file():
        raise ModelNotFoundError(
            f"no peft adapter at {p} (adapter_config.json missing)",
            "give a folder written by cstool replay-train (RUN_DIR/adapters/<task>/) or by peft's save_pretrained",
        )
    if isinstance(model, PeftModel):
        model.load_adapter(str(p), adapter_name=adapter_name, is_trainable=trainable)
        return model
    return PeftModel.from_pretrained(model, str(p), adapter_name=adapter_name, is_trainable=trainable)


def default_stanza_dir() -> Path:
    return Path(os.environ.get("STANZA_RESOURCES_DIR") or Path.home() / "stanza_resources")


def load_stanza_pipeline(
    lang: str,
    *,
    pos_model: str | os.PathLike | None = None,
    stanza_dir: str | os.PathLike | None = None,
    pretokenized: bool = True,
    device: str = "cpu",
    batch_size: int = 5000,
    allow_download: bool = False,
):
    """A Stanza pipeline that gives UPOS (and lemmas when the resources have a lemmatizer).

    * ``pos_model``: a single tagger file (e.g. from ``cstool train-tagger``); input must be pretokenized
      (cstool's own tokenizer does that) and no lemmas are produced.
    * otherwise Stanza's resources for ``lang`` in ``stanza_dir`` (default $STANZA_RESOURCES_DIR or
      ~/stanza_resources): tokenize (unless pretokenized), pos, and lemma if present. Never downloads
      unless ``allow_download``.
    """
    import logging

    import stanza

    use_gpu = device.startswith("cuda")
    common = dict(
        lang=lang,
        use_gpu=use_gpu,
        pos_batch_size=batch_size,
        logging_level="ERROR",
        tokenize_pretokenized=pretokenized,
    )
    logging.getLogger("stanza").setLevel(logging.WARNING)
    if pos_model is not None:
        model_path = Path(pos_model)
        if not model_path.is_file():
            raise ModelNotFoundError(
                f"Stanza POS model {model_path} does not exist",
                "train one with: cstool train-tagger --train X.conllu --dev Y.conllu --lang LANG -o tagger.pt",
            )
        res_dir = Path(stanza_dir) if stanza_dir else _empty_resources_dir()
        try:
            return stanza.Pipeline(
                dir=str(res_dir),
                processors="tokenize,pos",
                pos_model_path=str(model_path),
                download_method=None,
                allow_unknown_language=True,
                **common,
            )
        except Exception as e:  # stanza raises bare Exceptions for unreadable model files
            raise ModelNotFoundError(
                f"cannot load Stanza POS model {model_path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                "give a file written by cstool train-tagger or Stanza's tagger trainer",
            ) from None

    res_dir = Path(stanza_dir) if stanza_dir else default_stanza_dir()
    hint = (
        f"give --pos-model FILE (train one with: cstool train-tagger --train X.conllu --lang {lang} -o tagger.pt), "
        f"or --stanza-dir DIR holding Stanza's '{lang}' models (fetch them once with --allow-download)"
    )
    available = _stanza_resources(res_dir).get(lang)
    if not available and not allow_download:
        raise ModelNotFoundError(f"no Stanza model for language '{lang}' in {res_dir}", hint)
    processors = "tokenize,pos" + (",lemma" if not available or "lemma" in available else "")
    try:
        return stanza.Pipeline(
            dir=str(res_dir),
            processors=processors,
            download_method="reuse_resources" if allow_download else None,
            **common,
        )
    except Exception as e:
        raise ModelNotFoundError(f"cannot build a Stanza pipeline for '{lang}' from {res_dir}: {e}", hint) from None


def _stanza_resources(res_dir: Path) -> dict:
    try:
        return json.loads((res_dir / "resources.json").read_text())
    except (OSError, ValueError):
        return {}


def _empty_resources_dir() -> Path:
    """Stanza needs a resources dir even when every model is given by path; an empty index suffices."""
    d = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cstool" / "stanza-empty"
    d.mkdir(parents=True, exist_ok=True)
    index = d / "resources.json"
    if not index.exists():
        index.write_text("{}")
    return d
