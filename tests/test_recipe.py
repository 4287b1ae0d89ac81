"""The recipe of docs/recipe.md: the commands it shows are the ones `make recipe` (examples/recipe/Makefile) runs,
and run end to end on the demo corpus they give a report."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from .conftest import REPO

RECIPE = REPO / "examples" / "recipe"
DOC = REPO / "docs" / "recipe.md"


def _commands(text: str) -> Counter:
    """The ``cstool …`` command lines of ``text``, continuation lines joined and spaces collapsed."""
    joined = text.replace("\\\n", " ")
    return Counter(" ".join(line.split()) for line in joined.splitlines() if line.strip().startswith("cstool "))


@pytest.fixture
def make():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    return "make"


def test_the_documented_commands_are_the_ones_make_runs(make, tmp_path):
    (tmp_path / "data").symlink_to(REPO / "examples" / "demo" / "data")  # the doc's paths: data/…, out/…
    r = subprocess.run(
        [make, "-s", "-n", "-C", str(RECIPE), f"DATA={tmp_path}/data", f"OUT={tmp_path}/out", "CSTOOL=cstool"],
        capture_output=True,
        text=True,
        check=True,
    )
    run = _commands(r.stdout.replace(f"{tmp_path}/", ""))
    blocks = "\n".join(re.findall(r"```bash\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S))
    documented = _commands(blocks)
    stages = [c.split()[1] for c in run.elements()]
    assert set(stages) == {
        "train-tagger",
        "tag",
        "switch",
        "train-tokenizer",
        "distill",
        "replay-train",
        "eval",
        "report",
    }
    missing, extra = run - documented, documented - run
    assert not missing and not extra, (missing, extra)


@pytest.mark.slow
def test_make_recipe_runs_from_raw_text_to_a_report(make, tmp_path):
    out = tmp_path / "out"
    cstool = Path(sys.executable).with_name("cstool")
    sizes = ["TAGGER_STEPS=20", "LM_STEPS=30", "STEPS=8"]
    cmd = [make, "-j2", "-C", str(RECIPE), f"OUT={out}", f"CSTOOL={cstool}", *sizes]
    r = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = (out / "report" / "summary.md").read_text(encoding="utf-8")
    assert "naive" in summary and "replay-adapter" in summary and "Forgetting" in summary
    assert (out / "report" / "summary.parquet").is_file()
    scores = pq.read_table(out / "scores.parquet").to_pylist()
    assert {r["eval_task"] for r in scores} == {"en", "hi", "mr"}
    assert all(r["value"] > 0 for r in scores if r["metric"] == "bpb")
    again = subprocess.run([*cmd, "-q"], capture_output=True, text=True)  # everything is up to date
    assert again.returncode == 0, again.stdout + again.stderr
