"""replay-train --task-type vqa on a tiny Llava: English is learned beyond the majority-answer baseline,
naive continual training on hi then mr forgets it, loss covers answer tokens only, the vision tower stays
frozen, eval of the final model agrees with the run's own scores, and bad input is refused."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cstool.cli import app
from cstool.models import hf
from cstool.vqa.codec import VqaCodec
from cstool.vqa.examples import read_examples
from cstool.vqa.metrics import vqa_accuracy

runner = CliRunner()


def _matrix(run, metric="accuracy"):
    return {
        (r["after_task"], r["eval_task"]): r["value"]
        for r in pq.read_table(run / "metrics.parquet").to_pylist()
        if r["metric"] == metric
    }


def _majority(path) -> float:
    answers = [r[0] for r in pq.read_table(path).column("answers").to_pylist()]
    return Counter(answers).most_common(1)[0][1] / len(answers)


def test_english_is_learned_beyond_the_majority_baseline(naive_run, easy):
    r = _matrix(naive_run)
    assert set(r) == {(a, e) for a in ("en", "hi", "mr") for e in ("en", "hi", "mr")}
    baseline = _majority(easy["en.dev"])  # "yes": about 0.4 of held-out questions
    assert r[("en", "en")] > baseline + 0.12, (r[("en", "en")], baseline)


def test_naive_continual_training_forgets_english(naive_run, easy):
    r = _matrix(naive_run)
    assert r[("mr", "en")] < r[("en", "en")] - 0.2
    assert r[("mr", "mr")] > r[("hi", "mr")] + 0.2  # the new language is learned meanwhile
    # Hindi too: its "yes" (हाँ) takes 4 tokens, more than the run's --max-new-tokens 3, which is raised
    assert r[("hi", "hi")] > _majority(easy["hi.dev"]) + 0.05
    done = json.loads((naive_run / "done.json").read_text())
    assert done["steps"] == {"en": 250, "hi": 250, "mr": 250}
    assert done["examples"] == {t: {"new": 250 * 16, "replay": 0} for t in ("en", "hi", "mr")}
    buffer = pq.read_table(naive_run / "buffer.parquet").to_pylist()
    assert Counter(b["task"] for b in buffer) == {"en": 50, "hi": 50, "mr": 50}
    questions = set(pq.read_table(easy["hi.train"]).column("question").to_pylist())
    assert all(b["text"] in questions for b in buffer if b["task"] == "hi")


def test_eval_of_the_final_model_matches_the_run_and_a_hand_computation(naive_run, easy, tmp_path):
    scores, preds = tmp_path / "s.parquet", tmp_path / "p.parquet"
    result = runner.invoke(
        app,
        [
            "eval",
            "--task",
            "vqa",
            "--model",
            str(naive_run / "final"),
            "--data",
            f"mr={easy['mr.dev']}",
            "--max-new-tokens",
            "3",
            "--batch-size",
            "64",
            "-o",
            str(scores),
            "--predictions",
            str(preds),
        ],
    )
    assert result.exit_code == 0, result.output
    accuracy = {r["metric"]: r["value"] for r in pq.read_table(scores).to_pylist()}["accuracy"]
    rows = pq.read_table(preds).to_pylist()
    hand = sum(r["prediction"] == r["answers"][0] for r in rows) / len(rows)  # one reference: exact match
    assert accuracy == pytest.approx(hand)
    assert accuracy == pytest.approx(sum(vqa_accuracy(r["prediction"], r["answers"], "mr") for r in rows) / len(rows))
    assert accuracy == pytest.approx(_matrix(naive_run)[("mr", "mr")], abs=0.03)  # merged LoRA ≈ the adapter model


def test_dev_accuracy_uses_the_runs_vqa_normalization(naive_run, easy):
    """replay-train scores dev sets with ReplayConfig.vqa_normalization: against ten identical references
    with a full stop (and a capital, where the script has one) the official script's rules (no normalisation)
    match nothing, multilingual's match as the plain references do. Marathi, the task learned last."""
    from dataclasses import replace

    from cstool.continual.config import ReplayConfig
    from cstool.continual.tasks import task_kind

    kinds = {
        mode: task_kind(ReplayConfig(task_type="vqa", vqa_normalization=mode, max_new_tokens=3, eval_batch_size=64))
        for mode in ("multilingual", "official")
    }
    model = kinds["official"].load(str(naive_run / "final"), "cpu")
    kinds["multilingual"].load(str(naive_run / "final"), "cpu")
    examples = kinds["official"].read_dev("mr", str(easy["mr.dev"]))[0][:64]
    shouted = [replace(ex, answers=(ex.answers[0].capitalize() + ".",) * 10) for ex in examples]
    plain = kinds["official"].score(model, examples)["accuracy"]
    assert plain > 0.3
    assert kinds["multilingual"].score(model, shouted)["accuracy"] == pytest.approx(plain)
    assert kinds["official"].score(model, shouted)["accuracy"] == 0.0


