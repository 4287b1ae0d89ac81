"""Replay-adapter variants (composition keep / merge, the concurrent replay schedule) and the full fine-tuning
references: equal steps and examples per task, gradient routing, merged weights, final models, resume."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import torch

from cstool.base.errors import ConfigError
from cstool.stages import replay_train
from cstool.stages.replay_train import ReplayConfig
from tests.stages.test_replay import FAST, _matrix, _resume_args, _run, seq  # noqa: F401  (seq is a fixture)

VARIANTS = {
    "drop": dict(strategy="replay-adapter", composition="drop", consolidation_new=0.25, replay_schedule="consolidate"),
    "keep": dict(strategy="replay-adapter", composition="keep", consolidation_new=0.25, replay_schedule="consolidate"),
    "merge": dict(
        strategy="replay-adapter", composition="merge", consolidation_new=0.25, replay_schedule="consolidate"
    ),
    "concurrent": dict(strategy="replay-adapter", composition="drop", replay_schedule="concurrent"),
    "concurrent-merge": dict(strategy="replay-adapter", replay_schedule="concurrent", composition="merge"),
    "ft-naive": dict(strategy="naive", full_finetune=True, lr=1e-3),
    "ft-replay": dict(strategy="replay", full_finetune=True, lr=1e-3),
}


def _lora():
    from cstool.continual import adapters

    return adapters.lora_config(r=4, alpha=8, dropout=0.0, targets=["q_proj", "v_proj"])


@pytest.fixture(scope="module")
def variants(seq, tmp_path_factory) -> dict:  # noqa: F811
    d = tmp_path_factory.mktemp("variants")
    return {name: (_run(seq, d / name, replay_ratio=0.25, **opts), d / name) for name, opts in VARIANTS.items()}


def test_every_variant_spends_the_same_steps_and_examples(variants):
    labels = {
        name: pq.read_table(out / "metrics.parquet").column("strategy")[0].as_py()
        for name, (_, out) in variants.items()
    }
    assert labels == {"drop": "replay-adapter", "keep": "replay-adapter/keep", "merge": "replay-adapter/merge",
                      "concurrent": "replay-adapter/concurrent", "concurrent-merge": "replay-adapter/merge+concurrent",
                      "ft-naive": "naive/full", "ft-replay": "replay/full"}  # fmt: skip
    consolidate = [(240, 0), (192, 48), (192, 48)]  # A_t: 22 steps of new; R: 8 steps, 75 % replayed
    mixed = [(240, 0), (180, 60), (180, 60)]  # 25 % of every batch replayed (en has no buffer yet)
    expected = {"drop": consolidate, "keep": consolidate, "merge": consolidate, "concurrent": mixed,
                "concurrent-merge": mixed, "ft-naive": [(240, 0)] * 3, "ft-replay": mixed}  # fmt: skip
    for name, (_, out) in variants.items():
        done = json.loads((out / "done.json").read_text())
        assert done["steps"] == {"en": 30, "hi": 30, "mr": 30}, name
        fed = [(done["examples"][t]["new"], done["examples"][t]["replay"]) for t in ("en", "hi", "mr")]
        assert fed == expected[name], name


def test_keeping_or_merging_earlier_task_adapters_retains_hindi(variants):
    """Dropping A_hi when Marathi starts loses Hindi (only R remembers it); keep and merge do not."""
    drop = variants["drop"][0]
    for name in ("keep", "merge", "concurrent-merge"):
        assert variants[name][0][("mr", "hi")] < drop[("mr", "hi")] - 0.3, name


def test_full_finetuning_learns_and_replay_limits_its_forgetting(variants):
    naive, replay = variants["ft-naive"][0], variants["ft-replay"][0]
    assert naive[("mr", "mr")] < naive[("hi", "mr")] - 0.5  # Marathi learned
    assert replay[("mr", "en")] < naive[("mr", "en")] - 0.3  # replay forgets less English
    assert sorted(p.name for p in (variants["ft-naive"][1] / "adapters").iterdir()) == [
        "full-after-hi",
        "full-after-mr",
    ]


def test_keep_final_model_holds_every_task_adapter(seq, variants):  # noqa: F811
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cstool.lm.scoring import score_lm

    scores, out = variants["keep"]
    tok = AutoTokenizer.from_pretrained(seq["base"])
    dev_hi = pq.read_table(seq["devs"][1][1]).column("text").to_pylist()
    final = AutoModelForCausalLM.from_pretrained(out / "final")
    assert score_lm(final, tok, dev_hi).bpb == pytest.approx(scores[("mr", "hi")], rel=1e-4)
    names = ["en", "hi", "mr", "replay", "replay-after-hi", "replay-after-mr"]
    assert sorted(p.name for p in (out / "adapters").iterdir()) == names
    # dropping the kept adapters from the final model changes it: they take part
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(seq["base"]), str(out / "adapters" / "mr"))
    model.load_adapter(str(out / "adapters" / "replay"), adapter_name="replay")
    model.base_model.set_adapter(["default", "replay"])
    assert score_lm(model, tok, dev_hi).bpb > scores[("mr", "hi")] + 0.1


def test_merging_keeps_the_function_and_the_replay_adapter(seq):  # noqa: F811
    """merge_into_base: the merged base plus R computes what base + A + R computed, and R is unchanged."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from cstool.continual import adapters

    base = AutoModelForCausalLM.from_pretrained(seq["base"])
    model = get_peft_model(base, _lora(), adapter_name="task")
    model.add_adapter("replay", _lora())
    torch.manual_seed(1)
    with torch.no_grad():
        for p in adapters.parameters_of(model, "task") + adapters.parameters_of(model, "replay"):
            p.normal_(0, 0.1)
    model.base_model.set_adapter(["task", "replay"])
    ids = torch.tensor([[1, 5, 9, 13, 2]])
    before = model(input_ids=ids).logits
    r_before = [p.detach().clone() for p in adapters.parameters_of(model, "replay")]
    merged_base, merged = adapters.merge_into_base(model, "task", keep="replay")
    assert [n for n, p in merged_base.named_parameters() if p.requires_grad and ".replay." not in n] == []
    assert torch.allclose(merged(input_ids=ids).logits, before, atol=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(r_before, adapters.parameters_of(merged, "replay"), strict=True))


