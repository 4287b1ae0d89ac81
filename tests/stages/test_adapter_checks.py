"""An adapter is applied only to the base it fits (``models.load_adapter``, ``models.check_adapter_base``) and
a stack of adapters only where it means the model of a run (``evaluate._check_stack``): otherwise one line."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import tiny_llama_config
from tests.stages.conftest import assert_user_error, invoke


def _adapter(base_dir, out, *, layers: int | None = None, embeddings: bool = False, seed: int = 0):
    """A real peft LoRA adapter on the tiny LM (or on a copy of its shape with ``layers`` layers)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    torch.manual_seed(seed)
    if layers is None:
        model = AutoModelForCausalLM.from_pretrained(base_dir)
    else:
        model = LlamaForCausalLM(tiny_llama_config(AutoTokenizer.from_pretrained(base_dir), num_hidden_layers=layers))
    extra = {"modules_to_save": ["embed_tokens", "lm_head"]} if embeddings else {}
    peft = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"], **extra))
    peft.save_pretrained(out)
    return out


def _eval(inputs, tmp_path, model, *adapters, extra=()):
    argv = ["eval", "--model", model, "--data", f"x={inputs['tagged']}", "-o", tmp_path / "s.parquet"]
    for a in adapters:
        argv += ["--adapter", a]
    return invoke(*argv, *extra)


def test_an_adapter_of_a_base_with_other_layers_is_refused(inputs, tmp_path):
    one_layer = _adapter(inputs["lm"], tmp_path / "a1", layers=1)  # peft only warns: the 2nd layer has no LoRA
    code, output = _eval(inputs, tmp_path, inputs["lm"], one_layer)
    assert_user_error(code, output, f"the adapter {one_layer} does not fit the model", "missing adapter keys")
    assert not (tmp_path / "s.parquet").exists()


def test_an_adapter_config_that_is_not_json_says_so(inputs, tmp_path):
    adapter = _adapter(inputs["lm"], tmp_path / "a")
    (adapter / "adapter_config.json").write_text("{not json")
    code, output = _eval(inputs, tmp_path, inputs["lm"], adapter)
    assert_user_error(code, output, "adapter_config.json is not a JSON file")
    (adapter / "adapter_config.json").write_text("[1, 2]")
    code, output = _eval(inputs, tmp_path, inputs["lm"], adapter)
    assert_user_error(code, output, "adapter_config.json is not a peft adapter config")


def test_a_stack_of_adapters_with_their_own_embeddings_is_refused(inputs, tmp_path):
    a = _adapter(inputs["lm"], tmp_path / "a", embeddings=True, seed=1)
    b = _adapter(inputs["lm"], tmp_path / "b", embeddings=True, seed=2)
    code, output = _eval(inputs, tmp_path, inputs["lm"], a, b)
    assert_user_error(code, output, "each train their own embeddings", "--model RUN_DIR/final")
    code, output = _eval(inputs, tmp_path, inputs["lm"], a)  # alone it is the model it was trained as
    assert code == 0, output


@pytest.fixture(scope="module")
def run(inputs, tmp_path_factory):
    """A replay-train run on a copy of the tiny LM: its adapters record the base's content."""
    root = tmp_path_factory.mktemp("adapter_run")
    shutil.copytree(inputs["lm"], root / "base")
    argv = ["replay-train", "--base", root / "base", "--task", f"en={inputs['tagged']}"]
    argv += ["--task", f"hi={inputs['tagged']}", "--strategy", "naive", "--steps-per-task", "1"]
    argv += ["--batch-size", "2", "--max-length", "16", "--device", "cpu", "-o", root / "run"]
    code, output = invoke(*argv)
    assert code == 0, output
    return root


def test_an_adapter_whose_provenance_names_another_base_is_refused_unless_allowed(run, inputs, tmp_path):
    from safetensors.torch import load_file, save_file

    adapter = next(p.parent for p in (run / "run").rglob("adapter_config.json"))
    other = tmp_path / "other"  # the same shapes, other weights: peft would load the adapter without a word
    shutil.copytree(run / "base", other)
    weights = load_file(other / "model.safetensors")
    save_file({k: v + 0.01 for k, v in weights.items()}, other / "model.safetensors", metadata={"format": "pt"})
    code, output = _eval(inputs, tmp_path, other, adapter)
    assert_user_error(code, output, f"the adapter {adapter} was trained on another base model", "--allow-other-base")
    code, output = _eval(inputs, tmp_path, other, adapter, extra=["--allow-other-base"])
    assert code == 0, output
    code, output = _eval(inputs, tmp_path, run / "base", adapter)
    assert code == 0, output
