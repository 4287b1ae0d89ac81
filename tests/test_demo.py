"""A smoke run of the demo pipeline (examples/demo/Makefile) with few steps: every stage end to end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cstool.io import artifacts

from .conftest import REPO

DEMO = REPO / "examples" / "demo"


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory) -> Path:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = tmp_path_factory.mktemp("demo") / "out"
    cstool = Path(sys.executable).with_name("cstool")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        "make",
        "-j2",
        "-C",
        str(DEMO),
        f"OUT={out}",
        f"CSTOOL={cstool}",
        "STEPS=8",
        "LM_STEPS=16",
        "TAGGER_STEPS=20",
        "VQA_STEPS=6",
        "VQA_IMAGES=30",
    ]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out


def test_every_artifact_has_its_declared_schema_and_provenance(demo_out):
    parquets = sorted(demo_out.rglob("*.parquet"))
    kinds = {}
    for path in parquets:
        schema = pq.read_schema(path)
        kind = (schema.metadata or {}).get(artifacts.KIND_KEY, b"").decode()
        assert kind in artifacts.SCHEMAS, path
        artifacts.require_columns(schema, kind, stage="test")
        assert artifacts.schema_provenance(schema)["cstool_version"]
        kinds.setdefault(kind, []).append(path.relative_to(demo_out))
    assert {"tagged", "switched", "switch_stats", "metrics", "replay_buffer", "train_metrics", "summary"} <= set(kinds)
    assert len(kinds["metrics"]) == 13  # LM: 3 strategies × 3 CS modes + joint; VQA: naive, replay-adapter (± POS CS)
    vqa = [p for p in kinds["metrics"] if p.parts[0] == "vqa"]
    assert len(vqa) == 3
    cs_run = pq.read_table(demo_out / "vqa" / "runs" / "replay-adapter-pos" / "metrics.parquet").to_pylist()
    assert {r["cs"] for r in cs_run} == {"pos"}
    switched = pq.read_table(demo_out / "vqa" / "data" / "hi.pos.parquet").to_pylist()
    assert sum(r["n_switched"] for r in switched) > 0
    original = {r["id"]: r for r in pq.read_table(demo_out / "vqa" / "data" / "hi.train.parquet").to_pylist()}
    assert all(r["answers"] == original[r["id"]]["answers"] for r in switched)  # answers are kept
    assert any(r["text_cs"] != original[r["id"]]["question"] for r in switched)  # questions are switched
    metrics = {r["metric"] for r in pq.read_table(demo_out / vqa[0]).to_pylist()}
    assert metrics == {"accuracy"}


def test_switched_data_follows_the_curriculum(demo_out):
    t = pq.read_table(
        demo_out / "switched" / "hi.pos.parquet", columns=["cs_epoch", "cs_ratio", "n_switched"]
    ).to_pylist()
    ratios = sorted({(r["cs_epoch"], r["cs_ratio"]) for r in t})
    assert ratios == [(0, 0.5), (1, 0.3), (2, 0.1)]
    by_epoch = [sum(r["n_switched"] for r in t if r["cs_epoch"] == e) for e in range(3)]
    assert by_epoch[0] > by_epoch[1] > by_epoch[2] > 0


def test_report_exists_with_plots(demo_out):
    report = demo_out / "report"
    assert (report / "summary.parquet").is_file()
    pngs = sorted(p.name for p in report.glob("*.png"))
    assert "forgetting.png" in pngs and sum(p.startswith("rmatrix_") for p in pngs) == 10
    for p in report.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (demo_out / "vqa" / "report" / "forgetting.png").is_file()


def test_training_runs_write_tensorboard_events(demo_out):
    folders = [demo_out / "teacher" / "tensorboard", demo_out / "student" / "tensorboard"]
    runs = demo_out / "runs"
    folders += [
        runs / "naive-none" / "tensorboard" / "hi-naive",
        runs / "replay-adapter-pos" / "tensorboard" / "mr-task-adapter",
    ]
    for folder in folders:
        assert list(folder.glob("events.out.tfevents.*")), folder


def test_a_second_make_does_nothing(demo_out):
    cstool = Path(sys.executable).with_name("cstool")
    r = subprocess.run(
        [
            "make",
            "-q",
            "-C",
            str(DEMO),
            f"OUT={demo_out}",
            f"CSTOOL={cstool}",
            "STEPS=8",
            "LM_STEPS=16",
            "TAGGER_STEPS=20",
            "VQA_STEPS=6",
            "VQA_IMAGES=30",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, "make -q says something is out of date"
