"""eval --lm-eval: lm-evaluation-harness itself scores the model (adapters included) on task YAMLs written here
over local JSON Lines / Parquet files; its acc and acc_norm equal cstool's choice probe on the same items."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cstool.cli import app
from cstool.lm.probes import probe_from_table, read_probe_table, score_probe
from cstool.lm.scoring import score_lm
from tests.conftest import REPO

CHOICE = [
    {"context": "the cat sits on the", "choices": ["mat .", "dog", "park"], "label": 0},
    {"context": "a dog runs in the", "choices": ["park .", "mat", "किताब"], "label": 0},
    {"context": "मैं घर", "choices": ["जाता हूँ ।", "पढ़ती है", "."], "label": 0},
    {"context": "वह किताब", "choices": ["पढ़ती है ।", "जातो", "the"], "label": 1},
    {"context": "मी घरी", "choices": ["जातो .", "वाचते", "cat sits"], "label": 0},
    {"context": "ती पुस्तक", "choices": ["जाता", "वाचते ."], "label": 1},
    {"context": "the cat", "choices": ["sits on the mat .", "runs", "हूँ"], "label": 2},
    {"context": "a dog", "choices": ["runs in the park .", "sits", "घरी"], "label": 1},
    {"context": "the", "choices": ["cat", "dog", "park", "mat"], "label": 3},
    {"context": "वह", "choices": ["किताब", "घर"], "label": 0},
]
TEXTS = ["the cat sits on the mat .", "मैं घर जाता हूँ ।", "a dog runs in the park .", "ती पुस्तक वाचते ."]

CHOICE_YAML = """task: tiny_choice
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{context}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: label
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
"""
ROLLING_YAML = """task: tiny_rolling
dataset_path: parquet
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: loglikelihood_rolling
doc_to_text: "{{{{text}}}}"
doc_to_target: "{{{{text}}}}"
metric_list:
  - metric: bits_per_byte
    aggregation: bits_per_byte
    higher_is_better: false
