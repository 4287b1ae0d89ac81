"""The one place that loads Hugging Face models: causal LMs, tokenizers, vision-language models, peft adapters;
and builds, checks and saves students. (Stanza pipelines: :mod:`cstool.models.stanza_pipelines`; devices, dtypes and
threads: :mod:`cstool.base.devices`.)

A model is found as transformers finds it (:func:`locate`): a local path that exists is used as is; else a
name that looks like a Hub id (OWNER/NAME, see :func:`cstool.models.hub.looks_like_repo_id`) is loaded from the
Hugging Face cache, downloaded there on first use; in offline mode (``--offline``, $CSTOOL_OFFLINE or
$HF_HUB_OFFLINE set to 1: :mod:`cstool.base.offline`) from the cache only, and one that is not there is a one-line
error naming why downloads are off and how to get it. Any other name is a path that does not exist: a "not
found" error with the close names next to it, never a network request. Every "not found" error names the
path that is missing and the flag or command that provides it. Heavy libraries are imported inside the
functions, so importing this module is cheap.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cstool.base.console import log
from cstool.base.errors import ConfigError, CstoolError, InputError, ModelNotFoundError, first_line
from cstool.base.specs import MODEL_SPEC_KEYS, parse_key_values, shape_problems


def locate(path_or_id: str | os.PathLike, what: str = "model", *, offline: bool = False) -> str:
    """The local folder of a model or tokenizer: an existing path as is, a Hub id's snapshot in the Hugging Face
    cache (fetched on first use unless ``offline``), or a "not found" error with a did-you-mean hint. A
    ``Path`` is always a path, never a Hub id."""
    from cstool.models import hub

    p = Path(path_or_id).expanduser()
    if p.exists():
        return str(p)
    name = str(path_or_id)
    if isinstance(path_or_id, os.PathLike) or not hub.looks_like_repo_id(name):
        raise ModelNotFoundError(
            f"{'model (or tokenizer)' if what == 'tokenizer' else what} not found at {path_or_id}: no such folder",
            _not_found_hint(p),
        )
    files = hub.TOKENIZER_FILES if what == "tokenizer" else hub.CHECKPOINT_FILES
    instead = f"give a local model folder (on a machine that reaches the Hub: cstool import-model {name} -o DIR)"
    return str(hub.fetch(name, offline=offline, files=files, instead=instead))


def _not_found_hint(p: Path, give: str = "give a local folder written by save_pretrained") -> str:
    """Close names next to a misspelt path (a name that could be a Hub id never gets here)."""
    import difflib

    parent = p.parent if str(p.parent) not in ("", ".") else Path(".")
    siblings = [c.name for c in parent.iterdir() if c.is_dir()] if parent.is_dir() else []
    close = difflib.get_close_matches(p.name, siblings, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(str(parent / c) for c in close)}? " if close else ""
    hint += f"{give} (e.g. the OUT_DIR of cstool distill)"
    if "/" not in str(p) and not str(p).startswith((".", "~")):
        hint += "; a Hugging Face Hub id is written OWNER/NAME"
    return hint


def _safetensor_error() -> type[Exception]:
    """The error safetensors raises for a damaged weights file (a cut-off download or save)."""
    from safetensors import SafetensorError

    return SafetensorError


def load_tokenizer(path: str | os.PathLike, *, offline: bool = False):
    """A tokenizer from a local folder or a Hub id (see :func:`locate`)."""
    from transformers import AutoTokenizer

    name = locate(path, "tokenizer", offline=offline)
    try:
        return AutoTokenizer.from_pretrained(name, local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError) as e:
        raise ModelNotFoundError(
            f"cannot load a tokenizer from {name}: {str(e).splitlines()[0]}",
            "the folder needs tokenizer files (tokenizer.json or tokenizer_config.json) written by save_pretrained",
        ) from None


def load_causal_lm(
    path: str | os.PathLike,
    *,
    offline: bool = False,
    dtype: Any = None,
    device: str = "cpu",
    gguf_file: str | None = None,
):
    """Load a causal LM (any ``AutoModelForCausalLM`` architecture) from a local folder or a Hub id (see
    :func:`locate`)."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # cstool draws its own progress; keep stderr readable
    name = locate(path, "model", offline=offline)
    kwargs: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False}
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