def test_loss_covers_answer_tokens_only_and_the_resize_is_reported_once(vlm, easy, capsys):
    model, processor = hf.load_vlm(vlm)
    codec = VqaCodec(processor)
    examples = read_examples("hi", str(easy["hi.dev"]))[0][:3]
    capsys.readouterr()
    encoded = codec.encode(examples)
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert err.count("resizes them to 32×32") == 1 and "64×64" in err
    for item, ex in zip(encoded, examples):
        answer = [t for t, l in zip(item["input_ids"], item["labels"]) if l != -100]
        assert answer == item["input_ids"][-len(answer) :]
        assert processor.tokenizer.decode(answer, skip_special_tokens=True).strip() == ex.answers[0]
        assert answer[-1] == processor.tokenizer.eos_token_id
    batch = codec.collate([{**e, "is_replay": False} for e in encoded])
    assert batch["pixel_values"].shape == (3, 3, 32, 32) and batch["labels"].shape == batch["input_ids"].shape
    fresh = VqaCodec(processor, cache_images=False)
    fresh.encode(examples)
    assert (fresh.collate(encoded)["pixel_values"] == batch["pixel_values"]).all() and not fresh.pixels


def test_lora_reaches_the_language_model_only(vlm):
    from peft import get_peft_model

    from cstool.continual import adapters
    from cstool.vqa.vlm import projector_modules, text_only_targets

    model, _ = hf.load_vlm(vlm)
    targets = adapters.resolve_target_modules(model, "auto")
    peft_model = get_peft_model(
        model,
        adapters.lora_config(
            r=4, alpha=8, dropout=0.0, targets=text_only_targets(targets), modules_to_save=projector_modules(model)
        ),
    )
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert any("language_model" in n and "lora_" in n for n in trainable)
    assert not any("vision_tower" in n for n in trainable)
    assert any("multi_modal_projector" in n for n in trainable)


def test_bad_input_is_refused(tiny_lm, vlm, easy, tmp_path):
    cmd = ["replay-train", "--task-type", "vqa", "--steps-per-task", "1"]
    base = [*cmd, "--task", f"en={easy['en.dev']}", "--task", f"hi={easy['hi.dev']}"]
    result = runner.invoke(app, [*base, "--base", str(tiny_lm), "-o", str(tmp_path / "a")])
    assert result.exit_code == 2 and ("image-text-to-text" in result.output or "vision" in result.output), result.output
    lm_text = tmp_path / "text.parquet"
    import pyarrow as pa

    pq.write_table(pa.table({"id": ["a"], "text": ["hello"]}), lm_text)
    result = runner.invoke(
        app,
        [
            *cmd,
            "--task",
            f"en={lm_text}",
            "--task",
            f"hi={easy['hi.dev']}",
            "--base",
            str(vlm),
            "-o",
            str(tmp_path / "b"),
        ],
    )
    assert result.exit_code == 2 and "'question'" in result.output and "vqa-import" in result.output
    rows = pq.read_table(easy["hi.dev"]).slice(0, 4).to_pylist()
    rows[2]["question"] = " "
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(easy["hi.dev"])), bad)
    result = runner.invoke(app, [*base[:-2], "--task", f"hi={bad}", "--base", str(vlm), "-o", str(tmp_path / "c")])
    assert result.exit_code == 2 and "questions are empty" in result.output and rows[2]["id"] in result.output
    result = runner.invoke(app, [*base, "--base", str(vlm), "--kd-teacher", str(vlm), "-o", str(tmp_path / "d")])
    assert result.exit_code == 2 and "--kd-teacher is for --task-type lm" in result.output

    rows = pq.read_table(easy["hi.dev"]).slice(0, 2).to_pylist()
    rows[1]["image"] = b"garbage"
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(easy["hi.dev"])), bad)
    result = runner.invoke(
        app, [*base[:-2], "--task", f"hi={bad}", "--base", str(vlm), "-o", str(tmp_path / "e"), "--train-first"]
    )
    # found before the English task trains; no traceback and no run folder left behind
    assert result.exit_code == 2 and "images are missing or unreadable" in result.output
    assert rows[1]["id"] in result.output and "Traceback" not in result.output
    assert not any((tmp_path / d).exists() for d in "abcde")
