"""vqa-import: JSONL / CSV / Parquet round trips, and bad input (missing or corrupt images, empty questions
or answers) as errors that name the row or file, or counted skips."""

from __future__ import annotations

import base64
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cstool.cli import app
from cstool.io import artifacts
from cstool.stages.vqa_import import VQA, VqaImportConfig, VqaImportResult, run

runner = CliRunner()


def png(rgb, size=(20, 12)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, rgb).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def images(tmp_path):
    (tmp_path / "img").mkdir()
    files = {"a.png": png((255, 0, 0)), "b.png": png((0, 0, 255))}
    for name, data in files.items():
        (tmp_path / "img" / name).write_bytes(data)
    return files


def test_jsonl_with_paths_and_base64_round_trips(tmp_path, images):
    rows = [
        {"id": "q1", "question": "what color?", "answers": ["red"] * 7 + ["pink"] * 3, "image_path": "img/a.png"},
        {
            "id": "q2",
            "question": "रंग क्या है?",
            "answers": "नीला",
            "lang": "hi",
            "image": base64.b64encode(images["b.png"]).decode(),
        },
        {
            "id": "q3",
            "question": "is it blue?",
            "answers": [{"answer": "yes"}],
            "image_path": "img/b.png",
            "tokens": ["is", "it", "blue", "?"],
            "upos": ["AUX", "PRON", "ADJ", "PUNCT"],
            "qtype": "yes/no",
        },
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "vqa.parquet"
    result = runner.invoke(app, ["vqa-import", str(src), "--lang", "en", "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.schema.remove_metadata().equals(VQA)
    got = table.to_pylist()
    assert [r["id"] for r in got] == ["q1", "q2", "q3"]
    assert (
        got[0]["answers"] == ["red"] * 7 + ["pink"] * 3
        and got[1]["answers"] == ["नीला"]
        and got[2]["answers"] == ["yes"]
    )
    assert [r["lang"] for r in got] == ["en", "hi", "en"]
    assert (
        got[0]["image"] == images["a.png"] and got[1]["image"] == images["b.png"] and got[2]["image"] == images["b.png"]
    )
    assert got[2]["tokens"] == ["is", "it", "blue", "?"] and got[2]["qtype"] == "yes/no" and got[0]["tokens"] is None
    assert artifacts.read_provenance(out)["stage"] == "vqa-import"


def test_csv_and_parquet_inputs(tmp_path, images):
    csv_in = tmp_path / "in.csv"
    csv_in.write_text("id,question,answers,image_path\nc1,what shape?,circle|round,img/a.png\n", encoding="utf-8")
    out = tmp_path / "c.parquet"
    r = run(VqaImportConfig(lang="en", embed_images=False), input=csv_in, output=out)
    assert r == VqaImportResult(output=out, rows=1, skipped=0)
    row = pq.read_table(out).to_pylist()[0]
    assert row["answers"] == ["circle", "round"] and row["image"] is None
    assert (out.parent / row["image_path"]).resolve() == (tmp_path / "img" / "a.png").resolve()
    pq_in = tmp_path / "in.parquet"
    pq.write_table(
        pa.table(
            {"id": ["p1"], "question": ["q?"], "answers": [["x", "y"]], "image": [images["b.png"]], "lang": ["mr"]}
        ),
        pq_in,
    )
    out2 = tmp_path / "p.parquet"
    run(VqaImportConfig(), input=pq_in, output=out2)
    row = pq.read_table(out2).to_pylist()[0]
    assert row["image"] == images["b.png"] and row["lang"] == "mr" and row["answers"] == ["x", "y"]


def _jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.mark.usefixtures("images")  # writes img/a.png and img/b.png
def test_bad_images_name_the_file_or_are_counted_skips(tmp_path):
    (tmp_path / "img" / "broken.png").write_bytes(b"\x89PNG not really")
    rows = [
        {"id": "ok", "question": "q?", "answers": ["a"], "image_path": "img/a.png"},
        {"id": "gone", "question": "q?", "answers": ["a"], "image_path": "img/missing.png"},
        {"id": "bad", "question": "q?", "answers": ["a"], "image_path": "img/broken.png"},
    ]
    src = _jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "o.parquet"
    result = runner.invoke(app, ["vqa-import", str(src), "--lang", "en", "-o", str(out)])
    assert result.exit_code == 2 and "missing.png" in result.output and "id gone" in result.output
    assert "--skip-bad-images" in result.output and not out.exists()
    src = _jsonl(tmp_path / "in2.jsonl", [rows[0], rows[2]])
    result = runner.invoke(app, ["vqa-import", str(src), "--lang", "en", "-o", str(out)])
    assert result.exit_code == 2 and "broken.png" in result.output and not out.exists()
    r = run(VqaImportConfig(lang="en", skip_bad_images=True), input=tmp_path / "in.jsonl", output=out)
    assert r == VqaImportResult(output=out, rows=1, skipped=2)
    assert pq.read_table(out).column("id").to_pylist() == ["ok"]


@pytest.mark.usefixtures("images")  # writes img/a.png and img/b.png
def test_empty_question_or_answers_are_errors(tmp_path):
    out = tmp_path / "o.parquet"
    ok = {"id": "ok", "question": "q?", "answers": ["a"], "image_path": "img/a.png"}
    for bad, message in (
        ({"id": "e", "question": "  ", "answers": ["a"], "image_path": "img/a.png"}, "question is empty"),
        ({"id": "e", "question": "q?", "answers": [], "image_path": "img/a.png"}, "no answers"),
        ({"id": "e", "question": "q?", "answers": ["a"]}, "has no image"),
    ):
        src = _jsonl(tmp_path / "in.jsonl", [ok, bad])
        result = runner.invoke(app, ["vqa-import", str(src), "--lang", "en", "-o", str(out)])
        assert result.exit_code == 2 and message in result.output and "id e" in result.output, result.output
        assert not out.exists()
    src = _jsonl(tmp_path / "in.jsonl", [ok])
    result = runner.invoke(app, ["vqa-import", str(src), "-o", str(out)])
    assert result.exit_code == 2 and "--lang" in result.output
