"""replay-train on two CPU processes (gloo): ``torchrun --nproc_per_node 2`` and ``accelerate launch``, against
one process with the same (global) batch.

Tolerance. Each process computes its slice's gradient and DDP averages them; the loss means are taken over
the whole planned batch, so the update is the one-process update up to float32 summation order. After the
anchor task (6 Adam steps) the metrics agree to ~1e-8 relative; after the second task to ~4e-5, because
Adam's first steps move every weight by about lr·sign(g), so rounding in near-zero gradient entries grows:
one process run with 2 BLAS threads instead of 1 moves the same numbers by ~1e-5. Hence rel 1e-6 on the
anchor's row and 1e-3 after that. Averaging each slice's own mean instead (DDP's default without the
whole-batch normalisation) is off by 3e-4 and 2e-2, outside both.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cstool.stages import replay_train
from cstool.stages.replay_train import ReplayConfig
from tests.conftest import REPO
from tests.stages.conftest import assert_user_error, invoke
from tests.stages.test_replay import _matrix, seq  # noqa: F401  (seq is a fixture)

OPTIONS = dict(
    strategy="replay",
    replay_ratio=0.25,
    train_first=True,
    steps_per_task=6,
    batch_size=8,
    lr=0.01,
    train_embeddings=True,
    buffer_per_task=40,
    device="cpu",
)
CONCURRENT = dict(strategy="replay-adapter", replay_schedule="concurrent", composition="drop")
# Every write under the run folder, per process: opens for writing, renames, new and removed paths.
AUDIT = """
import os, sys
_root, _log = os.environ["AUDIT_ROOT"], os.environ["AUDIT_LOG"] + "." + os.environ.get("RANK", "launcher")
_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_PATHS = {"os.rename": 1, "os.mkdir": 0, "os.remove": 0, "os.rmdir": 0, "shutil.rmtree": 0}
def _hook(event, args):
    if event == "open":
        path = args[0] if isinstance(args[2], int) and args[2] & _WRITE else None
    else:
        path = args[_PATHS[event]] if event in _PATHS else None
    if isinstance(path, (str, os.PathLike)) and os.path.abspath(path).startswith(_root):
        with open(_log, "a") as f:  # outside _root: not audited again
            f.write(event + " " + os.path.relpath(path, _root) + "\\n")
sys.addaudithook(_hook)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(seq, out: Path, **options) -> list[str]:  # noqa: F811
    args = ["-q", "replay-train", "--base", seq["base"], "-o", str(out), "--train-first", "--train-embeddings"]
    for key, value in {k: v for k, v in {**OPTIONS, **options}.items() if not isinstance(v, bool)}.items():
        args += ["--" + key.replace("_", "-"), str(value)]
    tasks = 2
    for name, path in seq["tasks"][:tasks]:
        args += ["--task", f"{name}={path}"]
    for name, path in seq["devs"][:tasks]:
        args += ["--dev", f"{name}={path}"]
    return args


def _env(tmp_path: Path, out: Path) -> dict[str, str]:
    audit = tmp_path / "audit"
    audit.mkdir(exist_ok=True)
    (audit / "sitecustomize.py").write_text(AUDIT)
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(audit), str(REPO)]),
        "AUDIT_ROOT": str(out.resolve()),
        "AUDIT_LOG": str(tmp_path / "writes"),
    }


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "cstool"]


# ddp.yaml of docs/scale-out.md: accelerate's launcher (torchrun underneath); with --device cpu the processes
# use gloo. (accelerate's own multi-CPU mode starts one process per machine unless mpirun is there.)
DDP_YAML = """compute_environment: LOCAL_MACHINE
distributed_type: MULTI_GPU
num_machines: 1
num_processes: 2
mixed_precision: 'no'
"""


def _accelerate(tmp_path: Path) -> list[str]:
    config = tmp_path / "ddp.yaml"
    config.write_text(DDP_YAML)
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
    return launcher + ["--main_process_port", str(_free_port()), "-m", "cstool"]


def _same(got: dict, want: dict, anchor: str = "en") -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-6 if key[0] == anchor else 1e-3), key


@pytest.fixture(scope="module")
def one(seq, tmp_path_factory) -> Path:  # noqa: F811
    """The reference: the same run in one process."""
    out = tmp_path_factory.mktemp("one") / "run"
    tasks, devs = seq["tasks"][:2], seq["devs"][:2]
    replay_train.run(base=seq["base"], tasks=tasks, devs=devs, output=out, config=ReplayConfig(**OPTIONS))
    return out


@pytest.fixture(scope="module")
def one_concurrent(seq, tmp_path_factory) -> Path:  # noqa: F811
    out = tmp_path_factory.mktemp("one") / "concurrent"
    config = ReplayConfig(**{**OPTIONS, **CONCURRENT})
    replay_train.run(base=seq["base"], tasks=seq["tasks"][:2], devs=seq["devs"][:2], output=out, config=config)
    return out


