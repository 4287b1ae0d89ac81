"""The orthogonal-subspace peers, o-lora and osf, on the tiny three-task sequence: equal steps and examples,
what trains and what stays frozen, the orthogonality penalty, resume, the CLI."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from cstool.base.errors import ConfigError
from cstool.cli import app
from cstool.stages import replay_train
from cstool.stages.replay_train import ReplayConfig
from tests.stages.test_replay import FAST, _matrix, _resume_args, _run, seq  # noqa: F401 (seq is a fixture)

S = 12


def _fed(out) -> dict:
    done = json.loads((out / "done.json").read_text())
    return {"steps": done["steps"], "examples": done["examples"]}


def _equal_compute(out) -> None:
    fed = _fed(out)
    assert fed["steps"] == {t: S for t in ("en", "hi", "mr")}
    assert fed["examples"] == {t: {"new": S * FAST["batch_size"], "replay": 0} for t in ("en", "hi", "mr")}


@pytest.fixture(scope="module")
def olora(seq, tmp_path_factory) -> dict:  # noqa: F811
    d = tmp_path_factory.mktemp("olora")
    runs = {}
    for lam in (0.5, 0.0):
        runs[lam] = (_run(seq, d / str(lam), strategy="o-lora", olora_lambda=lam, steps_per_task=S), d / str(lam))
    return runs


def _a(out, task) -> dict:
    """A saved task adapter's LoRA A matrices, by module."""
    w = load_file(str(out / "adapters" / task / "adapter_model.safetensors"))
    return {k.removesuffix(".lora_A.weight"): v for k, v in w.items() if k.endswith(".lora_A.weight")}


def test_o_lora_spends_naive_s_steps_and_examples_and_learns(olora):
    scores, out = olora[0.5]
    _equal_compute(out)
    assert scores[("hi", "hi")] < scores[("en", "hi")] - 0.3
    assert scores[("mr", "mr")] < scores[("hi", "mr")] - 0.3
    assert json.loads((out / "done.json").read_text())["strategy"] == "o-lora"


def test_o_lora_s_final_model_is_the_base_plus_every_saved_task_adapter(seq, olora):  # noqa: F811
    """The earlier adapters stay as saved after their task: the composed weights are base + Σ_k B_k·A_k."""
    _, out = olora[0.5]
    base = load_file(str(Path(seq["base"]) / "model.safetensors"))
    final = load_file(str(out / "final" / "model.safetensors"))
    scale = ReplayConfig().lora_alpha / ReplayConfig().lora_r
    key = "model.layers.0.self_attn.q_proj.weight"
    composed = base[key].clone()
    for task in ("en", "hi", "mr"):
        w = load_file(str(out / "adapters" / task / "adapter_model.safetensors"))
        prefix = "base_model.model." + key.removesuffix(".weight")
        composed += scale * w[prefix + ".lora_B.weight"] @ w[prefix + ".lora_A.weight"]
    assert torch.allclose(final[key], composed, atol=1e-5)
    assert not torch.allclose(final[key], base[key], atol=1e-3)


def test_the_orthogonality_penalty_makes_later_a_matrices_orthogonal_to_earlier_ones(olora):
    from cstool.continual.strategies.o_lora import orthogonality

    overlap = {}
    for lam, (_, out) in olora.items():
        earlier = [_a(out, "en"), _a(out, "hi")]
        overlap[lam] = float(orthogonality(_a(out, "mr"), earlier))
    assert overlap[0.0] > 0.05  # independent draws, trained on: a clear overlap without the penalty
    assert overlap[0.5] < 0.2 * overlap[0.0]
    # the en adapter trained before any penalty: the same in both runs (same seed, same batches)
    en = [_a(out, "en") for _, out in olora.values()]
    assert all(torch.equal(en[0][m], en[1][m]) for m in en[0])


def test_orthogonality_by_hand():
    from cstool.continual.strategies.o_lora import Orthogonality, orthogonality

    new = {"q": torch.tensor([[1.0, 2.0, 0.0]]), "v": torch.tensor([[1.0, 0.0], [0.0, 1.0]])}
    old1 = {"q": torch.tensor([[0.0, 0.0, 1.0]]), "v": torch.tensor([[2.0, 0.0], [1.0, 3.0]])}
    old2 = {"q": torch.tensor([[1.0, 1.0, 1.0]]), "v": torch.zeros(2, 2)}
    # q: (1·0+2·0+0·1)² = 0 and (1+2+0)² = 9; v: A_new·A_oldᵀ = A_oldᵀ = [[2,1],[0,3]] → 4+1+0+9 = 14, and 0
    assert float(orthogonality(new, [old1, old2])) == pytest.approx(0 + 14 + 9 + 0)
    assert float(Orthogonality(new, [old1, old2], 0.5)()) == pytest.approx(11.5)
    assert float(orthogonality(new, [])) == 0.0