"""


@pytest.fixture()
def tasks(tmp_path):
    """A folder with two task YAMLs: tiny_choice over a JSON Lines file, tiny_rolling over a Parquet file."""
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in CHOICE), encoding="utf-8")
    texts = tmp_path / "texts.parquet"
    pq.write_table(pa.table({"text": TEXTS}), texts)
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "tiny_choice.yaml").write_text(CHOICE_YAML.format(data=items), encoding="utf-8")
    (folder / "tiny_rolling.yaml").write_text(ROLLING_YAML.format(data=texts), encoding="utf-8")
    return folder, items


def run_eval(model, out, *extra):
    result = CliRunner().invoke(app, ["eval", "--model", str(model), *map(str, extra), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return result, {(r["eval_task"], r["metric"]): r["value"] for r in pq.read_table(out).to_pylist()}


def test_harness_acc_equals_the_choice_probe(tiny_lm, tasks, tmp_path):
    """The harness's own scoring of the items equals score_probe's (the tiny tokenizer adds no BOS, so the
    harness conditions on the context alone: bos=False)."""
    pytest.importorskip("lm_eval")
    from cstool.models.hf import load_causal_lm, load_tokenizer

    folder, items = tasks
    result, rows = run_eval(tiny_lm, tmp_path / "s.parquet", "--lm-eval", "tiny_choice", "--lm-eval-include", folder)
    model, tok = load_causal_lm(tiny_lm), load_tokenizer(tiny_lm)
    want = score_probe(model, tok, probe_from_table("p", "choice", read_probe_table(str(items))), bos=False)
    assert 0 < want["acc"] < 1 and want["acc"] != want["acc_norm"]  # the comparison can fail
    assert rows["tiny_choice", "acc"] == pytest.approx(want["acc"], abs=1e-6)
    assert rows["tiny_choice", "acc_norm"] == pytest.approx(want["acc_norm"], abs=1e-6)
    assert rows["tiny_choice", "examples"] == len(CHOICE)
    a = want["acc"]  # the harness's closed-form stderr of a mean: the sample standard deviation / sqrt(n)
    assert rows["tiny_choice", "acc_stderr"] == pytest.approx(
        (a * (1 - a) * len(CHOICE) / (len(CHOICE) - 1)) ** 0.5 / len(CHOICE) ** 0.5
    )
    meta = pq.read_schema(tmp_path / "s.parquet").metadata
    assert b"lm_eval_version" in next(v for k, v in meta.items() if b"provenance" in k)


def test_harness_with_limit_and_beside_a_probe(tiny_lm, tasks, tmp_path):
    pytest.importorskip("lm_eval")
    folder, items = tasks
    args = [
        "--lm-eval",
        "tiny_choice",
        "--lm-eval-include",
        folder,
        "--lm-eval-limit",
        "3",
        "--probe",
        f"p=choice:{items}",
    ]
    result, rows = run_eval(tiny_lm, tmp_path / "s.parquet", *args)
    assert result.exit_code == 0, result.output
    assert rows["tiny_choice", "examples"] == 3 and rows["p", "examples"] == len(CHOICE)
    assert "lm-eval" in result.output and "tiny_choice" in result.output


def test_harness_scores_the_model_with_its_adapter(tiny_lm, tasks, tmp_path):
    """bits_per_byte of the harness on the base + adapter equals cstool's on the peft model, not the base's."""
    pytest.importorskip("lm_eval")
    import torch
    from peft import LoraConfig, get_peft_model

    from cstool.models.hf import load_causal_lm, load_tokenizer

    torch.manual_seed(1)
    peft_model = get_peft_model(
        load_causal_lm(tiny_lm), LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    peft_model.save_pretrained(tmp_path / "adapter")
    tok = load_tokenizer(tiny_lm)
    want, base = score_lm(peft_model, tok, TEXTS).bpb, score_lm(load_causal_lm(tiny_lm), tok, TEXTS).bpb
    assert abs(want - base) > 1e-3
    folder, _items = tasks
    harness = ["--lm-eval", "tiny_rolling", "--lm-eval-include", folder]
    result, with_adapter = run_eval(tiny_lm, tmp_path / "a.parquet", "--adapter", tmp_path / "adapter", *harness)
    assert result.exit_code == 0, result.output
    result, bare = run_eval(tiny_lm, tmp_path / "b.parquet", *harness)
    assert result.exit_code == 0, result.output
    assert with_adapter["tiny_rolling", "bits_per_byte"] == pytest.approx(want, rel=1e-6)
    assert bare["tiny_rolling", "bits_per_byte"] == pytest.approx(base, rel=1e-6)


HUB_YAML = """task: hub_choice
dataset_path: nosuchowner/nosuchset
test_split: test
output_type: multiple_choice
doc_to_text: "{{context}}"
doc_to_choice: "{{choices}}"
doc_to_target: label
"""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lm-eval", "tiny_choise"], "'tiny_choise' is not a task of lm-evaluation-harness"),
        (["--lm-eval", "hub_choice"], "offline mode is on"),
        (["--lm-eval", "tiny_choice", "--data", "tiny_choice={texts}"], "names repeat: ['tiny_choice']"),
        (["--lm-eval-limit", "2", "--data", "en={texts}"], "need --lm-eval TASK"),
        (["--lm-eval", "tiny_choice,tiny_choice"], "names a task twice"),
    ],
)
def test_bad_lm_eval_options_are_one_line(tiny_lm, tasks, tmp_path, args, message):
    pytest.importorskip("lm_eval")
    folder, _items = tasks
    (folder / "hub_choice.yaml").write_text(HUB_YAML, encoding="utf-8")
    texts = folder.parent / "texts.parquet"
    out = tmp_path / "s.parquet"
    args = [a.format(texts=texts) for a in args]
    result = CliRunner().invoke(
        app, ["eval", "--model", str(tiny_lm), *args, "--lm-eval-include", str(folder), "-o", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output and not out.exists()


BLOCKER = """
import sys
class NoHarness:
    def find_spec(self, name, path=None, target=None):
        if name == "lm_eval" or name.startswith("lm_eval."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoHarness())
from cstool.cli import main
sys.argv = ["cstool", *sys.argv[1:]]
main()
"""


def test_without_the_harness_lm_eval_is_one_line_with_the_install_hint(tiny_lm, tasks, tmp_path):
    folder, _items = tasks
    out = tmp_path / "s.parquet"
    args = [
        "eval",
        "--model",
        str(tiny_lm),
        "--lm-eval",
        "tiny_choice",
        "--lm-eval-include",
        str(folder),
        "-o",
        str(out),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", BLOCKER, *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "--lm-eval needs lm-evaluation-harness" in lines[0] and "pip install 'cstool[lm-eval]'" in proc.stderr
    assert len(lines) == 2 and "Traceback" not in proc.stderr and not out.exists()
