"""eval --probe: probe rows next to the LM sets' rows, equal to score_probe; bad specs refused before writing."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cstool.cli import app
from cstool.lm.probes import probe_from_table, read_probe_table, score_probe

CHOICE = [
    {"context": "the cat sits on the", "choices": ["mat .", "dog"], "label": 0},
    {"context": "a dog", "choices": ["sits", "x", "on the mat"], "label": 2},
]
PARALLEL = {"id": ["1", "2", "3"], "source": ["the cat", "a dog", "x y"], "target": ["मैं घर", "जाता हूँ", "पुस्तक"]}


@pytest.fixture()
def probe_files(tmp_path):
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in CHOICE), encoding="utf-8")
    pairs = tmp_path / "pairs.parquet"
    pq.write_table(pa.table(PARALLEL), pairs)
    text = tmp_path / "en.parquet"
    pq.write_table(pa.table({"text": ["the cat sits on the mat .", "a dog"]}), text)
    return items, pairs, text


def test_cli_eval_writes_probe_rows(tiny_lm, probe_files, tmp_path):
    from cstool.models.hf import load_causal_lm, load_tokenizer

    items, pairs, text = probe_files
    out = tmp_path / "scores.parquet"
    args = ["eval", "--model", str(tiny_lm), "--data", f"en={text}", "--probe", f"cl=choice:{items}"]
    args += ["--probe", f"tr=translation:{pairs}", "--probe-distractors", "2", "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = {(r["eval_task"], r["metric"]): r["value"] for r in pq.read_table(out).to_pylist()}
    assert {m for (t, m) in rows if t == "en"} >= {"nll", "bpb"}
    model, tok = load_causal_lm(tiny_lm), load_tokenizer(tiny_lm)
    want_cl = score_probe(model, tok, probe_from_table("cl", "choice", read_probe_table(str(items))))
    want_tr = score_probe(model, tok, probe_from_table("tr", "translation", pa.table(PARALLEL), distractors=2))
    assert {m: rows["cl", m] for m in want_cl} == pytest.approx(want_cl)
    assert {m: rows["tr", m] for m in want_tr} == pytest.approx(want_tr)
    assert rows["tr", "examples"] == 3 and rows["cl", "examples"] == 2


def test_cli_eval_probes_alone(tiny_lm, probe_files, tmp_path):
    items, _pairs, _text = probe_files
    out = tmp_path / "scores.parquet"
    result = CliRunner().invoke(app, ["eval", "--model", str(tiny_lm), "--probe", f"cl=choice:{items}", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert {r["metric"] for r in pq.read_table(out).to_pylist()} == {"acc", "acc_norm", "examples"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cl=items.jsonl", "is not NAME=KIND:PATH"),
        ("cl=cloze:{items}", "unknown kind 'cloze'"),
        ("cl=translation:{items}", "no column 'source', 'target'"),
        ("tr=translation:{pairs}", "--probe-distractors 4 needs between 1 and 2"),
        ("en=choice:{items}", "names repeat"),
        ("b@d=choice:{items}", "is not usable"),
    ],
)
def test_cli_eval_bad_probe_specs(tiny_lm, probe_files, tmp_path, spec, message):
    items, pairs, text = probe_files
    out = tmp_path / "scores.parquet"
    spec = spec.format(items=items, pairs=pairs)
    args = ["eval", "--model", str(tiny_lm), "--data", f"en={text}", "--probe", spec, "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and not out.exists()
    assert "Traceback" not in result.output
