"""Hugging Face datasets as inputs (cstool.io.hfdata through artifacts.open_source): save_to_disk folders,
folders of data files, Hub ids offline, bad specs, and reading lazily in batches from memory-mapped files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cstool.base.errors import ConfigError, InputError
from cstool.io import artifacts, paths

TEXTS = [f"sentence {i} about a cat" for i in range(30)]


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path, monkeypatch):
    """Folders of data files are converted into the datasets cache: one per test, never the user's."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


def dataset(n: int = 30) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"id": [f"r{i}" for i in range(n)], "sentence": TEXTS[:n] * (n // 30 or 1)})


def texts_of(spec, column="sentence", batch=7) -> list[str]:
    src = artifacts.open_source(spec)
    return [t for b in src.iter_batches(batch) for t in b.column(column).to_pylist()]


def test_save_to_disk_dataset_and_its_provenance(tmp_path):
    ds = dataset()
    ds.save_to_disk(tmp_path / "ds", num_shards=3)
    src = artifacts.open_source(tmp_path / "ds")
    assert src.schema.names == ["id", "sentence"] and src.num_rows == 30
    assert artifacts.describe(tmp_path / "ds")["dataset"]["fingerprint"] == ds._fingerprint
    batches = list(src.iter_batches(4))
    assert all(b.num_rows <= 4 for b in batches)
    assert [t for b in batches for t in b.column("sentence").to_pylist()] == TEXTS
    (record,) = artifacts.make_provenance("x", options={}, inputs=[src])["inputs"]
    assert record["dataset"] == {
        "format": "save_to_disk",
        "folder": str(tmp_path / "ds"),
        "split": None,
        "fingerprint": ds._fingerprint,
    }


def test_save_to_disk_dataset_dict_needs_a_split(tmp_path):
    dd = datasets.DatasetDict({"train": dataset(), "test": dataset().select(range(5))})
    dd.save_to_disk(tmp_path / "dd")
    assert texts_of(f"{tmp_path / 'dd'}:test") == TEXTS[:5]
    assert texts_of(f"{tmp_path / 'dd'}:train") == TEXTS
    src = artifacts.open_source(f"{tmp_path / 'dd'}:test")
    assert src.input_records()[0]["dataset"]["split"] == "test"
    with pytest.raises(InputError, match=r"DatasetDict .* splits train, test: name one") as e:
        artifacts.open_source(tmp_path / "dd")
    assert e.value.hint == f"give {tmp_path / 'dd'}:train"
    with pytest.raises(InputError, match=r"no split 'dev' .* its splits are train, test"):
        artifacts.open_source(f"{tmp_path / 'dd'}:dev")
    dataset().save_to_disk(tmp_path / "one")
    with pytest.raises(InputError, match="is a single Dataset"):
        artifacts.open_source(f"{tmp_path / 'one'}:train")


def _write_folder(folder: Path, fmt: str, name: str = "part") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"r{i}", "sentence": t} for i, t in enumerate(TEXTS)]
    if fmt == "jsonl":
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif fmt == "csv":
        (folder / f"{name}.csv").write_text(
            "id,sentence\n" + "".join(f"{r['id']},{r['sentence']}\n" for r in rows), encoding="utf-8"
        )
    else:
        pq.write_table(pa.Table.from_pylist(rows), folder / f"{name}.parquet")


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_a_folder_of_data_files(tmp_path, fmt):
    """load_dataset(FOLDER): one split is taken as it is; a Parquet folder without :SPLIT stays shards."""
    _write_folder(tmp_path / "data", fmt, name="train")
    spec = f"{tmp_path / 'data'}:train" if fmt == "parquet" else tmp_path / "data"
    assert texts_of(spec) == TEXTS
    record = artifacts.open_source(spec).input_records()[0]
    assert record["dataset"]["format"] == "data files" and record["dataset"]["split"] == "train"
    assert record["dataset"]["fingerprint"]


