"""--dtype and --gradient-checkpointing on the CPU: bfloat16 mixed precision against float32, float16 refused on
the CPU, activation checkpointing on and loss-neutral.

Tolerances: bfloat16 keeps 8 bits of mantissa (relative rounding 2⁻⁹ ≈ 2e-3 per value); under autocast the
matmuls of the forward pass run in it while the losses are taken in float32 (see cstool.lm.kd), and a mean
over hundreds of tokens averages the rounding out, so a loss stays within 2e-3 relative (measured on these
tiny models: distill 2e-5, eval bpb 2e-5). replay-train compounds 12 steps at lr 1e-2 on weights kept in
float32 and scores after each task: 1e-2 (measured 8e-4). Checkpointing recomputes the same float32 forward
pass: equal to 1e-6 relative (measured: identical).
"""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from transformers import TrainerCallback

from cstool.base.errors import ConfigError
from cstool.stages import distill, evaluate, replay_train, teacher_cache
from cstool.stages.distill import DistillConfig
from cstool.stages.evaluate import EvalConfig
from cstool.stages.replay_train import ReplayConfig
from cstool.stages.teacher_cache import TeacherCacheConfig
from tests.conftest import TINY_CORPUS

from .conftest import assert_user_error, invoke

STUDENT = "llama:layers=2,hidden=32,heads=4,positions=64"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("precision")
    out = {"dir": d}
    for name, rows in (("all", TINY_CORPUS[:60]), ("en", TINY_CORPUS[:2] * 20), ("hi", TINY_CORPUS[2:4] * 20)):
        pq.write_table(pa.table({"text": rows}), d / f"{name}.parquet")
        out[name] = str(d / f"{name}.parquet")
    return out


def _distill(tiny_lm, data, out, **kw) -> tuple[distill.DistillResult, pa.Table]:
    options = dict(
        student_config=STUDENT,
        teacher=str(tiny_lm),
        alpha=0.5,
        block_size=24,
        max_steps=6,
        batch_size=4,
        log_every=1,
        lr=3e-3,
        device="cpu",
        seed=5,
    )
    callbacks = kw.pop("callbacks", ())
    summary = distill.run(DistillConfig(**{**options, **kw}), data=[data["all"]], output=out, callbacks=callbacks)
    return summary, pq.read_table(out / "train_metrics.parquet")


def test_bf16_distill_is_close_to_fp32_and_loads_the_teacher_in_bf16(tiny_lm, data, tmp_path):
    _, fp32 = _distill(tiny_lm, data, tmp_path / "fp32")
    _, bf16 = _distill(tiny_lm, data, tmp_path / "bf16", dtype="bfloat16")
    a, b = fp32.column("loss").to_pylist(), bf16.column("loss").to_pylist()
    assert all(math.isfinite(v) for v in b) and a != b  # it ran, and not in float32
    assert b == pytest.approx(a, rel=2e-3)
    assert bf16.column("ce").to_pylist() == pytest.approx(fp32.column("ce").to_pylist(), rel=2e-3)
    prov = json.loads((tmp_path / "bf16" / "cstool.json").read_text())
    assert prov["options"]["dtype"] == "bfloat16" and prov["options"]["teacher_dtype"] == "torch.bfloat16"
    assert json.loads((tmp_path / "fp32" / "cstool.json").read_text())["options"]["teacher_dtype"] == "torch.float32"
    from safetensors import safe_open

    with safe_open(tmp_path / "bf16" / "model.safetensors", "pt") as f:  # the student's weights stay float32
        assert {str(f.get_tensor(k).dtype) for k in f.keys()} == {"torch.float32"}  # noqa: SIM118


class _Checkpointing(TrainerCallback):
    """Records whether the model being trained has activation checkpointing on, at every step."""

    def __init__(self):
        self.seen: list[bool] = []

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.seen.append(bool(model.is_activation_checkpointing))


