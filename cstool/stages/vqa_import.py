"""The VQA artifact and the generic importer ``cstool vqa-import`` (JSONL, CSV, Parquet/Arrow).

One row per question: ``id``, the image as encoded bytes (``image``) or a file (``image_path``, relative
paths taken from the artifact's folder), ``question``, ``answers`` (list<string>: one or more references,
e.g. VQAv2's ten), ``lang``, optional ``qtype`` and the question's gold ``tokens``/``upos``/``lemmas``
(so ``cstool switch`` can code-switch questions without a tagger; its output keeps every VQA column and
adds ``text_cs``).

The importer checks every row: an empty question or an empty answer list is an error naming the row; an
image that is missing or cannot be decoded is an error naming the file, or, with ``skip_bad_images``, a
counted skip. By default images are embedded as bytes, so the artifact travels alone.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from cstool.base import langcodes
from cstool.base.console import warn
from cstool.base.errors import ConfigError, InputError
from cstool.base.fields import option
from cstool.io import artifacts, paths
from cstool.io.lines import utf8_lines

_str_list = pa.list_(pa.string())

VQA = artifacts.VQA
FORMATS = ("auto", "jsonl", "csv", "parquet")


@dataclass(frozen=True)
class VqaImportConfig:
    lang: str | None = option(None, "Language of rows without a lang column.")
    format: str = option("auto", "auto (by suffix), jsonl, csv or parquet.")
    id_column: str = option("id", "Row id column.")
    question_column: str = option("question", "Question column.")
    answers_column: str = option("answers", "Answers: a list, a JSON list, or separated strings.")
    image_column: str = option("image", "Image bytes (base64 in JSONL/CSV).")
    image_path_column: str = option("image_path", "Image file path (relative to --image-root).")
    answer_separator: str = option("|", "Separator of several answers in one string (a CSV cell or a plain string).")
    image_root: str | None = option(None, "Folder of relative image paths [default: the input's folder].")
    embed_images: bool = option(True, "Store image bytes in the artifact (else keep paths).")
    skip_bad_images: bool = option(False, "Count and skip rows whose image is missing or unreadable.")

    def __post_init__(self) -> None:
        problems = []
        if self.format not in FORMATS:
            problems.append(f"--format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.lang is not None and (problem := langcodes.problem(self.lang)):
            problems.append(problem)
        if not self.answer_separator:
            problems.append("--answer-separator must not be empty")
        ConfigError.collect(problems, "see cstool vqa-import --help")


def check_image(data: bytes | None = None, path: Path | None = None) -> tuple[int, int]:
    """Decode an image fully (bytes or file) and return its (width, height); OSError when it cannot be."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # over Pillow's pixel limit: refused
            with Image.open(io.BytesIO(data) if data is not None else path) as im:
                im.load()
                return im.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise OSError(f"the image is too large to decode safely ({e})") from None


