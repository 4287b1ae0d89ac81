"""teacher-cache and distill under ``torchrun --nproc_per_node 2`` on the CPU (gloo), against one process.

Tolerances:

* The cache: each process runs the teacher on its own slice of the blocks, so the forward passes see other
  batch groupings than in one process. The token ids and block order must be identical; the stored log-probs
  (float16, steps of 2⁻⁸ ≈ 4e-3 at magnitudes 1–2) may differ by one float16 step where a float32 sum differs
  in its last bits; the top-k ids may swap only between such near-ties. (On this CPU they come out identical.)
* distill: with the same global batch (2 processes × 2 blocks against 1 × 4), the Trainer deals the sampler's
  batches to the processes in turn, so every micro-batch holds the same 4 blocks; each process scales its token
  mean by its share of the micro-batch's tokens (KDTrainer's ``global_token_mean``) and DDP averages the
  gradients, so only the order of float32 sums differs: losses within 1e-5 relative (measured: ~1e-7), also when
  a micro-batch holds the padded last block (27-token blocks below; without the scaling, the step holding it
  differs by 1e-4 relative) and with gradient accumulation; final weights within 1e-4 relative.
* distill --resume on 2 processes: a run interrupted after checkpoint 1 (a KeyboardInterrupt in both processes,
  as Ctrl-C raises) and resumed ends as the uninterrupted one-process run, within the same tolerances; resuming
  it on one process is refused (the global batch would change).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cstool.base.errors import ConfigError
from cstool.lm.topk_cache import load_teacher_cache
from cstool.stages import distill, teacher_cache
from cstool.stages.distill import DistillConfig
from cstool.stages.teacher_cache import TeacherCacheConfig
from tests.conftest import REPO, TINY_CORPUS

BLOCK = 32  # 640 tokens of text: 20 full blocks, so every process averages over equally many tokens
STUDENT = "llama:layers=1,hidden=32,heads=4,positions=64"


def torchrun(*args, cwd: Path, script: Path | None = None, ok: bool = True) -> str:
    """``torchrun --standalone --nproc_per_node 2 -m cstool ARGS`` (a free port; gloo on the CPU), or of a
    Python ``script``; its output. ``ok``: whether it must succeed (else fail)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += [str(script)] if script else ["-m", "cstool"]
    result = subprocess.run([*cmd, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert (result.returncode == 0) == ok, output
    return output


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_lm) -> dict:
    """The text, a one-process cache file and a two-process cache folder (teacher: the tiny LM)."""
    d = tmp_path_factory.mktemp("scale_out")
    data = d / "text.parquet"
    pq.write_table(pa.table({"text": TINY_CORPUS[:60]}), data)
    options = dict(teacher=str(tiny_lm), top_k=8, block_size=BLOCK, device="cpu")
    one = teacher_cache.run(TeacherCacheConfig(**options), data=[str(data)], output=str(d / "one.parquet"))
    args = ["--teacher", tiny_lm, "--top-k", 8, "--block-size", BLOCK, "--device", "cpu", "-o", "two"]
    out = torchrun("teacher-cache", data, *args, cwd=d)
    return {"dir": d, "data": data, "one": d / "one.parquet", "two": d / "two", "one_info": one, "two_log": out}


def _read(cache: Path, data: Path, tiny_lm) -> tuple[dict, np.ndarray]:
    from transformers import AutoTokenizer

    from cstool.lm.blocks import pack_texts, read_texts
    from cstool.models.hf import tokenizer_fingerprint

    tok = AutoTokenizer.from_pretrained(tiny_lm)
    texts, sources = read_texts([str(data)], "text")
    ids, _ = pack_texts(texts, tok, BLOCK)
    fields = dict(fingerprint=tokenizer_fingerprint(tok), block_size=BLOCK, temperature=2.0, text_column="text")
    return load_teacher_cache(str(cache), ids=ids, data_sources=sources, **fields), ids


def test_two_process_cache_is_one_shard_per_process_and_equals_one_process(runs, tiny_lm):
    two = runs["two"]
    shards = sorted(p.name for p in two.iterdir())
    assert shards == ["part-00000-of-00002.parquet", "part-00001-of-00002.parquet"]
    assert sorted(p.name for p in runs["dir"].iterdir()) == ["one.parquet", "text.parquet", "two"]  # no leftovers
    blocks = [pq.read_table(two / s).column("block").to_pylist() for s in shards]
    n = runs["one_info"].blocks
    assert blocks[0] == list(range(len(blocks[0]))) and blocks[0] + blocks[1] == list(range(n))  # in-order slices
    assert abs(len(blocks[0]) - len(blocks[1])) <= 1
    assert runs["two_log"].count("bytes/token") == 1  # process 0 alone reports
    one, ids = _read(runs["one"], runs["data"], tiny_lm)
    both, ids2 = _read(two, runs["data"], tiny_lm)  # the folder reads back as one cache, in block order
    assert np.array_equal(ids, ids2)
    assert (both["topk_ids"] == one["topk_ids"]).mean() > 0.99
    np.testing.assert_allclose(
        both["topk_logprobs"].astype(np.float32), one["topk_logprobs"].astype(np.float32), atol=4e-3
    )
    np.testing.assert_allclose(both["tail_logprob"], one["tail_logprob"], rtol=1e-4)


def test_a_cache_folder_with_a_missing_shard_is_refused(runs, tiny_lm, tmp_path):
    from cstool.base.errors import CstoolError

    part = tmp_path / "part"
    part.mkdir()
    (part / "part-00000-of-00002.parquet").write_bytes((runs["two"] / "part-00000-of-00002.parquet").read_bytes())
    with pytest.raises(CstoolError, match=r"holds blocks 0…9; this run has blocks 0…19"):
        _read(part, runs["data"], tiny_lm)


def test_two_process_distill_from_the_cache_folder_equals_one_process(runs):
    common = ["--student-config", STUDENT, "--alpha", 0.3, "--block-size", BLOCK, "--max-steps", 6]
    common += ["--log-every", 1, "--device", "cpu", "--seed", 3, "--eval-data", runs["data"]]
    d = runs["dir"]
    out = torchrun(
        "distill", runs["data"], "--teacher-cache", runs["two"], *common, "--batch-size", 4, "-o", "d2", cwd=d
    )
    config = DistillConfig(
        student_config=STUDENT,
        teacher_cache=str(runs["two"]),
        alpha=0.3,
        block_size=BLOCK,
        max_steps=6,
        log_every=1,
        device="cpu",
        seed=3,
        eval_data=(str(runs["data"]),),
        batch_size=4,
    )
    one = distill.run(config, data=[str(runs["data"])], output=d / "d1")
    two_dir = d / "d2"
    # every artifact once, from process 0: one report, one run's files, no checkpoints or temporary files left
    assert out.count("final_loss") == 1 and out.count("distill (KD from cache)") == 1
    assert sorted(p.name for p in two_dir.iterdir()) == sorted(p.name for p in (d / "d1").iterdir())
    assert not any(p.name.startswith(".") for p in d.rglob("*")), list(d.rglob(".*"))
    two = json.loads((two_dir / "done.json").read_text())
    a = pq.read_table(d / "d1" / "train_metrics.parquet")
    b = pq.read_table(two_dir / "train_metrics.parquet")
    assert b.column("step").to_pylist() == a.column("step").to_pylist() == [1, 2, 3, 4, 5, 6]
    for column in ("loss", "ce", "kd"):
        np.testing.assert_allclose(b.column(column).to_pylist(), a.column(column).to_pylist(), rtol=1e-5)
    assert two["steps"] == one.steps == 6 and two["train_tokens"] == one.train_tokens
    assert two["eval_loss"] == pytest.approx(one.eval_loss, rel=1e-5)
    assert two["final_loss"] == pytest.approx(one.final_loss, rel=1e-5)
    from safetensors.numpy import load_file

    w1, w2 = load_file(d / "d1" / "model.safetensors"), load_file(two_dir / "model.safetensors")
    assert w1.keys() == w2.keys()
    for key in w1:
        np.testing.assert_allclose(w2[key], w1[key], rtol=1e-4, atol=1e-6, err_msg=key)


# ---------------------------------------------------------------------------------------------------------
# A live teacher, a padded last block and gradient accumulation; --resume on two processes

PADDED = 27  # the same 640 tokens: 23 full blocks and one of 19 tokens, 24 blocks = one epoch of 3 steps of 8
LIVE = dict(student_config=STUDENT, alpha=0.3, block_size=PADDED, grad_accum=2, max_steps=3, log_every=1, seed=3)

KILLED = """
import json, sys
from transformers import TrainerCallback
from cstool.stages import distill
from cstool.stages.distill import DistillConfig

class KillAt(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 2:  # after checkpoint-1, before checkpoint-2
            raise KeyboardInterrupt

options = json.loads(sys.argv[3])
options["eval_data"] = (options["eval_data"],)
distill.run(DistillConfig(**options), data=[sys.argv[1]], output=sys.argv[2], callbacks=[KillAt()])
"""


def _cli(options: dict) -> list:
    return [item for key, value in options.items() for item in ("--" + key.replace("_", "-"), value)]


@pytest.fixture(scope="module")
def live(tmp_path_factory, tiny_lm) -> dict:
    """The text and a one-process run with the tiny LM as a live teacher: 4 blocks a micro-batch, 2 micro-batches
    a step, the padded block in one of them."""
    d = tmp_path_factory.mktemp("live")
    data = d / "text.parquet"
    pq.write_table(pa.table({"text": TINY_CORPUS[:60]}), data)
    options = {**LIVE, "teacher": str(tiny_lm), "device": "cpu", "eval_data": (str(data),)}
    one = distill.run(DistillConfig(**options, batch_size=4), data=[str(data)], output=d / "d1")
    return {"dir": d, "data": data, "one": one, "options": {**options, "eval_data": str(data), "batch_size": 4}}


def _assert_same_run(one_dir: Path, two_dir: Path) -> None:
    """Same metrics (within 1e-5 relative), summary and weights as the one-process run."""
    from safetensors.numpy import load_file

    a = pq.read_table(one_dir / "train_metrics.parquet")
    b = pq.read_table(two_dir / "train_metrics.parquet")
    assert b.column("step").to_pylist() == a.column("step").to_pylist() == [1, 2, 3]
    for column in ("loss", "ce", "kd"):
        np.testing.assert_allclose(b.column(column).to_pylist(), a.column(column).to_pylist(), rtol=1e-5)
    one, two = (json.loads((p / "done.json").read_text()) for p in (one_dir, two_dir))
    assert two["steps"] == one["steps"] == 3 and two["train_tokens"] == one["train_tokens"]
    assert two["eval_loss"] == pytest.approx(one["eval_loss"], rel=1e-5)
    w1, w2 = load_file(one_dir / "model.safetensors"), load_file(two_dir / "model.safetensors")
    assert w1.keys() == w2.keys()
    for key in w1:
        np.testing.assert_allclose(w2[key], w1[key], rtol=1e-4, atol=1e-6, err_msg=key)


def test_two_process_distill_with_a_live_teacher_and_a_padded_block_equals_one_process(live):
    d = live["dir"]
    out = torchrun("distill", live["data"], *_cli(live["options"]), "-o", "d2", cwd=d)
    assert out.count("final_loss") == 1 and out.count("distill (KD)") == 1
    assert sorted(p.name for p in (d / "d2").iterdir()) == sorted(p.name for p in (d / "d1").iterdir())
    _assert_same_run(d / "d1", d / "d2")


def test_two_process_distill_resumes_where_it_was_interrupted(live):
    d = live["dir"]
    script = d / "killed.py"
    script.write_text(KILLED)
    options = {**live["options"], "save_steps": 1}
    out = torchrun(live["data"], d / "r2", json.dumps(options), script=script, cwd=d, ok=False)
    assert "interrupted; kept" in out
    ckpt = d / "r2" / "checkpoints"
    assert sorted(p.name for p in ckpt.iterdir()) == ["checkpoint-1", "cstool-run.json"]
    assert sorted(p.name for p in (ckpt / "checkpoint-1").glob("rng_state*")) == ["rng_state_0.pth", "rng_state_1.pth"]
    before = {f: f.stat().st_mtime_ns for f in (d / "r2").rglob("*")}
    api = {**options, "eval_data": (str(live["data"]),), "resume": True}
    with pytest.raises(ConfigError, match="was started as another run: processes 2 then, 1 now"):
        distill.run(DistillConfig(**api), data=[str(live["data"])], output=d / "r2")  # the global batch would change
    assert {f: f.stat().st_mtime_ns for f in (d / "r2").rglob("*")} == before
    out = torchrun("distill", live["data"], *_cli(options), "-o", "r2", "--resume", cwd=d)
    assert out.count("resuming from") == 1 and out.count("final_loss") == 1
    assert not ckpt.exists()
    _assert_same_run(d / "d1", d / "r2")


def test_a_batch_that_does_not_split_over_the_processes_is_refused(live, tmp_path, monkeypatch):
    """--batch-size is the whole batch of a step: under 2 processes an odd one is refused before any output."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(ConfigError, match="--batch-size 3 does not split over 2 processes"):
        distill.run(
            DistillConfig(**{**live["options"], "eval_data": (), "batch_size": 3}),
            data=[str(live["data"])],
            output=tmp_path / "out",
        )
    assert not (tmp_path / "out").exists()
