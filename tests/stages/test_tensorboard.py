"""--report-to tensorboard on distill and replay-train: the Trainer's TensorBoard integration writes event
files under the output folder, and the losses read back from them are the ones the run logged."""

from __future__ import annotations

import json
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import TINY_CORPUS
from tests.stages.conftest import assert_user_error, invoke


def scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the event files in ``folder``: tag → [(step, value)]."""
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("tb")
    for name, texts in (("en", TINY_CORPUS[:2] * 20), ("hi", TINY_CORPUS[2:4] * 20)):
        pq.write_table(pa.table({"id": [str(i) for i in range(len(texts))], "text": texts}), root / f"{name}.parquet")
    return root


def distill_args(corpus, tiny_lm, out):
    return [
        "distill",
        corpus / "en.parquet",
        "--student-config",
        "llama:layers=1,hidden=16,heads=2",
        "--tokenizer",
        tiny_lm,
        "--max-steps",
        "4",
        "--log-every",
        "1",
        "--batch-size",
        "2",
        "--block-size",
        "16",
        "--device",
        "cpu",
        "-o",
        out,
    ]


def test_distill_writes_the_logged_losses_as_tensorboard_scalars(corpus, tiny_lm, tmp_path):
    code, out = invoke(*distill_args(corpus, tiny_lm, tmp_path / "s"), "--report-to", "tensorboard")
    assert code == 0, out
    events = list((tmp_path / "s" / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1 and not (tmp_path / "s" / "checkpoints").exists()
    logged = pq.read_table(tmp_path / "s" / "train_metrics.parquet").to_pylist()
    found = scalars(tmp_path / "s" / "tensorboard")
    assert [s for s, _ in found["train/loss"]] == [r["step"] for r in logged] == [1, 2, 3, 4]
    for (_, value), row in zip(found["train/loss"], logged, strict=True):
        assert value == pytest.approx(row["loss"], rel=1e-6)
    for (_, value), row in zip(found["train/ce"], logged, strict=True):
        assert value == pytest.approx(row["ce"], rel=1e-6)
    done = json.loads((tmp_path / "s" / "done.json").read_text())
    assert found["train/train_loss"][-1][1] == pytest.approx(done["train_loss"], rel=1e-6)

    code, out = invoke(*distill_args(corpus, tiny_lm, tmp_path / "plain"))  # default: none
    assert code == 0, out
    assert not (tmp_path / "plain" / "tensorboard").exists()


def test_replay_train_writes_one_folder_per_task_and_phase(corpus, tiny_lm, tmp_path):
    out = tmp_path / "run"
    code, output = invoke(
        "replay-train",
        "--base",
        tiny_lm,
        "--task",
        f"en={corpus / 'en.parquet'}",
        "--task",
        f"hi={corpus / 'hi.parquet'}",
        "--dev",
        f"hi={corpus / 'hi.parquet'}",
        "--dev",
        f"en={corpus / 'en.parquet'}",
        "--score-phases",
        "--strategy",
        "replay-adapter",
        "--steps-per-task",
        "4",
        "--batch-size",
        "2",
        "--max-length",
        "16",
        "--device",
        "cpu",
        "--report-to",
        "tensorboard",
        "-o",
        out,
    )
    assert code == 0, output
    phases = sorted(p.name for p in (out / "tensorboard").iterdir())
    assert phases == ["dev", "hi-replay-adapter", "hi-task-adapter"], phases
    printed = [float(x) for x in re.findall(r"mean loss (\d+\.\d+)", output)]
    assert len(printed) == 2
    for phase, mean in zip(["hi-task-adapter", "hi-replay-adapter"], printed, strict=True):
        found = scalars(out / "tensorboard" / phase)
        assert found["train/loss"], phase
        assert found["train/train_loss"][-1][1] == pytest.approx(mean, abs=6e-5)
    # the dev scores: after each task (dev/…) and each phase (dev-phase/…), at the run's optimizer steps so far
    dev = scalars(out / "tensorboard" / "dev")
    rows = pq.read_table(out / "metrics.parquet").to_pylist()
    for prefix, phased in (("dev", False), ("dev-phase", True)):
        for name in ("en", "hi"):
            want = [
                r["value"]
                for r in rows
                if r["eval_task"] == name and r["metric"] == "bpb" and bool(r["phase"]) == phased
            ]
            got = dev[f"{prefix}/{name}/bpb"]
            assert [v for _, v in got] == pytest.approx(want, rel=1e-6) and len(want) == 2
    assert [step for step, _ in dev["dev/hi/bpb"]] == [0, 4]  # before training, after hi's 4 steps
    (first, _), (second, _) = dev["dev-phase/hi/bpb"]  # the task adapter's steps, then the consolidation's
    assert 0 < first < second == 4


def test_bad_value_and_missing_tensorboard(corpus, tiny_lm, tmp_path, monkeypatch):
    code, out = invoke(*distill_args(corpus, tiny_lm, tmp_path / "a"), "--report-to", "wandb")
    assert_user_error(code, out, "--report-to must be one of none, tensorboard")
    import transformers.integrations.integration_utils as hf_integrations

    monkeypatch.setattr(hf_integrations, "is_tensorboard_available", lambda: False)
    code, out = invoke(*distill_args(corpus, tiny_lm, tmp_path / "b"), "--report-to", "tensorboard")
    assert_user_error(code, out, "needs the tensorboard package", "pip install tensorboard")
    assert not (tmp_path / "b").exists()
