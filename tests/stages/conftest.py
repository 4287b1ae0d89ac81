"""Small valid inputs of every stage, built once per module, for the tests of what cstool guarantees across
stages (outputs never destroy inputs, truncated streams, bad values, resume, checks before work)."""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from cstool.cli import app
from cstool.io import artifacts

from ..conftest import TINY_CONLLU

DATA = Path(__file__).resolve().parents[1] / "data"
LEXICON = DATA / "switch_lexicon.tsv"


def png(rgb=(200, 30, 30), size: int = 32) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), rgb).save(buf, format="PNG")
    return buf.getvalue()


def vqa_jsonl(path: Path, n: int = 6) -> Path:
    colors = {"red": (200, 30, 30), "blue": (30, 30, 200)}
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            name = list(colors)[i % 2]
            row = {
                "id": f"q{i}",
                "question": "what color is the shape?",
                "answers": [name],
                "image": base64.b64encode(png(colors[name])).decode(),
            }
            f.write(json.dumps(row) + "\n")
    return path


def metrics_run(run_dir: Path, name: str = "r", seed: int = 1) -> Path:
    """A replay-train run folder holding only a small metrics artifact (what cstool report reads)."""
    rows = []
    for i, after in enumerate(("en", "hi")):
        for ev in ("en", "hi"):
            rows.append(
                {
                    "run": name,
                    "strategy": "naive",
                    "cs": "none",
                    "seed": seed,
                    "after_task": after,
                    "eval_task": ev,
                    "metric": "bpb",
                    "value": 1.0 + i,
                }
            )
    return write_metrics(run_dir, rows)


def write_metrics(run_dir, rows: list[dict]):
    """A replay-train metrics artifact with these rows in ``run_dir`` (made if missing); returns ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    artifacts.write_table(
        run_dir / "metrics.parquet",
        pa.Table.from_pylist(rows, schema=artifacts.METRICS),
        kind="metrics",
        provenance=artifacts.make_provenance("replay-train", options={}),
    )
    return run_dir


def invoke(*args, input: bytes | None = None):
    """``cstool ARGS`` in process: (exit code, output)."""
    result = CliRunner().invoke(app, [str(a) for a in args], input=input)
    return result.exit_code, result.output


def assert_user_error(code: int, output: str, *expected: str) -> None:
    """Exit 2, one ``error:`` line and a hint, no traceback, and every ``expected`` text in the message."""
    assert code == 2, output
    assert output.count("error:") == 1 and "hint:" in output, output
    assert "Traceback" not in output, output
    flat = " ".join(output.split())
    for text in expected:
        assert text in flat, (text, output)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_lm) -> dict[str, Path]:
    """Valid inputs: a CoNLL-U treebank, a tagged artifact, a lexicon, a VQA JSONL and artifact, a run
    folder with metrics, and the tiny causal LM. Tests copy what they may damage."""
    root = tmp_path_factory.mktemp("inputs")
    tagged = root / "tagged.parquet"
    code, out = invoke("tag", TINY_CONLLU, "--lang", "en", "-o", tagged)
    assert code == 0, out
    jsonl = vqa_jsonl(root / "vqa.jsonl")
    vqa = root / "vqa.parquet"
    code, out = invoke("vqa-import", jsonl, "--lang", "en", "-o", vqa)
    assert code == 0, out
    shutil.copy(LEXICON, root / "lexicon.tsv")
    shutil.copy(TINY_CONLLU, root / "tiny.conllu")
    return {
        "conllu": root / "tiny.conllu",
        "tagged": tagged,
        "lexicon": root / "lexicon.tsv",
        "jsonl": jsonl,
        "vqa": vqa,
        "run": metrics_run(root / "run"),
        "lm": Path(tiny_lm),
    }
