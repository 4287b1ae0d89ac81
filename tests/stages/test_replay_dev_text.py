"""replay-train --dev reads plain text files as tag and eval do: a .txt dev set scores as its artifact does."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from cstool.continual.config import ReplayConfig
from cstool.stages import replay_train

from .test_replay import FAST, seq  # noqa: F401  (the tiny tasks and base model)


def _metrics(out) -> list[tuple]:
    rows = pq.read_table(out / "metrics.parquet").to_pylist()
    return sorted((r["after_task"], r["eval_task"], r["metric"], r["value"]) for r in rows)


def test_txt_and_jsonl_dev_sets_score_like_their_artifacts(seq, tmp_path):  # noqa: F811
    config = ReplayConfig(**{**FAST, "steps_per_task": 3, "strategy": "naive"})
    as_text = []
    for i, (name, path) in enumerate(seq["devs"]):
        texts = pq.read_table(path).column("text").to_pylist()
        if i % 2 == 0:
            f = tmp_path / f"{name}.dev.txt"
            f.write_text("\n\n".join(texts) + "\n", encoding="utf-8")  # blank lines are skipped, as by tag
        else:
            f = tmp_path / f"{name}.dev.jsonl"
            f.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
        as_text.append((name, str(f)))
    replay_train.run(base=seq["base"], tasks=seq["tasks"], devs=seq["devs"], output=tmp_path / "a", config=config)
    replay_train.run(base=seq["base"], tasks=seq["tasks"], devs=as_text, output=tmp_path / "b", config=config)
    assert _metrics(tmp_path / "a") == _metrics(tmp_path / "b")
    recorded = {r["path"]: r["sha256"] for r in json.loads((tmp_path / "b" / "cstool.json").read_text())["inputs"]}
    assert all(recorded[p] for _, p in as_text)  # the text files are in the provenance, hashed