@pytest.mark.parametrize("routed", ["new", "replay"])
def test_concurrent_gradients_are_routed_per_example(seq, tmp_path, routed):  # noqa: F811
    """A step on new examples only moves A_t, a step on replayed examples only moves R."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainingArguments

    from cstool.continual import adapters
    from cstool.continual.tasks import LmKind

    tok = AutoTokenizer.from_pretrained(seq["base"])
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(seq["base"]), _lora(), adapter_name="task")
    model.add_adapter("replay", _lora())
    with torch.no_grad():  # non-zero B matrices, so both adapters get gradients when trainable
        for p in adapters.parameters_of(model, "task") + adapters.parameters_of(model, "replay"):
            p.normal_(0, 0.05)
    adapters.activate(model, ["task", "replay"], ["task", "replay"])
    kind = LmKind(ReplayConfig(max_length=32))
    kind.tokenizer = tok
    encoded = kind.encode(["the cat eats an apple .", "a dog sees the ball .", "my friend likes a book ."] * 2)
    items = [(e, routed == "replay") for e in encoded[:4]]
    task_params, replay_params = adapters.parameters_of(model, "task"), adapters.parameters_of(model, "replay")
    before = {id(p): p.detach().clone() for p in task_params + replay_params}
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4, learning_rate=0.1,
                             report_to=[], save_strategy="no", use_cpu=True, remove_unused_columns=False)  # fmt: skip
    trainer = kind.trainer(model=model, args=args, items=items, teacher=None, route=(task_params, replay_params))
    trainer.train()

    def moved(params: list) -> bool:
        return any(not torch.equal(p.detach(), before[id(p)]) for p in params)

    assert moved(task_params) == (routed == "new")
    assert moved(replay_params) == (routed == "replay")
    assert trainer.fed == ({"new": 4, "replay": 0} if routed == "new" else {"new": 0, "replay": 4})


@pytest.mark.parametrize("name", ["keep", "merge", "concurrent", "ft-replay"])
def test_resume_of_a_variant_gives_the_same_metrics(seq, tmp_path, name):  # noqa: F811
    out = tmp_path / "run"
    options = {**VARIANTS[name], "steps_per_task": 6, "run_name": name}
    first = _run(seq, out, **options)
    state = json.loads((out / "state.json").read_text())
    state["done"] = state["done"][:2]  # killed after hi: mr is trained again from the saved state
    (out / "state.json").write_text(json.dumps(state))
    (out / "done.json").unlink()
    replay_train.run(**_resume_args(seq, out), config=ReplayConfig(**{**FAST, **options, "resume": True}))
    assert _matrix(out) == pytest.approx(first, rel=1e-5)


def test_the_default_replay_adapter_is_the_benchmark_s_choice():
    """merge, replay inside A_t's phase, 60 % new examples in consolidation: the variant meeting the UD rule on
    every sequence and budget (docs/results/ud.md, Sequences)."""
    config = ReplayConfig()
    assert (config.composition, config.consolidation_new, config.replay_schedule) == (
        "merge",
        0.6,
        "replay-consolidate",
    )
    assert config.label == "replay-adapter/merge+replay+new0.6"
    assert ReplayConfig(replay_schedule="consolidate").label == "replay-adapter/merge+new0.6"
    first = ReplayConfig(composition="drop", consolidation_new=0.25, replay_schedule="consolidate")
    assert first.label == "replay-adapter"


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(strategy="replay", composition="keep"), "use them with --strategy replay-adapter"),
        (dict(strategy="replay-adapter", composition="merge", task_adapter_init="previous"), "twice"),
        (dict(strategy="replay-adapter", task_adapter_init="previous"), "add --composition drop"),
        (dict(strategy="naive", composition="drop"), "use them with --strategy replay-adapter"),
        (dict(strategy="replay-adapter", full_finetune=True), "--full-finetune is a reference"),
        (dict(composition="stack"), "--composition must be one of drop, keep, merge"),
        (dict(replay_schedule="later"), "--replay-schedule must be one of consolidate, concurrent"),
    ],
)
def test_variant_options_are_checked(options, message):
    with pytest.raises(ConfigError, match=message):
        ReplayConfig(**options)