def test_gradient_checkpointing_is_on_and_gives_the_same_losses(tiny_lm, data, tmp_path):
    off, on = _Checkpointing(), _Checkpointing()
    _, plain = _distill(tiny_lm, data, tmp_path / "plain", callbacks=[off])
    _, ckpt = _distill(tiny_lm, data, tmp_path / "ckpt", gradient_checkpointing=True, callbacks=[on])
    assert on.seen == [True] * 6 and off.seen == [False] * 6
    assert ckpt.column("loss").to_pylist() == pytest.approx(plain.column("loss").to_pylist(), rel=1e-6)
    assert ckpt.column("kd").to_pylist() == pytest.approx(plain.column("kd").to_pylist(), rel=1e-6)


def test_teacher_cache_in_bf16_records_it_and_is_close(tiny_lm, data, tmp_path):
    import numpy as np

    from cstool.io import artifacts

    common = dict(teacher=str(tiny_lm), top_k=8, block_size=24, device="cpu")
    teacher_cache.run(TeacherCacheConfig(**common), data=[data["all"]], output=str(tmp_path / "a.parquet"))
    teacher_cache.run(
        TeacherCacheConfig(**common, dtype="bfloat16"), data=[data["all"]], output=str(tmp_path / "b.parquet")
    )
    assert artifacts.read_provenance(tmp_path / "b.parquet")["options"]["teacher_dtype"] == "torch.bfloat16"
    a, b = pq.read_table(tmp_path / "a.parquet"), pq.read_table(tmp_path / "b.parquet")
    tail_a = np.concatenate(a.column("tail_logprob").to_pylist())
    tail_b = np.concatenate(b.column("tail_logprob").to_pylist())
    np.testing.assert_allclose(tail_b, tail_a, rtol=2e-2)


def _replay(tiny_lm, data, out, **kw):
    config = ReplayConfig(
        strategy="naive", train_first=True, steps_per_task=6, batch_size=4, lr=1e-2, device="cpu", seed=2, **kw
    )
    tasks = [("en", data["en"]), ("hi", data["hi"])]
    replay_train.run(base=str(tiny_lm), tasks=tasks, devs=tasks, output=out, config=config)
    rows = pq.read_table(out / "metrics.parquet").to_pylist()
    return {(r["after_task"], r["eval_task"]): r["value"] for r in rows if r["metric"] == "bpb"}


def test_bf16_replay_train_is_close_to_fp32(tiny_lm, data, tmp_path):
    fp32 = _replay(tiny_lm, data, tmp_path / "fp32")
    bf16 = _replay(tiny_lm, data, tmp_path / "bf16", dtype="bfloat16")
    assert bf16.keys() == fp32.keys() and all(math.isfinite(v) for v in bf16.values())
    assert bf16 != fp32
    for key, value in fp32.items():
        assert bf16[key] == pytest.approx(value, rel=1e-2), key


def test_bf16_eval_bpb_is_close_to_fp32(tiny_lm, data, tmp_path):
    def bpb(dtype):
        result = evaluate.run(
            EvalConfig(dtype=dtype),
            model=str(tiny_lm),
            data={"all": data["all"]},
            output=str(tmp_path / f"{dtype}.parquet"),
        )
        return result.wide()["all"]["bpb"]

    fp32, bf16 = bpb("float32"), bpb("bfloat16")
    assert math.isfinite(bf16) and bf16 != fp32
    assert bf16 == pytest.approx(fp32, rel=2e-3)


def test_float16_on_the_cpu_is_refused_before_any_output(tiny_lm, data, tmp_path):
    out = tmp_path / "o"
    code, output = invoke("distill", data["all"], "--student-config", STUDENT, "--teacher", tiny_lm, "--device", "cpu",
                          "--dtype", "float16", "-o", out)  # fmt: skip
    assert_user_error(code, output, "--dtype float16 needs a GPU", "bfloat16")
    code, output = invoke("eval", "--model", tiny_lm, "--data", f"all={data['all']}", "--dtype", "float16", "-o", out)
    assert_user_error(code, output, "--dtype float16 needs a GPU")
    code, output = invoke("teacher-cache", data["all"], "--teacher", tiny_lm, "--device", "cpu", "--dtype", "half",
                          "-o", out)  # fmt: skip
    assert_user_error(code, output, "--dtype must be float32, bfloat16 or float16, got 'half'")
    with pytest.raises(ConfigError, match="float16 needs a GPU"):
        _replay(tiny_lm, data, out, dtype="float16")
    assert not out.exists()