def read_adapter_config(path: str | os.PathLike) -> dict:
    """An adapter folder's ``adapter_config.json``, checked to be a JSON object (peft reads it blindly)."""
    p = Path(path)
    file = p / "adapter_config.json"
    if not file.is_file():
        raise ModelNotFoundError(
            f"no peft adapter at {p} (adapter_config.json missing)",
            "give a folder written by cstool replay-train (RUN_DIR/adapters/<task>/) or by peft's save_pretrained",
        )
    try:
        value = json.loads(file.read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError) as e:
        raise InputError(
            f"{file} is not a JSON file: {first_line(e)}",
            "the adapter's config is damaged: restore it, or train the adapter again",
        ) from None
    if not isinstance(value, dict) or not isinstance(value.get("peft_type", "LORA"), str):
        raise InputError(
            f"{file} is not a peft adapter config (a JSON object with peft_type)",
            "the adapter's config is damaged: restore it, or train the adapter again",
        )
    return value


def _base_name(model) -> str:
    model = getattr(model, "base_model", model)
    model = getattr(model, "model", model)  # a PeftModel's LoraModel holds the transformers model
    return str(getattr(getattr(model, "config", None), "_name_or_path", "") or "the model")


def load_adapter(model, path: str | os.PathLike, *, adapter_name: str = "default", trainable: bool = False):
    """Attach a peft adapter saved with ``save_pretrained`` to ``model`` (a base or a PeftModel). Every key of
    the adapter must load into the model and every adapter weight the model expects must be in the file
    (peft's ``strict_adapter_check="error"``): an adapter of another base is an error, not a warning."""
    from peft import PeftModel

    p = Path(path)
    trained_on = read_adapter_config(p).get("base_model_name_or_path")
    base = _base_name(model)
    try:
        if isinstance(model, PeftModel):
            model.load_adapter(str(p), adapter_name=adapter_name, is_trainable=trainable, strict_adapter_check="error")
            return model
        return PeftModel.from_pretrained(
            model, str(p), adapter_name=adapter_name, is_trainable=trainable, strict_adapter_check="error"
        )
    except (_safetensor_error(), OSError) as e:
        raise ModelNotFoundError(
            f"cannot read the adapter {p}: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
            "its files are damaged (cut off or edited): restore them, or train the adapter again",
        ) from None
    except (RuntimeError, ValueError, KeyError, AttributeError, TypeError) as e:
        text = str(e)
        detail = next((ln.strip() for ln in text.splitlines() if "size mismatch" in ln), first_line(e))
        kinds = [k for k in ("missing", "unexpected") if f"{k} adapter keys" in text]
        if kinds:  # peft lists every key: say how it does not fit, in one line
            detail = f"{' and '.join(kinds)} adapter keys (its weights are not those of this model's layers)"
        raise ConfigError(
            f"the adapter {p} does not fit the model {base}: {detail[:300]}",
            "give an adapter trained on this base model"
            + (f" (its adapter_config.json says it was trained on {trained_on})" if trained_on else ""),
        ) from None


def check_adapter_base(adapter: str | os.PathLike, base: str | os.PathLike, *, allow_other: bool = False) -> None:
    """Refuse an adapter whose provenance records the content of another base model than ``base``
    (``base_content``, the fingerprint replay-train records); nothing to compare when it records none."""
    from cstool.io import artifacts, runstate

    recorded = (artifacts.read_provenance(adapter) or {}).get("base_content")
    if not isinstance(recorded, str) or allow_other or not Path(base).exists():
        return
    if runstate.fingerprint(base) != recorded:
        raise ConfigError(
            f"the adapter {adapter} was trained on another base model than {base} (its provenance records a base "
            "of other content)",
            "give the base it was trained on, or pass --allow-other-base to apply it anyway",
        )


def record_adapter_base(
    adapter_dir: str | os.PathLike, base: str | os.PathLike, *, lives_at: str | os.PathLike | None = None
) -> dict[str, str]:
    """Make a saved adapter name its base model by paths that survive moving: ``adapter_config.json`` gets the
    base's absolute path (so peft's ``AutoPeftModelForCausalLM`` finds it from any working directory), and the
    returned record (for the adapter's cstool.json) also holds the path relative to the adapter folder, which
    still resolves when the run folder and its base move together. ``lives_at``: the folder the adapter is
    renamed to once complete (default: ``adapter_dir``)."""
    adapter_dir, base_abs = Path(adapter_dir), Path(base).expanduser().resolve()
    config_path = adapter_dir / "adapter_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = str(base_abs)
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    home = Path(lives_at or adapter_dir).resolve()
    return {"relative": os.path.relpath(base_abs, home), "absolute": str(base_abs)}