def test_a_folder_with_several_splits_needs_one(tmp_path):
    _write_folder(tmp_path / "data", "jsonl", name="train")
    _write_folder(tmp_path / "data", "jsonl", name="test")
    with pytest.raises(InputError, match="holds the splits .*: name one"):
        artifacts.open_source(tmp_path / "data")
    assert texts_of(f"{tmp_path / 'data'}:test") == TEXTS
    with pytest.raises(InputError, match='Unknown split "dev"'):
        artifacts.open_source(f"{tmp_path / 'data'}:dev")


def test_bad_dataset_specs(tmp_path):
    for spec in ("hf:owner/name", "hf:owner/name:", "hf:a:b:c:d"):
        with pytest.raises(InputError, match=r"hf:OWNER/NAME\[:CONFIG\]:SPLIT"):
            artifacts.open_source(spec)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no other data files"):
        artifacts.open_source(f"{tmp_path / 'empty'}:train")
    dataset().save_to_disk(tmp_path / "ds")
    with pytest.raises(InputError, match="the split after ':' is empty"):
        artifacts.open_source(f"{tmp_path / 'ds'}:")


def test_reading_is_lazy_and_memory_mapped(tmp_path):
    """A shard is opened only when reached (deleting a later one fails only there), and iterating a
    dataset of ~16 MB allocates almost nothing: batches are views of the memory-mapped Arrow files."""
    big = datasets.Dataset.from_dict({"sentence": ["x" * 4000] * 4000})
    big.save_to_disk(tmp_path / "big", num_shards=4)
    src = artifacts.open_source(tmp_path / "big")
    before = pa.total_allocated_bytes()
    peak, rows = 0, 0
    for batch in src.iter_batches(100):
        rows += batch.num_rows
        peak = max(peak, pa.total_allocated_bytes() - before)
    assert rows == 4000 and peak < 1 << 20, peak

    batches = src.iter_batches(100)
    first = next(batches)
    assert first.num_rows == 100
    for f in sorted((tmp_path / "big").glob("data-0000[123]-*.arrow")):
        f.unlink()
    with pytest.raises(InputError, match="after 1000 rows"):
        for _ in batches:
            pass


def test_a_folder_of_data_files_reads_in_bounded_memory(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.jsonl").write_text("".join(json.dumps({"text": "y" * 4000}) + "\n" for _ in range(4000)))
    src = artifacts.open_source(folder)
    before = pa.total_allocated_bytes()
    peak, sizes = 0, []
    for batch in src.iter_batches(100):
        sizes.append(batch.num_rows)
        peak = max(peak, pa.total_allocated_bytes() - before)
    assert sum(sizes) == 4000 and max(sizes) == 100 and peak < 1 << 20, peak


@pytest.mark.parametrize(
    "offline",
    [{"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}, {"CSTOOL_OFFLINE": "1"}],
    ids=["HF_HUB_OFFLINE", "CSTOOL_OFFLINE"],
)
def test_a_hub_dataset_offline_is_one_clear_error(tmp_path, offline):
    """Never reaches the internet: offline mode, an endpoint nobody listens on, an empty cache."""
    env = {k: v for k, v in os.environ.items() if "OFFLINE" not in k}
    env = {
        **env,
        **offline,
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "HF_HOME": str(tmp_path / "hf"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    env.pop("HF_DATASETS_CACHE", None)
    result = subprocess.run(
        [sys.executable, "-m", "cstool", "info", "hf:ai4bharat/nothing-here:hi:train"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("error:") == 1 and "Traceback" not in result.stderr
    flat = " ".join(result.stderr.split())
    assert "hf:ai4bharat/nothing-here:hi:train: offline mode is on" in flat
    assert "not in the datasets cache" in flat and "hint:" in flat and "save_to_disk" in flat


def test_an_output_inside_a_dataset_folder_is_refused(tmp_path):
    datasets.DatasetDict({"train": dataset()}).save_to_disk(tmp_path / "dd")
    with pytest.raises(ConfigError, match="lies inside the input DATA"):
        paths.check_outputs({"-o": tmp_path / "dd" / "x.parquet"}, {"DATA": [f"{tmp_path / 'dd'}:train"]})
    paths.check_outputs({"-o": tmp_path / "x.parquet"}, {"DATA": [f"{tmp_path / 'dd'}:train", "hf:a/b:train"]})
