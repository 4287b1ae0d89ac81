"""No output may destroy an input: every stage refuses an output path that is one of its inputs (also through
``./``, a symlink or a hard link), contains one or lies inside one, or that overlaps another of its outputs —
with exit 2, one error line and a hint, before any work, and the input stays byte for byte what it was."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from cstool.base.errors import ConfigError, InputError
from cstool.io import paths

from .conftest import assert_user_error, invoke


def digest(path: Path) -> str:
    if path.is_dir():
        return hashlib.sha256(
            b"".join(
                p.relative_to(path).as_posix().encode() + p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
            )
        ).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


# stage → (the input file that the output will name, argv with {IN} for the input and {OUT} for the output)
FILE_STAGES = {
    "tag": ("conllu", ["tag", "{IN}", "--lang", "en", "-o", "{OUT}"]),
    "train-tagger": ("conllu", ["train-tagger", "--train", "{IN}", "--lang", "en", "-o", "{OUT}"]),
    "switch": ("tagged", ["switch", "{IN}", "--lexicon", "{lexicon}", "-o", "{OUT}"]),
    "switch --lexicon": ("lexicon", ["switch", "{tagged}", "--lexicon", "{IN}", "-o", "{OUT}"]),
    "switch --stats": (
        "tagged",
        ["switch", "{IN}", "--lexicon", "{lexicon}", "-o", "{tmp}/o.parquet", "--stats", "{OUT}"],
    ),
    "teacher-cache": ("tagged", ["teacher-cache", "{IN}", "--teacher", "{lm}", "-o", "{OUT}"]),
    "eval": ("tagged", ["eval", "--model", "{lm}", "--data", "hi={IN}", "-o", "{OUT}"]),
    "eval --predictions": (
        "vqa",
        ["eval", "--task", "vqa", "--data", "x={IN}", "-o", "{tmp}/s.parquet", "--predictions", "{OUT}"],
    ),
    "vqa-import": ("jsonl", ["vqa-import", "{IN}", "--lang", "en", "-o", "{OUT}"]),
}


def spell(victim: Path, how: str, tmp: Path) -> str:
    """Another name of ``victim``: itself, ``./name`` (from its folder), a symlink or a hard link to it."""
    if how == "same":
        return str(victim)
    if how == "dot":
        return f"./{victim.name}"
    link = tmp / f"{how}-{victim.name}"
    (os.symlink if how == "symlink" else os.link)(victim, link)
    return str(link)


def fill(argv: list[str], values: dict) -> list[str]:
    return [a.format(**values) for a in argv]


@pytest.mark.parametrize("how", ["same", "dot", "symlink", "hardlink"])
@pytest.mark.parametrize("stage", list(FILE_STAGES))
def test_a_file_output_that_is_an_input_is_refused(stage, how, inputs, tmp_path, monkeypatch):
    kind, argv = FILE_STAGES[stage]
    victim = tmp_path / inputs[kind].name
    shutil.copy(inputs[kind], victim)
    before = digest(victim)
    monkeypatch.chdir(tmp_path)
    values = {**{k: str(v) for k, v in inputs.items()}, "IN": str(victim), "tmp": str(tmp_path)}
    values["OUT"] = spell(victim, how, tmp_path)
    code, output = invoke(*fill(argv, values))
    assert_user_error(code, output, "would destroy that input")
    assert digest(victim) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({victim.name, Path(values["OUT"]).name})


@pytest.mark.parametrize(
    "stage, argv, victim",
    [
        ("train-tokenizer", ["train-tokenizer", "{d}/tagged.parquet", "-o", "{d}"], "d"),
        ("build-vlm", ["build-vlm", "{d}/vqa.parquet", "-o", "{d}"], "d"),
        ("distill DATA", ["distill", "{d}/tagged.parquet", "--student", "{lm}", "-o", "{d}"], "d"),
        ("distill --student", ["distill", "{tagged}", "--student", "{m}", "-o", "{m}"], "m"),
        ("distill --teacher", ["distill", "{tagged}", "--teacher", "{m}", "--student", "{lm}", "-o", "{m}/s"], "m"),
        (
            "replay-train --base",
            ["replay-train", "--base", "{m}", "--task", "en={tagged}", "--task", "hi={tagged}", "-o", "{m}"],
            "m",
        ),
        (
            "replay-train --task",
            ["replay-train", "--base", "{lm}", "--task", "en={d}/tagged.parquet", "--task", "hi={tagged}", "-o", "{d}"],
            "d",
        ),
        ("report", ["report", "{r}", "-o", "{r}"], "r"),
        ("report inside", ["report", "{r}", "-o", "{r}/report"], "r"),
        ("eval --model", ["eval", "--model", "{m}", "--data", "hi={tagged}", "-o", "{m}/model.safetensors"], "m"),
        ("tag shards", ["tag", "{d}", "--lang", "en", "-o", "{d}/all.parquet"], "d"),
    ],
)
def test_a_folder_output_may_not_hold_or_be_an_input(stage, argv, victim, inputs, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    shutil.copy(inputs["tagged"], d / "tagged.parquet")
    shutil.copy(inputs["vqa"], d / "vqa.parquet")
    m = tmp_path / "m"
    shutil.copytree(inputs["lm"], m)
    r = tmp_path / "r"
    shutil.copytree(inputs["run"], r)
    folders = {"d": d, "m": m, "r": r}
    before = digest(folders[victim])
    values = {**{k: str(v) for k, v in inputs.items()}, "d": str(d), "m": str(m), "r": str(r)}
    code, output = invoke(*fill(argv, values))
    assert_user_error(code, output, "would destroy that input")
    assert digest(folders[victim]) == before


@pytest.mark.parametrize("how", ["same", "dot", "symlink"])
@pytest.mark.parametrize(
    "argv",
    [
        ["switch", "{tagged}", "--lexicon", "{lexicon}", "-o", "{tmp}/a.parquet", "--stats", "{OUT}"],
        ["eval", "--task", "vqa", "--data", "x={vqa}", "-o", "{tmp}/a.parquet", "--predictions", "{OUT}"],
    ],
    ids=["switch", "eval"],
)
def test_two_outputs_of_one_command_may_not_overlap(argv, how, inputs, tmp_path, monkeypatch):
    first = tmp_path / "a.parquet"
    first.write_bytes(b"earlier output")
    monkeypatch.chdir(tmp_path)
    values = {**{k: str(v) for k, v in inputs.items()}, "tmp": str(tmp_path), "OUT": spell(first, how, tmp_path)}
    code, output = invoke(*fill(argv, values))
    assert_user_error(code, output, "overlap")
    assert first.read_bytes() == b"earlier output"


def test_distinct_paths_pass_and_nothing_is_created(tmp_path):
    src = tmp_path / "in.parquet"
    src.write_bytes(b"x")
    paths.check_outputs({"-o": tmp_path / "new" / "deep" / "out.parquet"}, {"INPUT": src})
    paths.check_outputs({"-o": tmp_path / "run"}, {"--task": [src, "-"]}, folders=["-o"])
    paths.check_outputs({"-o": "-"}, {"INPUT": "-"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]


def test_globs_of_inputs_are_expanded(tmp_path):
    for i in range(2):
        (tmp_path / f"part-{i}.parquet").write_bytes(b"x")
    with pytest.raises(ConfigError, match="is also the input"):
        paths.check_outputs({"-o": tmp_path / "part-1.parquet"}, {"INPUT": str(tmp_path / "part-*.parquet")})


@pytest.mark.parametrize("folder", [False, True])
def test_output_kind_must_match_what_is_there(tmp_path, folder):
    there = tmp_path / "x"
    (there.mkdir() if not folder else there.write_text("a file"))
    with pytest.raises(InputError, match="it is a directory" if not folder else "is a file, but this command"):
        paths.check_outputs({"-o": there}, folders=["-o"] if folder else [])


def test_vqa_import_may_not_write_over_an_image_its_rows_name(inputs, tmp_path):
    from .conftest import png

    image = tmp_path / "img.png"
    image.write_bytes(png())
    data = tmp_path / "q.csv"
    data.write_text("question,answers,image_path\nwhat color?,red,img.png\n")
    code, output = invoke("vqa-import", data, "--lang", "en", "--no-embed-images", "-o", image)
    assert_user_error(code, output, "is also the input the image", "would destroy that input")
    assert image.read_bytes() == png()
