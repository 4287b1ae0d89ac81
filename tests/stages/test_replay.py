"""replay-train on a tiny Llama and a clearly separable three-task sequence (English → Hindi → Marathi
templates): forgetting, budgets, buffer, adapters, resume, bad input."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

from cstool.base.errors import ConfigError, CstoolError, InputError, SchemaError
from cstool.cli import app
from cstool.io import artifacts
from cstool.models import hf
from cstool.stages import replay_train
from cstool.stages.replay_train import ReplayConfig
from tests.conftest import byte_bpe, tiny_llama_config

runner = CliRunner()
WORDS = {
    "en": (
        ["the cat", "a dog", "my friend", "the teacher", "a bird"],
        ["eats", "sees", "likes", "finds"],
        ["an apple", "the ball", "a book", "the tree"],
    ),
    "hi": (
        ["बिल्ली", "कुत्ता", "मेरा दोस्त", "शिक्षक", "चिड़िया"],
        ["खाता है", "देखता है", "पसंद करता है", "ढूँढता है"],
        ["सेब", "गेंद", "किताब", "पेड़"],
    ),
    "mr": (
        ["मांजर", "कुत्रा", "माझा मित्र", "शिक्षक", "पक्षी"],
        ["खातो", "पाहतो", "आवडतो", "शोधतो"],
        ["सफरचंद", "चेंडू", "पुस्तक", "झाड"],
    ),
}
FIRST_DESIGN = dict(composition="drop", consolidation_new=0.25)  # the replay adapter as first designed
FAST = dict(train_first=True, steps_per_task=30, batch_size=8, lr=1e-2, train_embeddings=True, buffer_per_task=40)


@pytest.fixture(scope="module")
def seq(tmp_path_factory) -> dict:
    """Task/dev artifacts and a tiny base model (random weights, BPE tokenizer trained on the tasks)."""
    from transformers import LlamaForCausalLM

    d = tmp_path_factory.mktemp("seq")
    rng = random.Random(0)
    all_text = []
    for lang, (subj, verb, obj) in WORDS.items():
        for split, n in (("train", 200), ("dev", 30)):
            rows = [
                f"{rng.choice(subj)} {rng.choice(verb)} {rng.choice(obj)} ."
                if lang == "en"
                else f"{rng.choice(subj)} {rng.choice(obj)} {rng.choice(verb)} ।"
                for _ in range(n)
            ]
            all_text += rows
            pq.write_table(
                pa.table({"id": [f"{lang}{i}" for i in range(n)], "text": rows}), d / f"{lang}.{split}.parquet"
            )
    hf = byte_bpe(all_text, 300)
    base = d / "base"
    hf.save_pretrained(base)
    torch.manual_seed(0)
    LlamaForCausalLM(tiny_llama_config(hf)).save_pretrained(base)
    tasks = [(lang, str(d / f"{lang}.train.parquet")) for lang in WORDS]
    devs = [(lang, str(d / f"{lang}.dev.parquet")) for lang in WORDS]
    return {"dir": d, "base": str(base), "tasks": tasks, "devs": devs}


def _run(seq, out: Path, **options) -> dict:
    config = ReplayConfig(**{**FAST, **options})
    replay_train.run(base=seq["base"], tasks=seq["tasks"], devs=seq["devs"], output=out, config=config)
    return _matrix(out)


def _matrix(out: Path, metric: str = "bpb") -> dict[tuple[str, str], float]:
    rows = pq.read_table(out / "metrics.parquet").to_pylist()
    return {(r["after_task"], r["eval_task"]): r["value"] for r in rows if r["metric"] == metric}


@pytest.fixture(scope="module")
def runs(seq, tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("runs")
    return {
        s: (_run(seq, d / s, strategy=s, replay_ratio=0.25, **(FIRST_DESIGN if s == "replay-adapter" else {})), d / s)
        for s in ("naive", "replay", "replay-adapter", "joint")
    }


def test_naive_forgets_and_replay_forgets_less(runs):
    naive, replay = runs["naive"][0], runs["replay"][0]
    # every strategy learned English first (same seed, same steps: identical row 0)
    assert naive[("en", "en")] == pytest.approx(replay[("en", "en")], rel=0.2)
    forget_naive = naive[("mr", "en")] - naive[("en", "en")]
    forget_replay = replay[("mr", "en")] - replay[("en", "en")]
    assert forget_naive > 1.0  # bits per byte on English dev after learning hi and mr
    assert forget_replay < forget_naive - 0.8
    # and the new languages are still learned: Marathi dev improves a lot over "after hi"
    assert replay[("mr", "mr")] < replay[("hi", "mr")] - 0.5


def test_every_strategy_spends_the_same_steps_and_examples(runs):
    expected = {  # examples the Trainer fed per task: (new, replayed); 30 steps × 8 each
        "naive": [(240, 0)] * 3,
        "replay": [(240, 0), (180, 60), (180, 60)],  # en has no buffer yet; then 25 % replayed
        # A_t: 22 steps, 25 % replayed (the default replay-consolidate); R: 8 steps, 75 % replayed
        "replay-adapter": [(240, 0), (148, 92), (148, 92)],
        "joint": [(240, 0)] * 3,  # the union of the tasks so far is all "new" data
    }
    for strategy, (_, out) in runs.items():
        done = json.loads((out / "done.json").read_text())
        assert done["steps"] == {"en": 30, "hi": 30, "mr": 30}, strategy
        fed = [(done["examples"][t]["new"], done["examples"][t]["replay"]) for t in ("en", "hi", "mr")]
        assert fed == expected[strategy], strategy


def test_metrics_are_a_full_r_matrix_in_long_form(runs):
    table = pq.read_table(runs["replay"][1] / "metrics.parquet")
    assert table.schema.remove_metadata().equals(artifacts.SCHEMAS["metrics"])
    rows = table.to_pylist()
    assert len(rows) == 3 * 3 * 3  # after_task × eval_task × (nll, bpb, ppl)
    assert {r["run"] for r in rows} == {"replay"} and {r["strategy"] for r in rows} == {"replay"}
    nll = _matrix(runs["replay"][1], "nll")
    ppl = _matrix(runs["replay"][1], "ppl")
    for key, v in nll.items():
        assert ppl[key] == pytest.approx(torch.tensor(v).exp().item(), rel=1e-6)


def test_buffer_is_a_seeded_reservoir_per_task(runs):
    buf = pq.read_table(runs["replay"][1] / "buffer.parquet").to_pylist()
    assert [b["task"] for b in buf] == ["en"] * 40 + ["hi"] * 40 + ["mr"] * 40
    other = pq.read_table(runs["naive"][1] / "buffer.parquet").to_pylist()
    assert buf == other  # the buffer depends on seed and task only
    assert len({b["row"] for b in buf if b["task"] == "hi"}) == 40


def test_adapters_reload_with_plain_peft_and_give_the_same_scores(seq, runs):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cstool.lm.scoring import score_lm

    out = runs["naive"][1]
    tok = AutoTokenizer.from_pretrained(seq["base"])
    dev_en = pq.read_table(seq["devs"][0][1]).column("text").to_pylist()
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(seq["base"]), str(out / "adapters" / "hi"))
    assert score_lm(model, tok, dev_en).bpb == pytest.approx(runs["naive"][0][("hi", "en")], rel=1e-5)
    final = AutoModelForCausalLM.from_pretrained(out / "final")
    assert score_lm(final, tok, dev_en).bpb == pytest.approx(runs["naive"][0][("mr", "en")], rel=1e-4)


def test_replay_adapter_final_model_is_base_plus_last_task_adapter_plus_replay(seq, runs):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cstool.lm.scoring import score_lm

    out = runs["replay-adapter"][1]
    assert sorted(p.name for p in (out / "adapters").iterdir()) == [
        "en",
        "hi",
        "mr",
        "replay",
        "replay-after-hi",
        "replay-after-mr",
    ]
    tok = AutoTokenizer.from_pretrained(seq["base"])
    dev_hi = pq.read_table(seq["devs"][1][1]).column("text").to_pylist()
    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(seq["base"]), str(out / "adapters" / "mr"), adapter_name="task"
    )
    model.load_adapter(str(out / "adapters" / "replay"), adapter_name="replay")
    model.base_model.set_adapter(["task", "replay"])
    expected = runs["replay-adapter"][0][("mr", "hi")]
    assert score_lm(model, tok, dev_hi).bpb == pytest.approx(expected, rel=1e-5)
    final = AutoModelForCausalLM.from_pretrained(out / "final")
    assert score_lm(final, tok, dev_hi).bpb == pytest.approx(expected, rel=1e-4)


def test_resume_after_sigkill_gives_the_same_metrics(seq, tmp_path, runs):
    out = tmp_path / "killed"
    args = [
        sys.executable,
        "-m",
        "cstool",
        "-q",
        "replay-train",
        "--base",
        seq["base"],
        "-o",
        str(out),
        "--strategy",
        "replay",
        "--replay-ratio",
        "0.25",
        "--train-first",
        "--steps-per-task",
        "30",
        "--batch-size",
        "8",
        "--lr",
        "0.01",
        "--train-embeddings",
        "--buffer-per-task",
        "40",
        "--run-name",
        "replay",
    ]
    for name, path in seq["tasks"]:
        args += ["--task", f"{name}={path}"]
    for name, path in seq["devs"]:
        args += ["--dev", f"{name}={path}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, env=env, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        state = out / "state.json"
        if state.is_file() and len(json.loads(state.read_text())["done"]) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "done.json").exists()
    refused = subprocess.run(args, env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    subprocess.run(args + ["--resume"], env=env, check=True, capture_output=True)
    assert _matrix(out) == runs["replay"][0]


def test_code_switched_tasks_use_text_cs_and_must_match_cs(seq, tmp_path):
    hi = pq.read_table(seq["tasks"][1][1])
    texts = hi.column("text").to_pylist()
    switched = hi.append_column("text_cs", pa.array([t.replace("सेब", "apple") for t in texts])).append_column(
        "strategy", pa.array(["pos"] * len(texts))
    )
    pq.write_table(switched, tmp_path / "hi.cs.parquet")
    tasks = [seq["tasks"][0], ("hi", str(tmp_path / "hi.cs.parquet"))]
    cs_fast = {**FAST, "train_first": False, "steps_per_task": 4}  # the anchor is read as plain text
    config = ReplayConfig(**{**cs_fast, "strategy": "replay", "cs": "random"})
    with pytest.raises(InputError, match="switched with strategy \\['pos'\\], but --cs is random"):
        replay_train.run(base=seq["base"], tasks=tasks, devs=seq["devs"][:2], output=tmp_path / "a", config=config)
    config = ReplayConfig(**{**cs_fast, "strategy": "replay", "cs": "pos"})
    replay_train.run(base=seq["base"], tasks=tasks, devs=seq["devs"][:2], output=tmp_path / "b", config=config)
    assert {r["cs"] for r in pq.read_table(tmp_path / "b" / "metrics.parquet").to_pylist()} == {"pos"}
    config = ReplayConfig(**{**cs_fast, "cs": "pos"})
    with pytest.raises(SchemaError, match="task hi: .* has no column 'text_cs'"):
        replay_train.run(base=seq["base"], tasks=seq["tasks"][:2], devs=[], output=tmp_path / "c", config=config)


def test_kd_loss_is_alpha_ce_plus_kl_on_replayed_examples(seq):
    from transformers import AutoModelForCausalLM, TrainingArguments

    from cstool.continual.tasks import ReplayTrainer
    from cstool.lm.kd import causal_ce, kd_loss

    student = AutoModelForCausalLM.from_pretrained(seq["base"])
    torch.manual_seed(1)
    teacher = AutoModelForCausalLM.from_pretrained(seq["base"])
    with torch.no_grad():
        for p in teacher.parameters():
            p.add_(0.1 * torch.randn_like(p))
    args = TrainingArguments(output_dir="/tmp/unused", use_cpu=True, report_to=[], remove_unused_columns=False)
    trainer = ReplayTrainer(model=student, args=args, kd_teacher=teacher, kd_alpha=0.3, kd_temperature=2.0)
    ids = torch.randint(3, 100, (4, 9))
    attn = torch.ones_like(ids)
    attn[1, 6:] = 0
    labels = ids.masked_fill(attn == 0, -100)
    replay = torch.tensor([False, True, False, True])
    for mask, expect_kd in ((replay, True), (torch.zeros(4, dtype=torch.bool), False)):
        inputs = {"input_ids": ids, "attention_mask": attn, "labels": labels, "is_replay": mask}
        loss = trainer.compute_loss(student, dict(inputs))
        logits = student(input_ids=ids, attention_mask=attn).logits
        ce, _ = causal_ce(logits, labels)
        expected = 0.3 * ce
        if expect_kd:
            _, m = causal_ce(logits[mask], labels[mask])
            t = teacher(input_ids=ids[mask], attention_mask=attn[mask]).logits
            expected = expected + 0.7 * kd_loss(logits[mask], t, m, temperature=2.0)
        assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_kd_teacher_changes_training_and_alpha_one_turns_it_off(seq, tmp_path):
    plain = _run(seq, tmp_path / "plain", strategy="replay", steps_per_task=6)
    off = _run(seq, tmp_path / "off", strategy="replay", steps_per_task=6, kd_teacher=seq["base"], kd_alpha=1.0)
    kd = _run(seq, tmp_path / "kd", strategy="replay", steps_per_task=6, kd_teacher=seq["base"], kd_alpha=0.5)
    assert off == plain
    assert kd[("hi", "en")] != pytest.approx(plain[("hi", "en")], rel=1e-4)


# --- bad input -------------------------------------------------------------------------------------------


def _cli(seq, out, *extra):
    args = ["replay-train", "--base", seq["base"], "-o", str(out)]
    for name, path in seq["tasks"][:2]:
        args += ["--task", f"{name}={path}"]
    return runner.invoke(app, args + [str(e) for e in extra])


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--strategy", "ewc"], "--strategy must be one of naive, replay, replay-adapter, joint"),
        (["--replay-ratio", "1.0"], "--replay-ratio must lie in [0, 1)"),
        (["--dev", "xx=a.parquet"], "--dev for tasks not in the sequence: xx"),
        (["--target-modules", "qkv"], "--target-modules qkv not found in the model"),
        (["--cs", "maybe"], "--cs must be one of none, pos, random"),
    ],
)
def test_bad_options(seq, tmp_path, extra, message):
    r = _cli(seq, tmp_path / "out", *extra)
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert not (tmp_path / "out").exists()  # nothing is left that would block the corrected rerun


def test_target_modules_error_lists_what_exists(seq, tmp_path):
    r = _cli(seq, tmp_path / "out", "--target-modules", "qkv")
    assert "q_proj" in r.output and "down_proj" in r.output


def test_missing_base_and_unwritable_run_dir(seq, tmp_path):
    r = runner.invoke(
        app,
        [
            "replay-train",
            "--base",
            str(tmp_path / "nope"),
            "-o",
            str(tmp_path / "o"),
            "--task",
            f"en={seq['tasks'][0][1]}",
            "--task",
            f"hi={seq['tasks'][1][1]}",
        ],
    )
    assert r.exit_code == 2 and "not found at" in r.output
    (tmp_path / "file").write_text("x")
    r = _cli(seq, tmp_path / "file" / "run")
    assert r.exit_code == 2 and "cannot write" in r.output


def test_config_collects_every_problem():
    with pytest.raises(ConfigError) as e:
        ReplayConfig(strategy="x", replay_ratio=2, steps_per_task=0, lr=0)
    for flag in ("--strategy", "--replay-ratio", "--steps-per-task", "--lr"):
        assert flag in e.value.message


def _resume_args(seq, out):
    from cstool.continual.config import parse_named

    return dict(
        base=seq["base"],
        tasks=parse_named([f"{n}={p}" for n, p in seq["tasks"]], "--task"),
        devs=parse_named([f"{n}={p}" for n, p in seq["devs"]], "--dev"),
        output=out,
    )


def test_resume_after_the_last_task_composes_the_same_final_model(seq, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "run"
    first = _run(seq, out, strategy="replay-adapter", steps_per_task=6, run_name="ra")
    weights = load_file(out / "final" / "model.safetensors")
    done = json.loads((out / "done.json").read_text())
    (out / "done.json").unlink()
    import shutil

    shutil.rmtree(out / "final")  # killed after the last task was recorded, before the final model
    replay_train.run(
        **_resume_args(seq, out),
        config=ReplayConfig(
            **{**FAST, "strategy": "replay-adapter", "steps_per_task": 6, "run_name": "ra", "resume": True}
        ),
    )
    again = load_file(out / "final" / "model.safetensors")
    assert weights.keys() == again.keys() and all(torch.equal(weights[k], again[k]) for k in weights)
    redone = json.loads((out / "done.json").read_text())
    assert redone["steps"] == done["steps"] and redone["examples"] == done["examples"]
    assert _matrix(out) == first


def test_resume_between_metrics_and_state_writes_keeps_one_row_per_entry(seq, tmp_path):
    out = tmp_path / "run"
    first = _run(seq, out, strategy="replay", steps_per_task=6, run_name="r")
    state = json.loads((out / "state.json").read_text())
    state["done"] = state["done"][:2]  # metrics of mr were written, its state was not
    (out / "state.json").write_text(json.dumps(state))
    (out / "done.json").unlink()
    replay_train.run(
        **_resume_args(seq, out),
        config=ReplayConfig(**{**FAST, "strategy": "replay", "steps_per_task": 6, "run_name": "r", "resume": True}),
    )
    rows = pq.read_table(out / "metrics.parquet").to_pylist()
    assert len(rows) == 27
    assert _matrix(out) == first


def test_resume_with_other_inputs_is_refused(seq, tmp_path):
    out = tmp_path / "run"
    _run(seq, out, strategy="naive", steps_per_task=2)
    (out / "done.json").unlink()
    args = _resume_args(seq, out)
    args["devs"] = args["devs"][:2]
    with pytest.raises(CstoolError, match="was started as another run: --dev"):
        replay_train.run(
            **args, config=ReplayConfig(**{**FAST, "strategy": "naive", "steps_per_task": 2, "resume": True})
        )


@pytest.mark.parametrize("name", ["en.ewt", "a/b", "replay", "replay-after-hi"])
def test_task_names_must_be_usable_as_adapter_folders(seq, tmp_path, name):
    r = runner.invoke(
        app,
        [
            "replay-train",
            "--base",
            seq["base"],
            "-o",
            str(tmp_path / "o"),
            "--task",
            f"{name}={seq['tasks'][0][1]}",
            "--task",
            f"hi={seq['tasks'][1][1]}",
        ],
    )
    assert r.exit_code == 2 and "is not usable" in r.output and "Traceback" not in r.output


def test_task_adapter_init_previous_retains_more_than_fresh(seq, tmp_path):
    fresh = _run(seq, tmp_path / "fresh", strategy="replay-adapter", **FIRST_DESIGN)
    previous = _run(seq, tmp_path / "previous", strategy="replay-adapter", task_adapter_init="previous", **FIRST_DESIGN)
    assert previous[("mr", "en")] < fresh[("mr", "en")] - 0.5


def test_a_bad_task_file_leaves_no_run_folder(seq, tmp_path):
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"id": ["1"], "body": ["x"]}), bad)
    r = runner.invoke(
        app,
        [
            "replay-train",
            "--base",
            seq["base"],
            "-o",
            str(tmp_path / "run"),
            "--task",
            f"en={seq['tasks'][0][1]}",
            "--task",
            f"hi={bad}",
        ],
    )
    assert r.exit_code == 2 and "has no column 'text'" in r.output
    assert not (tmp_path / "run").exists()


def test_dev_scores_read_whole_texts_longer_than_max_length(seq, tmp_path):
    """Training examples are cut at --max-length; dev texts are scored whole: the scores written after the last
    task are the final model's on the whole texts (they once were of the texts' first max-length tokens)."""
    from transformers import AutoModelForCausalLM

    from cstool.lm.scoring import score_lm
    from cstool.models.hf import load_tokenizer

    texts = pq.read_table(seq["devs"][0][1]).column("text").to_pylist()
    long_dev = tmp_path / "en.long.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": [" ".join(texts[:12]), " ".join(texts[12:30])]}), long_dev)
    tok = load_tokenizer(seq["base"])
    assert min(len(ids) for ids in tok([" ".join(texts[:12])])["input_ids"]) > 3 * 12
    out = tmp_path / "run"
    config = ReplayConfig(**{**FAST, "steps_per_task": 4, "max_length": 12, "strategy": "replay"})
    replay_train.run(base=seq["base"], tasks=seq["tasks"][:2], devs=[("en", str(long_dev))], output=out, config=config)
    final = AutoModelForCausalLM.from_pretrained(out / "final")
    whole = score_lm(final, load_tokenizer(seq["base"]), pq.read_table(long_dev).column("text").to_pylist())
    assert _matrix(out)[("hi", "en")] == pytest.approx(whole.bpb, rel=1e-4)


def test_missing_text_cs_hint_switches_into_a_new_file_and_names_it_as_the_task(seq, tmp_path):
    from cstool.continual.tasks import LmKind

    plain = pq.read_table(seq["tasks"][1][1]).select(["id", "text"])
    tokens = [t.split() for t in plain.column("text").to_pylist()]
    tagged = tmp_path / "hi.tagged.parquet"
    pq.write_table(plain.append_column("tokens", pa.array(tokens)).append_column("upos", pa.array(tokens)), tagged)
    pq.write_table(plain, tmp_path / "hi.parquet")
    config = ReplayConfig(**{**FAST, "cs": "pos"})
    for path, steps in ((str(tagged), 1), (str(tmp_path / "hi.parquet"), 2)):
        with pytest.raises(SchemaError) as e:
            LmKind(config).read_task("hi", path, trained=True)
        hint = e.value.hint
        stem = Path(path).name.split(".")[0]
        target = str(Path(path).with_name(f"{stem}.cs-pos.parquet"))
        assert f"-o {path}" not in hint and f"--strategy pos -o {target}" in hint and f"give hi={target}" in hint
        assert hint.count("cstool ") == steps


def test_misspelt_base_names_the_model_folder_and_a_close_name(seq, tmp_path, monkeypatch):
    base = Path(seq["base"])
    misspelt = base.with_name(base.name[:-1] + "x")
    args = ["replay-train", "--base", str(misspelt), "-o", str(tmp_path / "o")]
    r = runner.invoke(app, args + [f"--task={n}={p}" for n, p in seq["tasks"][:2]])
    assert r.exit_code == 2 and "not found at" in r.output and "Traceback" not in r.output
    with pytest.raises(CstoolError) as e:
        hf.load_tokenizer(misspelt)
    assert e.value.message == f"model (or tokenizer) not found at {misspelt}: no such folder"
    assert f"did you mean {base}?" in e.value.hint and "Hub" not in e.value.hint  # a path: the Hub is no way out
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CstoolError) as e:  # a Hub id, offline and not in the cache
        hf.load_causal_lm("HuggingFaceTB/SmolLM2-135M")
    assert "not in the Hugging Face cache" in e.value.message and "downloads are off" in e.value.message
    assert "cstool import-model HuggingFaceTB/SmolLM2-135M -o DIR" in e.value.hint


def test_each_phase_shows_a_progress_bar_with_its_total(seq, tmp_path, monkeypatch):
    import io
    import sys

    out = io.StringIO()
    out.isatty = lambda: True  # a terminal, as far as console.progress asks
    monkeypatch.setattr(sys, "stderr", out)
    _run(seq, tmp_path / "r", strategy="replay-adapter", steps_per_task=6, train_first=True, score_phases=False)
    shown = out.getvalue()
    for task in [t for t, _ in seq["tasks"]]:
        assert f"{task} " in shown
    assert "6/6" in shown or "5/5" in shown or "4/4" in shown, shown[-2000:]
    assert "eta" in shown