def _listing(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))


def test_torchrun_two_processes_train_the_one_process_plan(seq, one, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    done = subprocess.run(TORCHRUN + _cli(seq, out), env=_env(tmp_path, out), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    _same(_matrix(out), _matrix(one))
    for metric in ("nll", "ppl"):
        _same(_matrix(out, metric), _matrix(one, metric))
    summary, reference = (json.loads((d / "done.json").read_text()) for d in (out, one))
    assert summary["steps"] == reference["steps"] == {"en": 6, "hi": 6}
    assert (
        summary["examples"]
        == reference["examples"]
        == {"en": {"new": 48, "replay": 0}, "hi": {"new": 36, "replay": 12}}
    )
    assert pq.read_table(out / "buffer.parquet").equals(pq.read_table(one / "buffer.parquet"))
    assert _listing(out) == _listing(one)  # the same artifacts, no leftovers (work/, temporary files)
    # process 0 alone wrote the run folder; process 1 wrote nothing there
    writes = {p.name.rsplit(".", 1)[1]: p.read_text().splitlines() for p in tmp_path.glob("writes.*")}
    assert writes.get("1", []) == []
    placed = [w.split(" ", 1)[1] for w in writes["0"] if w.startswith("os.rename ")]  # os.replace too
    for artifact in ("done.json", "metrics.parquet", "buffer.parquet", "final", "adapters/hi"):
        assert artifact in placed, (artifact, writes["0"])
    assert placed.count("done.json") == 1 and placed.count("final") == 1


def test_torchrun_routes_gradients_of_the_concurrent_schedule_as_one_process(seq, one_concurrent, tmp_path):  # noqa: F811
    """Per-example routing takes two passes a step; on a process whose slice has no replayed example the
    replay pass runs on its slice weighted 0 (planned here: some step puts both replayed places in one half)."""
    from cstool.continual.buffer import mixed_schedule

    plan = mixed_schedule(
        n_new=200, n_replay=40, steps=6, batch_size=8, ratio=0.25, seed=1234, key=("hi", "concurrent", 0)
    )
    halves = [[slot.source for slot in batch[h * 4 : h * 4 + 4]] for batch in plan for h in (0, 1)]
    assert any("replay" not in half for half in halves)
    out = tmp_path / "run"
    done = subprocess.run(
        TORCHRUN + _cli(seq, out, **CONCURRENT), env=_env(tmp_path, out), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    _same(_matrix(out), _matrix(one_concurrent))
    summary, reference = (json.loads((d / "done.json").read_text()) for d in (out, one_concurrent))
    assert (
        summary["examples"]
        == reference["examples"]
        == {"en": {"new": 48, "replay": 0}, "hi": {"new": 36, "replay": 12}}
    )


@pytest.mark.slow  # about a minute: two launches of two processes each
def test_killed_two_process_run_resumes_under_accelerate_launch(seq, one, tmp_path):  # noqa: F811
    """torchrun killed (SIGKILL to every process) after the first task, resumed with accelerate launch."""
    out = tmp_path / "run"
    env = _env(tmp_path, out)
    proc = subprocess.Popen(TORCHRUN + _cli(seq, out), env=env, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        state = out / "state.json"
        if state.is_file() and json.loads(state.read_text())["done"]:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "done.json").exists()
    resumed = subprocess.run(
        _accelerate(tmp_path) + _cli(seq, out) + ["--resume"], env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _same(_matrix(out), _matrix(one))
    summary, reference = (json.loads((d / "done.json").read_text()) for d in (out, one))
    assert (summary["steps"], summary["examples"]) == (reference["steps"], reference["examples"])
    assert _listing(out) == _listing(one)
    # process 1 only probed that the existing run folder is writable (a file made and removed at once)
    writes = (tmp_path / "writes.1").read_text().splitlines() if (tmp_path / "writes.1").is_file() else []
    assert all(".cstool-probe-" in w for w in writes), writes


@pytest.mark.parametrize(
    "env, options, said",
    [
        ({}, ["--batch-size", "7"], "--batch-size 7 does not split evenly over 2 processes"),
        ({"ACCELERATE_USE_FSDP": "true"}, [], "does not run under FSDP"),
    ],
    ids=["batch", "fsdp"],
)
def test_what_several_processes_cannot_do_is_refused_first(seq, tmp_path, monkeypatch, env, options, said):  # noqa: F811
    monkeypatch.setenv("WORLD_SIZE", "2")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    args = _cli(seq, tmp_path / "run")[1:]  # no -q: the error line is checked
    for flag, value in zip(options[::2], options[1::2]):
        args = args[: args.index(flag)] + args[args.index(flag) + 2 :] if flag in args else args
        args += [flag, value]
    code, output = invoke(*args)
    assert_user_error(code, output, said)
    assert not (tmp_path / "run").exists()
