"""LoRA adapters with peft: which modules to adapt, adding adapters, and choosing which ones train.

``target_modules="auto"`` picks the attention and MLP projections of Llama/Mistral/Qwen-style models
(``q_proj``, ``k_proj``, ``v_proj``, ``o_proj``, ``gate_proj``, ``up_proj``, ``down_proj``) or GPT-2-style
ones (``c_attn``, ``c_proj``, ``c_fc``), whichever the model has.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cstool.base.errors import ConfigError

AUTO_TARGETS = (
    ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),  # Llama, Mistral, Qwen
    ("c_attn", "c_proj", "c_fc"),  # GPT-2
    ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"),  # GPT-NeoX, Falcon
)


def linear_module_names(model: Any) -> list[str]:
    """Last name component of every Linear-like module (what LoRA can adapt), sorted, deduplicated."""
    import torch

    names = set()
    for full, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D":
            names.add(full.rsplit(".", 1)[-1])
    return sorted(names)


def resolve_target_modules(model: Any, spec: str | Sequence[str]) -> list[str]:
    """``auto`` or comma-separated names → names present in the model; unknown names are an error."""
    present = linear_module_names(model)
    head = output_embedding_name(model)
    if spec == "auto":
        for family in AUTO_TARGETS:
            chosen = [n for n in family if n in present]
            if chosen:
                return chosen
        raise ConfigError(
            "--target-modules auto found no known attention/MLP projections in this model",
            f"name them with --target-modules; the model's linear modules are: {', '.join(present)}",
        )
    wanted = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    missing = [n for n in wanted if n not in present]
    if missing or not wanted:
        raise ConfigError(
            f"--target-modules {', '.join(missing) or '(none)'} not found in the model",
            f"the model's linear modules are: {', '.join(n for n in present if n != head)}",
        )
    return wanted


def _module_name_of(model: Any, target: Any) -> str | None:
    for full, module in model.named_modules():
        if module is target:
            return full.rsplit(".", 1)[-1]
    return None


def output_embedding_name(model: Any) -> str | None:
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return _module_name_of(model, out) if out is not None else None


def embedding_modules(model: Any) -> list[str]:
    """Names of the input embedding and the LM head (peft ``modules_to_save``), for --train-embeddings."""
    names = [_module_name_of(model, model.get_input_embeddings()), output_embedding_name(model)]
    return [n for n in dict.fromkeys(names) if n]


def lora_config(*, r: int, alpha: int, dropout: float, targets: list[str], modules_to_save: list[str] | None = None):
    from peft import LoraConfig

    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=targets,
        modules_to_save=modules_to_save or None,
        bias="none",
        task_type="CAUSAL_LM",
    )


def activate(peft_model: Any, active: Sequence[str], trainable: Sequence[str]) -> None:
    """Make ``active`` adapters take part in the forward pass and only ``trainable`` ones learn."""
    peft_model.base_model.set_adapter(list(active))
    marks = [f".{name}." for name in trainable]
    for name, param in peft_model.named_parameters():
        param.requires_grad = any(m in name for m in marks)


def count_trainable(model: Any) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def copy_weights(peft_model: Any, source: str, target: str, *, part: str = "all") -> None:
    """Copy adapter ``source``'s weights into adapter ``target``, e.g. to start a task adapter from the
    previous task's. ``part``: ``all``, ``lora`` (the LoRA matrices only) or ``saved`` (only the
    ``modules_to_save`` copies: the trained embeddings and LM head)."""
    import torch

    params = dict(peft_model.named_parameters())
    with torch.no_grad():
        for name, p in params.items():
            saved = "modules_to_save" in name
            if f".{source}." in name and (part == "all" or (part == "saved") == saved):
                params[name.replace(f".{source}.", f".{target}.")].copy_(p)


def parameters_of(peft_model: Any, name: str) -> list:
    """The parameters of adapter ``name`` (its LoRA matrices and modules_to_save copies)."""
    return [p for n, p in peft_model.named_parameters() if f".{name}." in n]


def merge_into_base(peft_model: Any, name: str, *, keep: str | None = None) -> tuple[Any, Any]:
    """Merge adapter ``name`` into the base weights; return (base model, frozen; the model to train on).
    Unloading removes every LoRA layer, so adapter ``keep`` is saved first and added back, with the same
    weights, as the first adapter of a new peft model (then the second value is that peft model)."""
    from peft import get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

    kept = None
    if keep is not None:
        kept = (peft_model.peft_config[keep], get_peft_model_state_dict(peft_model, adapter_name=keep))
    peft_model.base_model.set_adapter([name])  # the modules_to_save copy of ``name`` is the one merged
    base = peft_model.merge_and_unload(adapter_names=[name])
    base.requires_grad_(False)
    if kept is None:
        return base, base
    model = get_peft_model(base, kept[0], adapter_name=keep)
    set_peft_model_state_dict(model, kept[1], adapter_name=keep)
    return base, model
