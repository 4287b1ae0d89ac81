"""A resume continues exactly the run it was, or refuses: distill and replay-train record the options that
change the result and the contents of their inputs when a run starts; a resume with any of them changed
exits 2 naming each difference, before anything is loaded or written. A cut-off checkpoint or a damaged
state file is an error line (or, for a checkpoint, skipped for the last complete one), never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from transformers import TrainerCallback

from cstool.stages import distill, replay_train
from cstool.stages.distill import DistillConfig
from cstool.stages.replay_train import ReplayConfig

from .conftest import assert_user_error, invoke

DISTILL = ["--block-size", "16", "--batch-size", "2", "--max-steps", "6", "--save-steps", "2", "--lr", "1e-3"]
DISTILL_API = dict(block_size=16, batch_size=2, max_steps=6, save_steps=2, lr=1e-3, device="cpu", log_every=1)


class _KillAt(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


def listing(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def cut_distill(inputs, tmp_path) -> dict:
    """A distill run of the tiny LM killed at step 5 (checkpoints at steps 2 and 4), and its inputs."""
    student = tmp_path / "student"
    shutil.copytree(inputs["lm"], student)
    data = tmp_path / "data.parquet"
    shutil.copy(inputs["tagged"], data)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        distill.run(
            DistillConfig(student=str(student), **DISTILL_API), data=[str(data)], output=out, callbacks=[_KillAt(5)]
        )
    assert (out / "checkpoints" / "checkpoint-4").is_dir() and not (out / "done.json").exists()
    return {"out": out, "student": student, "data": data}


def _change_data(run: dict) -> list[str]:
    table = pq.read_table(run["data"])
    pq.write_table(table.slice(1), run["data"])
    return []


def _change_student(run: dict) -> list[str]:
    config = json.loads((run["student"] / "config.json").read_text())
    (run["student"] / "config.json").write_text(json.dumps({**config, "rms_norm_eps": 1e-5}))
    return []


@pytest.mark.parametrize(
    "change, said",
    [
        (lambda run: ["--lr", "2e-3"], "--lr 0.001 then, 0.002 now"),
        (lambda run: ["--max-steps", "8"], "--max-steps 6 then, 8 now"),
        (lambda run: ["--seed", "7"], "--seed 1234 then, 7 now"),
        (lambda run: ["--block-size", "8"], "--block-size 16 then, 8 now"),
        (lambda run: ["--student-config", "llama:layers=1,hidden=32,heads=4"], "--student-config null then"),
        (_change_data, "DATA changed"),
        (_change_student, "--student changed"),
    ],
    ids=["lr", "max-steps", "seed", "block-size", "student-config", "data", "student-content"],
)
def test_distill_resume_with_other_options_or_inputs_is_refused(cut_distill, change, said):
    run = cut_distill
    extra = change(run)
    student = [] if "--student-config" in extra else ["--student", run["student"]]
    argv = ["distill", run["data"], *student, *DISTILL, "--device", "cpu", "-o", run["out"], "--resume"]
    for flag, value in zip(extra[::2], extra[1::2]):
        argv = argv[: argv.index(flag)] + argv[argv.index(flag) + 2 :] if flag in argv else argv
        argv += [flag, value]
    if "--student-config" in extra:
        argv += ["--tokenizer", run["student"]]
    before = listing(run["out"])
    code, output = invoke(*argv)
    assert_user_error(code, output, "was started as another run", said)
    assert listing(run["out"]) == before


def test_distill_resume_of_the_same_run_changes_only_what_may_change(cut_distill):
    run = cut_distill
    code, output = invoke(
        *("distill", run["data"], "--student", run["student"], *DISTILL, "--device", "cpu"),
        *("-o", run["out"], "--resume", "--log-every", "3", "--save-steps", "3", "--keep-checkpoints"),
    )
    assert code == 0, output
    assert json.loads((run["out"] / "done.json").read_text())["steps"] == 6


def test_distill_resumes_from_the_last_complete_checkpoint(cut_distill, tmp_path):
    """A kill while checkpoint 6 was being saved: its trainer_state.json is cut off. The resume continues from
    checkpoint 4, removes the cut-off one, and ends exactly where an uninterrupted run ends."""
    run = cut_distill
    ckpt = run["out"] / "checkpoints"
    shutil.copytree(ckpt / "checkpoint-4", ckpt / "checkpoint-6")
    state = ckpt / "checkpoint-6" / "trainer_state.json"
    state.write_text(state.read_text()[:50])
    full = distill.run(
        DistillConfig(student=str(run["student"]), **DISTILL_API), data=[str(run["data"])], output=tmp_path / "full"
    )
    resumed = distill.run(
        DistillConfig(student=str(run["student"]), resume=True, keep_checkpoints=True, **DISTILL_API),
        data=[str(run["data"])],
        output=run["out"],
    )
    assert resumed.final_loss == pytest.approx(full.final_loss, abs=1e-6)
    a, b = (pq.read_table(p / "train_metrics.parquet") for p in (tmp_path / "full", run["out"]))
    assert b.column("step").to_pylist() == [1, 2, 3, 4, 5, 6]
    assert b.column("loss").to_pylist() == pytest.approx(a.column("loss").to_pylist(), abs=1e-6)


@pytest.fixture
def unfinished_replay(inputs, tmp_path) -> dict:
    """A two-task replay-train run of the tiny LM whose last task is not recorded as done."""
    base = tmp_path / "base"
    shutil.copytree(inputs["lm"], base)
    hi = tmp_path / "hi.parquet"
    shutil.copy(inputs["tagged"], hi)
    out = tmp_path / "run"
    args = dict(base=str(base), tasks=[("en", str(inputs["tagged"])), ("hi", str(hi))], devs=[], output=out)
    options = dict(strategy="naive", steps_per_task=2, batch_size=2, max_length=16, device="cpu")
    replay_train.run(**args, config=ReplayConfig(**options))
    (out / "done.json").unlink()
    state = json.loads((out / "state.json").read_text())
    (out / "state.json").write_text(json.dumps({**state, "done": state["done"][:1]}))
    argv = [
        *("replay-train", "--base", base, "--task", f"en={inputs['tagged']}", "--task", f"hi={hi}"),
        *("--strategy", "naive", "--steps-per-task", "2", "--batch-size", "2", "--max-length", "16"),
        *("--device", "cpu", "-o", out, "--resume"),
    ]
    return {"out": out, "base": base, "hi": hi, "argv": [str(a) for a in argv]}


def _set(argv: list[str], flag: str, value: str) -> list[str]:
    i = argv.index(flag)
    return argv[: i + 1] + [value] + argv[i + 2 :]


@pytest.mark.parametrize(
    "change, said",
    [
        (lambda run, argv: _set(argv, "--steps-per-task", "3"), "--steps-per-task 2 then, 3 now"),
        (lambda run, argv: argv + ["--lr", "0.01"], "--lr 0.001 then, 0.01 now"),
        (lambda run, argv: _set(argv, "--strategy", "replay"), '--strategy "naive" then, "replay" now'),
        (lambda run, argv: argv + ["--seed", "3"], "--seed 1234 then, 3 now"),
        (
            lambda run, argv: pq.write_table(pq.read_table(run["hi"]).slice(2), run["hi"]) or argv,
            "the contents of --task changed",
        ),
        (
            lambda run, argv: (
                (run["base"] / "config.json").write_text(
                    (run["base"] / "config.json").read_text().replace("1e-06", "2e-06")
                )
                and argv
            ),
            "--base changed",
        ),
    ],
    ids=["steps", "lr", "strategy", "seed", "task-file", "base-content"],
)
def test_replay_resume_with_other_options_or_inputs_is_refused(unfinished_replay, change, said):
    run = unfinished_replay
    argv = change(run, list(run["argv"]))
    before = listing(run["out"])
    code, output = invoke(*argv)
    assert_user_error(code, output, "was started as another run", said)
    assert listing(run["out"]) == before


@pytest.mark.parametrize(
    "stage, damage, said",
    [
        ("replay-train", lambda out: out / "state.json", "the replay-train state"),
        ("replay-train", lambda out: out / "done.json", "the replay-train summary"),
        ("replay-train", lambda out: out / "cstool-run.json", "the run record"),
        ("distill", lambda out: out / "checkpoints" / "cstool-run.json", "the run record"),
    ],
    ids=["replay-state", "replay-done", "replay-run-record", "distill-run-record"],
)
def test_a_cut_off_state_file_is_an_error(stage, damage, said, request):
    run = request.getfixturevalue("unfinished_replay" if stage == "replay-train" else "cut_distill")
    path = damage(run["out"])
    if not path.exists():
        (run["out"] / "state.json").rename(path)  # done.json: any cut-off JSON will do
        shutil.copy(path, run["out"] / "state.json")
    path.write_text(path.read_text()[: len(path.read_text()) // 2])
    argv = run.get("argv") or [
        *("distill", run["data"], "--student", run["student"], *DISTILL, "--device", "cpu", "-o", run["out"]),
        "--resume",
    ]
    code, output = invoke(*argv)
    assert_user_error(code, output, said, "is damaged", "start a new run")


def test_both_stages_write_one_record_keyed_by_field_names(cut_distill, unfinished_replay):
    distilled = json.loads((cut_distill["out"] / "checkpoints" / "cstool-run.json").read_text())
    replayed = json.loads((unfinished_replay["out"] / "cstool-run.json").read_text())
    for record in (distilled, replayed):
        assert sorted(record) == ["contents", "format", "inputs", "launch", "options"] and record["format"] == 2
        assert not [k for section in record.values() if isinstance(section, dict) for k in section if "-" in k]
    assert distilled["options"]["lr"] == 1e-3 and distilled["options"]["block_size"] == 16
    assert set(distilled["contents"]) == {"data", "student"} and distilled["launch"] == {"processes": 1}
    assert replayed["options"]["replay_ratio"] == 0.25 and replayed["options"]["steps_per_task"] == 2
    assert "resume" not in replayed["options"] and "log_every" not in distilled["options"]  # may change on resume
    assert replayed["inputs"]["tasks"][1] == ["hi", str(unfinished_replay["hi"])]
    assert set(replayed["contents"]) == {"base", "tasks", "devs"}
    assert "run" not in json.loads((unfinished_replay["out"] / "state.json").read_text())


OLD_RECORD = {"--lr": 0.001, "--base (content)": "0" * 64, "processes": 1}  # cstool 0.1's, keyed by flags


@pytest.mark.parametrize("stage", ["replay-train", "distill"])
def test_a_run_folder_of_an_older_cstool_is_not_resumed(stage, request):
    run = request.getfixturevalue("unfinished_replay" if stage == "replay-train" else "cut_distill")
    folder = run["out"] if stage == "replay-train" else run["out"] / "checkpoints"
    (folder / "cstool-run.json").write_text(json.dumps(OLD_RECORD))
    argv = run.get("argv") or [
        *("distill", run["data"], "--student", run["student"], *DISTILL, "--device", "cpu", "-o", run["out"]),
        "--resume",
    ]
    before = listing(run["out"])
    code, output = invoke(*argv)
    assert_user_error(code, output, "was written by an older cstool", "cannot be resumed", "another -o")
    assert listing(run["out"]) == before


def test_a_replay_folder_with_the_record_in_its_state_is_not_resumed(unfinished_replay):
    """Earlier replay-train runs kept their record inside state.json, keyed by flags."""
    run = unfinished_replay
    (run["out"] / "cstool-run.json").unlink()
    state = json.loads((run["out"] / "state.json").read_text())
    (run["out"] / "state.json").write_text(json.dumps({**state, "run": OLD_RECORD}))
    code, output = invoke(*run["argv"])
    assert_user_error(code, output, "no cstool-run.json: it was started by an older cstool", "another -o")


def test_distill_checkpoints_without_their_run_record_are_not_resumed(cut_distill):
    run = cut_distill
    (run["out"] / "checkpoints" / "cstool-run.json").unlink()
    before = listing(run["out"])
    code, output = invoke(
        *("distill", run["data"], "--student", run["student"], *DISTILL, "--device", "cpu", "-o", run["out"]),
        "--resume",
    )
    assert_user_error(code, output, "holds checkpoints but no cstool-run.json")
    assert listing(run["out"]) == before


def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    "damage, said",
    [
        (lambda c: _cut(c / "model.safetensors"), "model.safetensors is cut off"),
        (lambda c: _cut(c / "optimizer.pt"), "optimizer.pt is cut off or not a torch file"),
        (lambda c: (c / "rng_state.pth").unlink(), "rng_state.pth is missing"),
    ],
    ids=["weights", "optimizer", "rng-state"],
)
def test_a_checkpoint_with_whole_state_but_damaged_files_is_an_error(cut_distill, damage, said):
    """trainer_state.json is whole (the save finished), but a file of the checkpoint was cut off or lost later."""
    run = cut_distill
    damage(run["out"] / "checkpoints" / "checkpoint-4")
    before = listing(run["out"])
    code, output = invoke(
        *("distill", run["data"], "--student", run["student"], *DISTILL, "--device", "cpu", "-o", run["out"]),
        "--resume",
    )
    assert_user_error(code, output, "checkpoint 4 is damaged:", said, "to resume from the checkpoint before it")
    assert listing(run["out"]) == before
