"""Adapters that travel: a replay-train run folder, moved or read from another directory, still evaluates.

The run is trained with ``--base`` given relative to the working directory (as a Makefile does). Its adapters
record the base by its absolute path (adapter_config.json, for peft's AutoPeftModelForCausalLM) and by its
path relative to the adapter folder (cstool.json); ``cstool eval --adapter`` without ``--model`` finds it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cstool.continual.config import ReplayConfig
from cstool.stages import replay_train

from .conftest import assert_user_error, invoke
from .test_replay import FAST, seq  # noqa: F401  (the tiny tasks and base model)


@pytest.fixture(scope="module")
def tree(seq, tmp_path_factory) -> dict:  # noqa: F811
    """``work/base`` and ``work/runs/naive`` (trained from inside ``work`` with ``--base base``)."""
    import os

    work = tmp_path_factory.mktemp("tree") / "work"
    shutil.copytree(seq["base"], work / "base")
    here = os.getcwd()
    os.chdir(work)
    try:
        config = ReplayConfig(**{**FAST, "steps_per_task": 5, "strategy": "naive"})
        replay_train.run(base="base", tasks=seq["tasks"], devs=seq["devs"], output=Path("runs/naive"), config=config)
    finally:
        os.chdir(here)
    rows = pq.read_table(work / "runs/naive/metrics.parquet").to_pylist()
    want = next(r["value"] for r in rows if (r["after_task"], r["eval_task"], r["metric"]) == ("hi", "en", "nll"))
    return {"work": work, "dev_en": seq["devs"][0][1], "nll_after_hi": want}


def _eval_nll(adapter: Path, dev: str, out: Path, *model: str, base: str | None = None) -> float:
    """``cstool eval --adapter ADAPTER``'s NLL on ``dev``; ``base``: the base it must say it found."""
    code, output = invoke("eval", "--adapter", adapter, *model, "--data", f"en={dev}", "-o", out)
    assert code == 0, output
    if base is not None:
        assert f"base model of {adapter}: {base}" in " ".join(output.split()), output
    return next(r["value"] for r in pq.read_table(out).to_pylist() if r["metric"] == "nll")


def test_adapters_record_the_base_by_absolute_and_relative_path(tree):
    adapter = tree["work"] / "runs/naive/adapters/hi"
    named = json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert named == str((tree["work"] / "base").resolve())
    recorded = json.loads((adapter / "cstool.json").read_text())["base"]
    assert recorded == {"relative": "../../../../base", "absolute": named}


def test_a_moved_tree_and_another_working_directory_still_evaluate(tree, tmp_path, monkeypatch):
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(tree["work"], moved)  # base and run together, to a new place
    shutil.move(str(moved.parent), str(tmp_path / "renamed"))
    monkeypatch.chdir(tmp_path)
    adapter = Path("renamed/copy/runs/naive/adapters/hi")
    nll = _eval_nll(adapter, tree["dev_en"], tmp_path / "s.parquet", base="renamed/copy/base")  # the copy's own
    assert nll == pytest.approx(tree["nll_after_hi"], rel=1e-5)


def test_a_run_folder_moved_alone_finds_its_base_by_the_absolute_path(tree, tmp_path, monkeypatch):
    from peft import AutoPeftModelForCausalLM, PeftModel
    from transformers import AutoModelForCausalLM

    shutil.copytree(tree["work"] / "runs/naive", tmp_path / "run")
    monkeypatch.chdir(tmp_path)
    adapter = tmp_path / "run/adapters/hi"
    nll = _eval_nll(adapter, tree["dev_en"], tmp_path / "s.parquet", base=str((tree["work"] / "base").resolve()))
    assert nll == pytest.approx(tree["nll_after_hi"], rel=1e-5)
    import torch

    x = torch.tensor([[1, 5, 9, 20, 33]])
    auto = AutoPeftModelForCausalLM.from_pretrained(str(adapter))  # peft alone, from another directory
    plain = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tree["work"] / "base"), str(adapter))
    with torch.no_grad():
        assert torch.allclose(auto(x).logits, plain(x).logits)


def test_a_lost_base_names_where_it_was_looked_for(tree, tmp_path):
    shutil.copytree(tree["work"] / "runs/naive", tmp_path / "run")
    (tmp_path / "run/adapters/hi/cstool.json").write_text(
        json.dumps({**json.loads((tmp_path / "run/adapters/hi/cstool.json").read_text()), "base": {}})
    )
    config = tmp_path / "run/adapters/hi/adapter_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "base_model_name_or_path": "gone/base"}))
    code, output = invoke("eval", "--adapter", tmp_path / "run/adapters/hi", "--data", f"en={tree['dev_en']}", "-o",
                          tmp_path / "s.parquet")  # fmt: skip
    assert_user_error(code, output, "is not where it was recorded: gone/base", "--model DIR")
    assert not (tmp_path / "s.parquet").exists()
    # --model still overrides what the adapter recorded
    nll = _eval_nll(
        tmp_path / "run/adapters/hi", tree["dev_en"], tmp_path / "s.parquet", "--model", tree["work"] / "base"
    )
    assert nll == pytest.approx(tree["nll_after_hi"], rel=1e-5)