def test_o_lora_resumes_to_the_same_scores(seq, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    options = dict(strategy="o-lora", steps_per_task=6, run_name="o")
    first = _run(seq, out, **options)
    state = json.loads((out / "state.json").read_text())
    state["done"] = state["done"][:1]  # killed after en: hi and mr train again from the saved adapter
    (out / "state.json").write_text(json.dumps(state))
    (out / "done.json").unlink()
    replay_train.run(**_resume_args(seq, out), config=ReplayConfig(**{**FAST, **options, "resume": True}))
    assert _matrix(out) == pytest.approx(first, rel=1e-5)


# ---- osf ----------------------------------------------------------------------------------------------


def test_osf_spends_naive_s_steps_and_examples_and_freezes_what_it_does_not_adapt(seq, tmp_path):  # noqa: F811
    out = tmp_path / "osf"
    scores = _run(seq, out, strategy="osf", steps_per_task=S, train_embeddings=False, target_modules="q_proj,v_proj")
    _equal_compute(out)
    # two projections of a random tiny model, no embeddings: it learns, slowly
    assert scores[("hi", "hi")] < scores[("en", "hi")] - 0.03
    base = load_file(str(Path(seq["base"]) / "model.safetensors"))
    final = load_file(str(out / "final" / "model.safetensors"))
    changed = {k for k in base if not torch.equal(base[k], final[k])}
    assert changed == {f"model.layers.{i}.self_attn.{m}.weight" for i in (0, 1) for m in ("q_proj", "v_proj")}
    assert (out / "adapters" / "full-after-mr" / "model.safetensors").is_file()


def test_osf_preserves_the_top_singular_directions(seq):  # noqa: F811
    """OSF's design (peft): the top ⌊i/T·32⌋ directions of each weight frozen, the gradient of the rest
    projected orthogonal to them, so a gradient step leaves W's preserved subspace as it was."""
    from peft import get_peft_model
    from transformers import LlamaForCausalLM

    from cstool.continual.strategies.osf import osf_config, preserved_share

    assert preserved_share(0, 3) == 1 and preserved_share(2, 3) == pytest.approx(2 / 3)
    model = LlamaForCausalLM.from_pretrained(seq["base"])
    w0 = model.model.layers[0].self_attn.q_proj.weight.detach().clone()
    learner = types.SimpleNamespace(lora_targets=["q_proj"], save_modules=None)
    peft_model = get_peft_model(model, osf_config(learner, preserved_share(1, 3)), adapter_name="subspace")
    layer = peft_model.base_model.model.model.layers[0].self_attn.q_proj
    assert layer.effective_rank["subspace"] == 10  # ⌊32/3⌋
    U, _, Vt = torch.linalg.svd(w0)
    U_high, V_high = U[:, :10], Vt[:10]
    ids = torch.tensor([[1, 5, 9, 12, 40, 7, 3, 2]])
    peft_model(input_ids=ids, labels=ids).loss.backward()
    params = layer.osf_svd_params["subspace"]
    assert params["U_low"].grad.abs().max() > 1e-6
    assert (U_high.T @ params["U_low"].grad).abs().max() < 1e-6
    assert (params["V_low"].grad @ V_high.T).abs().max() < 1e-6
    with torch.no_grad():  # one plain gradient step, then the merged weight
        for p in params.values():
            p -= 100.0 * p.grad
    delta = layer.get_delta_weight("subspace")
    assert delta.abs().max() > 1e-3
    assert (U_high.T @ delta @ V_high.T).abs().max() < 1e-5 * delta.abs().max().item() + 1e-7
    frozen = [n for n, p in peft_model.named_parameters() if not p.requires_grad]
    assert all("osf_svd_params" not in n for n in frozen)


def test_osf_resumes_to_the_same_scores(seq, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    options = dict(strategy="osf", steps_per_task=6, run_name="osf")
    first = _run(seq, out, **options)
    state = json.loads((out / "state.json").read_text())
    state["done"] = state["done"][:2]  # killed after hi (a run keeps the last two whole-model snapshots)
    (out / "state.json").write_text(json.dumps(state))
    (out / "done.json").unlink()
    replay_train.run(**_resume_args(seq, out), config=ReplayConfig(**{**FAST, **options, "resume": True}))
    assert _matrix(out) == pytest.approx(first, rel=1e-5)


# ---- both ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy, extra", [("o-lora", ["--olora-lambda", "1"]), ("osf", [])])
def test_the_peers_through_the_cli(seq, tmp_path, strategy, extra):  # noqa: F811
    args = ["replay-train", "--base", seq["base"], "-o", str(tmp_path / "cli")]
    args += [a for n, p in seq["tasks"][:2] for a in ("--task", f"{n}={p}")]
    args += ["--strategy", strategy, "--steps-per-task", "3", "--batch-size", "2", "--train-embeddings", *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    done = json.loads((tmp_path / "cli" / "done.json").read_text())
    assert done["steps"] == {"hi": 3} and done["examples"] == {"hi": {"new": 6, "replay": 0}}


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(strategy="o-lora", full_finetune=True), "--full-finetune is a reference"),
        (dict(strategy="osf", full_finetune=True), "--full-finetune is a reference"),
        (dict(strategy="osf", olora_lambda=1.0), "use them with --strategy o-lora"),
        (dict(strategy="o-lora", olora_lambda=-1.0), "--olora-lambda must be at least 0"),
    ],
)
def test_peer_options_are_checked(options, message):
    with pytest.raises(ConfigError, match=message):
        ReplayConfig(**options)


def test_peer_labels():
    assert ReplayConfig(strategy="o-lora").label == "o-lora"
    assert ReplayConfig(strategy="o-lora", olora_lambda=0.1).label == "o-lora/lambda0.1"
    assert ReplayConfig(strategy="osf").label == "osf"