def adapter_base(adapter_dir: str | os.PathLike) -> str:
    """The base model folder of a cstool adapter: the path relative to the adapter folder, else the absolute
    one (both in its cstool.json), else ``adapter_config.json``'s ``base_model_name_or_path``."""
    from cstool.io.artifacts import read_provenance

    p = Path(adapter_dir)
    if not (p / "adapter_config.json").is_file():
        raise ModelNotFoundError(
            f"no peft adapter at {p} (adapter_config.json missing)",
            "give a folder written by cstool replay-train (RUN_DIR/adapters/<task>/) or by peft's save_pretrained",
        )
    record = (read_provenance(p) or {}).get("base") or {}
    candidates = [str(p / record["relative"])] if record.get("relative") else []
    candidates += [record["absolute"]] if record.get("absolute") else []
    try:
        named = json.loads((p / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError):
        named = None
    candidates += [named] if named else []
    for c in candidates:
        if (Path(c) / "config.json").is_file():
            return str(Path(os.path.normpath(c)))
    raise ModelNotFoundError(
        f"the base model of the adapter {p} is not where it was recorded: "
        + (", ".join(dict.fromkeys(candidates)) if candidates else "no base recorded"),
        "give the base model folder with --model DIR (the --base the adapter was trained on)",
    )


# ---------------------------------------------------------------------------------------------------------
# Building and saving students (cstool distill)

_SPEC_KEYS = MODEL_SPEC_KEYS
REQUIRED_SIZES = ("layers", "hidden", "heads")  # a spec must name these


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
    aliases = {own: common for common, own in (getattr(base, "attribute_map", {}) or {}).items()}
    named: dict[str, Any] = {}
    for k, v in values.items():  # gpt2's n_layer is num_hidden_layers
        if aliases.get(k, k) in named:
            raise ConfigError(f"model spec {spec!r} gives {aliases.get(k, k)} twice (as {k})", "give each size once")
        named[aliases.get(k, k)] = v
    values = named
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
    # transformers' defaults are full-size models (LlamaConfig(): 32 layers of 4096, about 6.5 B parameters)
    unnamed = [
        short for short in REQUIRED_SIZES if hasattr(base, _SPEC_KEYS[short]) and _SPEC_KEYS[short] not in values
    ]
    if unnamed:
        raise ConfigError(
            f"model spec {spec!r} does not name its {', '.join(unnamed)}",
            f"a spec names its sizes, else it would be {family}'s full-size default; "
            "e.g. llama:layers=4,hidden=128,heads=4",
        )
    ids = {k: v for k, v in special_ids.items() if v is not None}
    try:
        config = AutoConfig.for_model(family, vocab_size=vocab_size, **ids, **values)
        with torch.device("meta"):  # the shape only: nothing is allocated yet
            n = sum(p.numel() for p in AutoModelForCausalLM.from_config(config).parameters())
        log(f"building a {family} model of {n:,} parameters ({n * 4 / 2**30:.2f} GiB in float32) from {spec!r}")
        torch.manual_seed(seed)
        return AutoModelForCausalLM.from_config(config)
    except (ValueError, TypeError, AttributeError, KeyError, RuntimeError, _strict_error()) as e:
        detail = " ".join(" ".join(str(e).split()).split(". Errors:")[0].split())[:300] or type(e).__name__
        raise ConfigError(
            f"cannot build a model from {spec!r}: {detail}",
            f"check the spec's values (short keys: {', '.join(_SPEC_KEYS)}; others are {family} config attributes)",
        ) from None


def _strict_error() -> type[Exception]:
    """huggingface_hub's error for a config value of the wrong type or range (``rope_scaling=5``, nan)."""
    try:
        from huggingface_hub.errors import StrictDataclassError
    except ImportError:  # an older huggingface_hub: its configs are not strict
        return ValueError
    return StrictDataclassError


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
    from cstool.io.artifacts import write_sidecar

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
    write_sidecar(out, provenance)


def load_vlm(path: str | os.PathLike, *, offline: bool = False, dtype: Any = None, device: str = "cpu"):
    """Load an image-text-to-text model (Llava-style, SmolVLM, PaliGemma, …) and its processor from a folder
    or a Hub id (see :func:`locate`).

    Returns ``(model, processor)``. A folder without a vision tower (a plain causal LM) is refused.
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    name = locate(path, "vision-language model", offline=offline)
    kwargs: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False}
    if dtype is not None:
        kwargs["dtype"] = dtype
    try:
        processor = AutoProcessor.from_pretrained(name, local_files_only=True, trust_remote_code=False)
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


def load_gguf(folder: str | os.PathLike, gguf_file: str, *, dtype: Any = None):
    """``(model, tokenizer)`` from a GGUF checkpoint (``folder/gguf_file``), dequantized into a plain model.

    transformers loads GGUF weights dequantized but keeps a GGUF quantizer attached, which refuses to save; the
    weights are copied into a fresh model of the same config, which saves (and trains) like any other.
    """
    import importlib.util
    import struct

    if importlib.util.find_spec("gguf") is None:
        raise CstoolError(
            "reading a GGUF file needs the gguf package, which is not installed",
            "pip install 'cstool[gguf]' (or: pip install gguf)",
        )
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    kwargs: dict[str, Any] = {"gguf_file": gguf_file, "local_files_only": True}
    try:
        loaded = AutoModelForCausalLM.from_pretrained(folder, **kwargs, **({"dtype": dtype} if dtype else {}))
        tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
    except (OSError, ValueError, KeyError, IndexError, NotImplementedError, struct.error) as e:
        raise ModelNotFoundError(
            f"cannot read the GGUF file {Path(folder) / gguf_file}: {str(e).splitlines()[0] if str(e) else e!r}",
            "transformers reads GGUF files of the architectures it lists in "
            "transformers.modeling_gguf_pytorch_utils.GGUF_SUPPORTED_ARCHITECTURES",
        ) from None
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, **({"dtype": dtype} if dtype else {}))
    plain.load_state_dict(loaded.state_dict())
    if len(tokenizer) > plain.get_input_embeddings().num_embeddings:
        # transformers' byte-level GGUF tokenizer adds GPT-2's <|endoftext|> as its unknown token when the file's
        # vocabulary has none: give it a row (the mean of the others), so every id the tokenizer can emit fits.
        plain.resize_token_embeddings(len(tokenizer))
    return plain, tokenizer


def require_model_dir(path: str | None, role: str) -> None:
    """Refuse, before any work, a ``role`` model that is neither an existing path nor a Hub id (a Hub id is
    looked up when it is loaded, see :func:`locate`)."""
    from cstool.models import hub

    if path is None or Path(path).expanduser().exists() or hub.looks_like_repo_id(str(path)):
        return
    raise ModelNotFoundError(
        f"{role} model not found at {path}: no such folder",
        _not_found_hint(Path(path).expanduser(), f"give the {role} as a folder written by save_pretrained"),
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


def check_vocab(teacher_tok: Any, student_tok: Any, teacher_size: int, student_size: int) -> int:
    """Refuse a teacher/student pair that does not share its vocabulary; return the vocab size to compare."""
    t_vocab, s_vocab = teacher_tok.get_vocab(), student_tok.get_vocab()
    if t_vocab != s_vocab:
        t_by_id = {i: t for t, i in t_vocab.items()}
        s_by_id = {i: t for t, i in s_vocab.items()}
        diffs = [
            f"id {i}: {t_by_id.get(i)!r} vs {s_by_id.get(i)!r}"
            for i in sorted(set(t_by_id) | set(s_by_id))
            if t_by_id.get(i) != s_by_id.get(i)
        ]
        raise CstoolError(
            f"teacher and student vocabularies differ: teacher has {len(t_vocab)} tokens, student {len(s_vocab)}; "
            f"first differences (teacher vs student): {'; '.join(diffs[:5])}",
            "distil into a student that uses the teacher's tokenizer "
            "(--student-config SPEC or --init-from-teacher-layers)",
        )
    n = len(t_vocab)
    if teacher_size < n or student_size < n:
        raise CstoolError(
            f"model output sizes (teacher {teacher_size}, student {student_size}) are smaller than the "
            f"{n}-token vocabulary",
            "the model folders do not match their tokenizers",
        )
    return n


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
