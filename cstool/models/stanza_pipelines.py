"""Stanza pipelines for tagging: a single tagger file, or Stanza's resources for a language, downloaded on first use.

Stanza's models for a language are downloaded into Stanza's resources folder on first use, as Stanza itself
does, unless offline (``--offline``, $CSTOOL_OFFLINE or $HF_HUB_OFFLINE); a download that fails removes the
files whose checksum is wrong and says why. Every "not found" error names the path that is missing and the
command that provides it. Stanza is imported inside the functions.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cstool.base.devices import resolve_device
from cstool.base.errors import ConfigError, InputError, ModelNotFoundError, first_line
from cstool.base.offline import offline_reason
from cstool.io.artifacts import sidecar_path


def default_stanza_dir() -> Path:
    """Stanza's own resources folder: $STANZA_RESOURCES_DIR, else Stanza's default (in the user cache)."""
    if os.environ.get("STANZA_RESOURCES_DIR"):
        return Path(os.environ["STANZA_RESOURCES_DIR"])
    from stanza.resources.common import USER_CACHE_DIR

    return Path(USER_CACHE_DIR) / "resources"


# Stanza processors cstool runs for a language from Stanza's resources (mwt is added where the language needs it).
STANZA_PROCESSORS = ("tokenize", "pos", "lemma")


def check_tagger_language(pos_model: str | os.PathLike, lang: str) -> None:
    """Refuse a tagger file whose provenance (``TAGGER.cstool.json``, written by ``cstool train-tagger``)
    records another language than ``lang``. A file without provenance is not checked."""
    side = sidecar_path(pos_model)
    try:
        trained = json.loads(side.read_text(encoding="utf-8")).get("options", {}).get("lang")
    except (OSError, ValueError, AttributeError):
        return
    if isinstance(trained, str) and trained != lang:
        raise InputError(
            f"tagger {pos_model} was trained for language '{trained}' (see {side}), but --lang is '{lang}'",
            f"pass --lang {trained} if the text is in that language, or train a tagger for '{lang}': "
            f"cstool train-tagger --train {lang}-ud-train.conllu --lang {lang} -o {lang}_tagger.pt",
        )


def load_stanza_pipeline(
    lang: str,
    *,
    pos_model: str | os.PathLike | None = None,
    stanza_dir: str | os.PathLike | None = None,
    pretokenized: bool = True,
    device: str = "cpu",
    batch_size: int = 5000,
    offline: bool = False,
    quiet: bool = False,
):
    """A Stanza pipeline that gives UPOS (and lemmas when the resources have a lemmatizer).

    * ``pos_model``: a single tagger file (e.g. from ``cstool train-tagger``); input must be pretokenized
      (cstool's own tokenizer does that) and no lemmas are produced.
    * otherwise Stanza's resources for ``lang`` in ``stanza_dir`` (default :func:`default_stanza_dir`):
      tokenize (unless pretokenized), pos, and lemma where the language has one. Models the folder lacks are
      downloaded on first use (Stanza's default package for the language, these processors only, from
      Stanza's resources URL: $STANZA_RESOURCES_URL / $STANZA_MODEL_URL), unless ``offline`` or
      :func:`offline_reason` says so.
    """
    import logging

    import stanza

    device = resolve_device(device)
    common = dict(
        lang=lang,
        use_gpu=device != "cpu",
        device=None if device in ("cpu", "cuda") else device,  # None: Stanza's own choice (falls back to CPU)
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
        check_tagger_language(model_path, lang)
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
    processors = ensure_stanza_models(lang, res_dir, offline=offline, quiet=quiet)
    try:
        return stanza.Pipeline(dir=str(res_dir), processors=",".join(processors), download_method=None, **common)
    except Exception as e:
        raise ModelNotFoundError(
            f"cannot build a Stanza pipeline for '{lang}' from {res_dir}: {first_line(e)}",
            f"its files are damaged or from another Stanza version: delete {res_dir / lang} and run again "
            "to download them afresh, or " + _train_hint(lang),
        ) from None


def _train_hint(lang: str) -> str:
    return f"give --pos-model FILE (train one with: cstool train-tagger --train X.conllu --lang {lang} -o tagger.pt)"


def _language(resources: dict, lang: str) -> tuple[str, dict] | None:
    """(language code, its entry) in a Stanza resources index, following aliases; None when it has none."""
    seen = set()
    while isinstance(resources.get(lang), dict) and "alias" in resources[lang] and lang not in seen:
        seen.add(lang)
        lang = resources[lang]["alias"]
    entry = resources.get(lang)
    return (lang, entry) if isinstance(entry, dict) else None


def _stanza_files(resources: dict, lang: str, processors: list[str]) -> list[tuple[str, str]]:
    """(processor, package) of every model file Stanza loads for ``processors`` of ``lang``'s default package,
    dependencies (pretrained vectors, character LMs) and mwt (where the tokenizer needs it) included; a file-less
    package (the ``identity`` lemmatizer, external variants) is left out, as Stanza's pipeline leaves it out."""
    import logging

    from stanza.pipeline.registry import PROCESSOR_VARIANTS
    from stanza.resources.common import (
        add_dependencies,
        flatten_processor_list,
        maintain_processor_list,
        process_pipeline_parameters,
    )

    log = logging.getLogger("stanza")
    level = log.level
    log.setLevel(logging.ERROR)  # "package expects mwt, which has been added" is what we want, not a warning
    try:
        _, _, package, procs = process_pipeline_parameters(lang, None, "default", ",".join(processors))
        wanted = maintain_processor_list(resources, lang, package, procs, allow_pretrain=True)
        files = flatten_processor_list(add_dependencies(resources, lang, wanted))
        return [
            (k, v)
            for k, v in files
            if v != "identity" and v not in PROCESSOR_VARIANTS.get(k, {}) and v in resources[lang].get(k, {})
        ]
    except (KeyError, TypeError, AttributeError, ValueError) as e:  # an index without Stanza's structure
        raise ModelNotFoundError(
            f"Stanza's resources index for '{lang}' does not have Stanza's structure ({type(e).__name__}: "
            f"{first_line(e)})",
            "give --stanza-dir (or $STANZA_RESOURCES_DIR) a folder that Stanza itself downloaded into, or remove "
            "its resources.json so that it is fetched again",
        ) from None
    finally:
        log.setLevel(level)


def ensure_stanza_models(lang: str, res_dir: Path, *, offline: bool = False, quiet: bool = False) -> list[str]:
    """Make sure ``res_dir`` holds Stanza's models for ``lang`` (downloading the default package's tokenize, pos
    and lemma models on first use); return the processors to run."""
    import logging

    resources = _stanza_resources(res_dir)
    found = _language(resources, lang)
    files: list[tuple[str, str]] = []
    if found is not None and "pos" in found[1]:
        processors = [p for p in STANZA_PROCESSORS if p in found[1]]
        files = _stanza_files(resources, found[0], processors)
        missing = [(k, v) for k, v in files if not (res_dir / found[0] / k / f"{v}.pt").is_file()]
        if not missing:
            return processors
    why_offline = offline_reason(offline)
    if why_offline:
        raise ModelNotFoundError(
            f"no Stanza model for language '{lang}' in {res_dir}, and downloads are off ({why_offline})",
            f"run once online to download it, or give --stanza-dir DIR holding Stanza's '{lang}' models, or "
            + _train_hint(lang),
        )
    from stanza.resources.common import (
        DEFAULT_RESOURCES_URL,
        DEFAULT_RESOURCES_VERSION,
        download_models,
        load_resources_json,
    )

    resources_url = os.environ.get("STANZA_RESOURCES_URL") or DEFAULT_RESOURCES_URL
    model_url = os.environ.get("STANZA_MODEL_URL") or "default"
    stanza_log = logging.getLogger("stanza")
    level = stanza_log.level
    stanza_log.setLevel(logging.WARNING if quiet else logging.INFO)  # Stanza's own progress bars and lines
    try:
        if found is None:  # the index does not know the language (or there is none yet): fetch the current one
            from stanza.resources.common import download_resources_json

            res_dir.mkdir(parents=True, exist_ok=True)
            download_resources_json(str(res_dir), resources_url=resources_url)
            resources = load_resources_json(str(res_dir))
            found = _language(resources, lang)
        if found is None or "pos" not in found[1]:
            raise ModelNotFoundError(
                f"Stanza has no POS model for language '{lang}' (its resources index at {resources_url})",
                _train_hint(lang) + " from a UD treebank of the language",
            )
        processors = [p for p in STANZA_PROCESSORS if p in found[1]]
        files = _stanza_files(resources, found[0], processors)
        download_models(  # Stanza's own: a table of what comes, a progress bar per file, md5 checked
            files, resources, found[0], str(res_dir), DEFAULT_RESOURCES_VERSION, model_url, log_info=True
        )
    except ModelNotFoundError:
        raise
    except Exception as e:  # requests' errors, HTTP errors, an md5 mismatch, a full disk...
        _remove_bad_files(resources, found, files, res_dir)
        raise ModelNotFoundError(
            f"cannot download Stanza's '{lang}' models into {res_dir}: {first_line(e)}",
            "check the connection (Stanza reads $STANZA_RESOURCES_URL / $STANZA_MODEL_URL), or give --stanza-dir "
            f"DIR holding Stanza's '{lang}' models, or " + _train_hint(lang),
        ) from None
    finally:
        stanza_log.setLevel(level)
    from cstool.base.console import log

    log(f"Stanza's '{lang}' models ({', '.join(processors)}) are in {res_dir}")
    return processors


def _remove_bad_files(resources: dict, found: tuple[str, dict] | None, files: list, res_dir: Path) -> None:
    """Stanza moves a downloaded file into place before it checks the md5: a failed download (an HTTP error page,
    a cut connection) leaves a file that would pass as a model. Remove those."""
    from stanza.resources.common import get_md5

    if found is None:
        return
    for processor, package in files:
        path = res_dir / found[0] / processor / f"{package}.pt"
        expected = {found[1][processor][package].get("md5"), found[1][processor][package].get("alternate_md5")}
        if path.is_file() and get_md5(str(path)) not in expected:
            path.unlink()


def _stanza_resources(res_dir: Path) -> dict:
    try:
        data = json.loads((res_dir / "resources.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _empty_resources_dir() -> Path:
    """Stanza needs a resources dir even when every model is given by path; an empty index suffices."""
    d = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cstool" / "stanza-empty"
    try:
        d.mkdir(parents=True, exist_ok=True)
        index = d / "resources.json"
        if not index.exists():
            index.write_text("{}")
    except OSError as e:  # $XDG_CACHE_HOME read-only, or a file
        raise ConfigError(
            f"cannot make the cache folder {d}: {e.strerror or first_line(e)}",
            "set $XDG_CACHE_HOME to a writable folder, or give --stanza-dir DIR",
        ) from None
    return d
