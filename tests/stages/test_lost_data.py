"""No command destroys data it was not asked to replace: a folder output removes only the files its own
manifest says this command wrote; an input is compared with the outputs under every spelling (``hf:FOLDER``,
each shard of a folder through its symlinks and hard links, the files a ``save_to_disk`` state names); the
outputs of one command are committed all together or none of them."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cstool.base.errors import ConfigError
from cstool.io import paths

from .conftest import assert_user_error, invoke, metrics_run
from .test_no_clobber import digest

# Every name legal, the whole path past PATH_MAX (4096 bytes): only writing it fails (ENAMETOOLONG), after
# the command's other output was written.
LONG = "/".join(["s" * 250] * 17) + "/stats.parquet"


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_vqa_easy_keeps_files_it_did_not_write(inputs, tmp_path):
    out = tmp_path / "corpus"
    out.mkdir()
    shutil.copy(inputs["tagged"], out / "hi.train.parquet")  # someone's tagged corpus, not vqa-easy's
    shutil.copy(inputs["tagged"], out / "hi.dev.parquet")
    before = digest(out / "hi.train.parquet")
    code, output = invoke("vqa-easy", "-o", out, "--langs", "en", "--train-images", "2", "--dev-images", "2")
    assert code == 0, output
    assert visible(out) == ["en.dev.parquet", "en.train.parquet", "hi.dev.parquet", "hi.train.parquet"]
    assert digest(out / "hi.train.parquet") == before


def test_report_keeps_heatmaps_it_did_not_write(tmp_path):
    run = metrics_run(tmp_path / "a", "a", 1)
    out = tmp_path / "report"
    out.mkdir()
    (out / "rmatrix_mine.png").write_bytes(b"a figure someone else made")
    code, output = invoke("report", run, "-o", out)
    assert code == 0, output
    assert (out / "rmatrix_mine.png").read_bytes() == b"a figure someone else made"
    assert json.loads((out / ".cstool-report.files.json").read_text())["files"] == [
        "forgetting.png",
        "rmatrix_a.png",
        "summary.md",
        "summary.parquet",
    ]


def test_a_hostile_manifest_removes_nothing_outside_its_folder(tmp_path):
    run = metrics_run(tmp_path / "a", "a", 1)
    out = tmp_path / "report"
    out.mkdir()
    precious = tmp_path / "precious.txt"
    precious.write_text("keep")
    names = ["../precious.txt", str(precious), "sub/x", "..", "", 5]
    (out / ".cstool-report.files.json").write_text(json.dumps({"files": names}))
    code, output = invoke("report", run, "-o", out)
    assert code == 0, output
    assert precious.read_text() == "keep"
    (out / ".cstool-report.files.json").write_bytes(b"\xff not json")  # damaged: nothing is removed either
    code, output = invoke("report", run, "-o", out)
    assert code == 0, output
    assert visible(out) == ["forgetting.png", "rmatrix_a.png", "summary.md", "summary.parquet"]


def test_switch_through_hf_folder_refuses_its_own_input(inputs, tmp_path, monkeypatch):
    folder = tmp_path / "sh2"
    folder.mkdir()
    shutil.copy(inputs["tagged"], folder / "train.parquet")
    before = digest(folder)
    monkeypatch.chdir(tmp_path)
    for spec in ("hf:sh2:train", f"hf:{folder}:train"):
        code, output = invoke("switch", spec, "--lexicon", inputs["lexicon"], "-o", "sh2/train.parquet")
        assert_user_error(code, output, "would destroy that input")
    assert digest(folder) == before


@pytest.mark.parametrize("how", ["symlink", "hardlink"])
def test_a_shard_linked_to_the_output_is_refused(how, inputs, tmp_path):
    victim = tmp_path / "in.parquet"
    shutil.copy(inputs["tagged"], victim)
    before = digest(victim)
    shards = tmp_path / "shards"
    shards.mkdir()
    shutil.copy(inputs["tagged"], shards / "b.parquet")
    if how == "symlink":
        os.symlink("../in.parquet", shards / "a.parquet")
    else:
        os.link(victim, shards / "a.parquet")
    code, output = invoke("switch", shards, "--lexicon", inputs["lexicon"], "-o", victim)
    assert_user_error(code, output, "would destroy that input")
    assert digest(victim) == before


def test_a_save_to_disk_state_naming_a_file_outside_is_compared(tmp_path):
    outside = tmp_path / "x.arrow"
    with pa.ipc.new_stream(outside, pa.schema([("text", pa.string())])) as w:
        w.write_table(pa.table({"text": ["a"]}))
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "state.json").write_text(json.dumps({"_data_files": [{"filename": "../x.arrow"}], "_split": "train"}))
    (ds / "dataset_info.json").write_text("{}")
    with pytest.raises(ConfigError, match="would destroy that input"):
        paths.check_outputs({"-o": outside}, {"INPUT": str(ds)})
    with pytest.raises(ConfigError, match="would destroy that input"):
        paths.check_outputs({"-o": outside}, {"INPUT": f"hf:{ds}:train"})
    paths.check_outputs({"-o": tmp_path / "y.arrow"}, {"INPUT": str(ds)})  # another output is fine


def test_switch_commits_output_and_stats_together(inputs, tmp_path):
    out = tmp_path / "out.parquet"
    code, output = invoke(
        "switch",
        inputs["tagged"],
        "--lexicon",
        inputs["lexicon"],
        "--allow-empty",
        "-o",
        out,
        "--stats",
        tmp_path / LONG,
    )
    assert_user_error(code, output, "cannot write")
    assert os.listdir(tmp_path) == []  # neither output, nor a temporary file
    out.write_bytes(b"the old output")
    code, output = invoke(
        "switch",
        inputs["tagged"],
        "--lexicon",
        inputs["lexicon"],
        "--allow-empty",
        "-o",
        out,
        "--stats",
        tmp_path / LONG,
    )
    assert code == 2 and out.read_bytes() == b"the old output" and os.listdir(tmp_path) == ["out.parquet"]


def test_eval_commits_scores_and_predictions_together(inputs, tmp_path):
    table = pq.read_table(inputs["vqa"])
    answers = [a[0] for a in table.column("answers").to_pylist()]
    data = tmp_path / "predicted.parquet"
    pq.write_table(table.append_column("prediction", pa.array(answers, pa.string())), data)
    out = tmp_path / "out"
    out.mkdir()
    preds = out / "preds.parquet"
    argv = ["eval", "--task", "vqa", "--data", f"x={data}", "--predictions", preds, "-o"]
    code, output = invoke(*argv, out / LONG)
    assert_user_error(code, output, "cannot write")
    assert os.listdir(out) == []  # no predictions without their scores
    code, output = invoke(*argv, out / "s.parquet")
    assert code == 0, output
    assert pq.read_table(preds).num_rows == table.num_rows and (out / "s.parquet").exists()