def _rows(path: Path, fmt: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, row) for every record of the input; ``where`` names the line or row for error messages."""
    if fmt == "auto":
        suffix = path.suffix.lower()
        fmt = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "csv"}.get(
            suffix, "parquet"
        )
    if fmt == "jsonl":
        for n, line in utf8_lines(path):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise InputError(f"{path} line {n} is not JSON: {e.msg}", "one JSON object per line") from None
                except RecursionError:
                    raise InputError(f"{path} line {n} nests too deeply to read", "one JSON object per line") from None
                if not isinstance(row, dict):
                    raise InputError(
                        f"{path} line {n} is a JSON {type(row).__name__}, not an object", "one JSON object per line"
                    )
                yield f"{path.name} line {n}", row
    elif fmt == "csv":
        dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
        lines = (line for _, line in utf8_lines(path, keepends=True))
        for n, row in enumerate(csv.DictReader(lines, dialect=dialect), 2):
            yield f"{path.name} line {n}", row
    else:
        src = artifacts.open_source(path)
        n = 0
        for batch in src.iter_batches():
            for row in batch.to_pylist():
                yield f"{path.name} row {n}", row
                n += 1


def _answers(value: Any, sep: str, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise InputError(
                    f"{where}: answers {text[:40]!r} is not a JSON list", 'write answers as ["a", "b"]'
                ) from None
        else:
            value = text.split(sep)
    if isinstance(value, dict):  # VQAv2 style {"answer": ...}
        value = [value.get("answer")]
    if not isinstance(value, (list, tuple)):  # a bare number or flag: one answer
        value = [value]
    out = []
    for a in value:
        a = a.get("answer") if isinstance(a, dict) else a
        if a is not None and str(a).strip():
            out.append(str(a).strip())
    return out


def _image_bytes(value: Any) -> bytes | None:
    if value is None or value == "":
        return None
    if isinstance(value, dict):  # Hugging Face datasets' {bytes, path}
        return value.get("bytes")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):  # base64 in JSONL/CSV
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class VqaImportResult:
    output: str | os.PathLike  # the VQA artifact written
    rows: int  # questions imported
    skipped: int  # rows skipped for a missing or unreadable image (``skip_bad_images``)

    def message(self) -> str:
        return f"imported {self.rows} questions ({self.skipped} skipped) → {self.output}"


def run(config: VqaImportConfig, *, input: str | os.PathLike, output: str | os.PathLike) -> VqaImportResult:
    """Read ``input``, check every row, write a ``vqa`` artifact to ``output``."""
    path = Path(input)
    if not path.exists():
        raise InputError(f"input {path} does not exist", "check the path")
    paths.check_outputs({"-o": output}, {"INPUT": path})
    root = Path(config.image_root) if config.image_root else path.parent
    out_root = Path(output).resolve().parent
    cols: dict[str, list] = {f.name: [] for f in VQA}
    image_files: list[Path] = []
    skipped = 0
    for where, row in _rows(path, config.format):
        rid = str(row.get(config.id_column) if row.get(config.id_column) is not None else len(cols["id"]) + skipped)
        where = f"{where} (id {rid})"
        raw_question = row.get(config.question_column)
        question = "" if raw_question is None else str(raw_question).strip()
        if not question:
            raise InputError(f"{where}: the question is empty", f"give every row a {config.question_column!r}")
        answers = _answers(row.get(config.answers_column), config.answer_separator, where)
        if not answers:
            raise InputError(f"{where}: no answers", f"give every row a non-empty {config.answers_column!r} list")
        lang = row.get("lang") or config.lang
        if not lang:
            raise InputError(f"{where}: no language", "pass --lang, or give the input a lang column")
        data = _image_bytes(row.get(config.image_column))
        image_path = None
        try:
            if data is not None:
                check_image(data=data)
            else:
                raw = row.get(config.image_path_column)
                if not raw:
                    raise InputError(
                        f"{where} has no image",
                        f"give {config.image_column!r} (bytes/base64) or {config.image_path_column!r}",
                    )
                file = paths.confined(root, str(raw), what=f"{where}: the image", flag="--image-root")
                if not file.is_file():
                    raise OSError(f"image file {file} does not exist")
                check_image(path=file)
                image_files.append(file)
                if config.embed_images:
                    data = file.read_bytes()
                else:
                    image_path = os.path.relpath(file.resolve(), out_root)
        except OSError as e:
            if config.skip_bad_images:
                skipped += 1
                continue
            raise InputError(
                f"{where}: cannot read the image: {e}",
                "fix or remove that row, or pass --skip-bad-images to count and skip such rows",
            ) from None
        tokens, upos = row.get("tokens"), row.get("upos")
        cols["id"].append(rid)
        cols["image"].append(data)
        cols["image_path"].append(image_path)
        cols["question"].append(question)
        cols["answers"].append(answers)
        cols["lang"].append(str(lang))
        cols["qtype"].append(row.get("qtype") or row.get("question_type"))
        cols["tokens"].append(list(tokens) if tokens is not None else None)
        cols["upos"].append(list(upos) if upos is not None else None)
        cols["lemmas"].append(list(row["lemmas"]) if row.get("lemmas") is not None else None)
    if not cols["id"]:
        raise InputError(
            f"{path} has no usable rows" + (f" ({skipped} skipped for bad images)" if skipped else ""),
            "give at least one row with a question, answers and a readable image",
        )
    if skipped:
        warn(f"skipped {skipped} rows whose image is missing or unreadable")
    paths.check_outputs({"-o": output}, {"the image": image_files})  # the files the rows name are inputs too
    table = pa.table(cols, schema=VQA)
    prov = artifacts.make_provenance("vqa-import", options=config, inputs=[path])
    artifacts.write_table(output, table, kind="vqa", provenance=prov)
    return VqaImportResult(output=output, rows=table.num_rows, skipped=skipped)
