"""Stages read Hugging Face datasets through the CLI exactly as they read the same rows from Parquet:
tag (a save_to_disk DatasetDict split), teacher-cache and distill (a folder of JSON Lines, a save_to_disk
Dataset), eval (a folder of CSV files), switch (a saved tagged dataset); --text-column picks the column;
provenance names the dataset."""

from __future__ import annotations

import json

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cstool.io import artifacts
from tests.conftest import TESTS, TINY_CONLLU, TINY_CORPUS
from tests.stages.conftest import assert_user_error, invoke

TEXTS = TINY_CORPUS[:6] * 4


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


def rows(texts=TEXTS) -> list[dict]:
    return [{"id": f"s{i}", "sentence": t} for i, t in enumerate(texts)]


def same_rows(a, b) -> None:
    assert pq.read_table(a).to_pylist() == pq.read_table(b).to_pylist()


def test_tag_a_dataset_dict_split(tmp_path, tagger):
    dd = datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(rows()), "test": datasets.Dataset.from_list(rows(TEXTS[:3]))}
    )
    dd.save_to_disk(tmp_path / "dd")
    pq.write_table(pa.Table.from_pylist(rows(TEXTS[:3])), tmp_path / "test.parquet")
    common = ["--lang", tagger["lang"], "--pos-model", tagger["path"], "--text-column", "sentence"]
    code, out = invoke("tag", f"{tmp_path / 'dd'}:test", *common, "-o", tmp_path / "a.parquet")
    assert code == 0, out
    code, out = invoke("tag", tmp_path / "test.parquet", *common, "-o", tmp_path / "b.parquet")
    assert code == 0, out
    same_rows(tmp_path / "a.parquet", tmp_path / "b.parquet")
    assert pq.read_table(tmp_path / "a.parquet").column("id").to_pylist() == ["s0", "s1", "s2"]
    (record,) = artifacts.read_provenance(tmp_path / "a.parquet")["inputs"]
    assert record["dataset"] == {
        "format": "save_to_disk",
        "folder": str(tmp_path / "dd"),
        "split": "test",
        "fingerprint": dd["test"]._fingerprint,
    }
    code, out = invoke("tag", tmp_path / "dd", *common, "-o", tmp_path / "c.parquet")
    assert_user_error(code, out, "is a DatasetDict", "splits train, test: name one", f"{tmp_path / 'dd'}:train")
    code, out = invoke("tag", f"{tmp_path / 'dd'}:test", *common[:-1], "text", "-o", tmp_path / "c.parquet")
    assert_user_error(code, out, "text", "id, sentence")
    assert not (tmp_path / "c.parquet").exists()


def test_teacher_cache_and_distill_from_datasets(tmp_path, tiny_lm):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows()), encoding="utf-8")
    pq.write_table(pa.Table.from_pylist(rows()), tmp_path / "corpus.parquet")
    common = ["--teacher", tiny_lm, "--top-k", "4", "--block-size", "16", "--text-column", "sentence"]
    code, out = invoke("teacher-cache", folder, *common, "-o", tmp_path / "a.parquet")
    assert code == 0, out
    code, out = invoke("teacher-cache", tmp_path / "corpus.parquet", *common, "-o", tmp_path / "b.parquet")
    assert code == 0, out
    same_rows(tmp_path / "a.parquet", tmp_path / "b.parquet")
    (record,) = artifacts.read_provenance(tmp_path / "a.parquet")["inputs"]
    assert record["dataset"]["format"] == "data files" and record["dataset"]["split"] == "train"

    datasets.Dataset.from_list(rows()).save_to_disk(tmp_path / "saved")
    args = ["--student-config", "llama:layers=1,hidden=16,heads=2", "--tokenizer", tiny_lm, "--max-steps", "2"]
    args += ["--batch-size", "2", "--block-size", "16", "--text-column", "sentence", "--device", "cpu"]
    code, out = invoke("distill", tmp_path / "saved", *args, "-o", tmp_path / "s1")
    assert code == 0, out
    code, out = invoke("distill", tmp_path / "corpus.parquet", *args, "-o", tmp_path / "s2")
    assert code == 0, out
    done = [json.loads((tmp_path / s / "done.json").read_text()) for s in ("s1", "s2")]
    assert done[0]["train_tokens"] == done[1]["train_tokens"]
    assert done[0]["train_loss"] == pytest.approx(done[1]["train_loss"], rel=1e-6)
    prov = artifacts.read_provenance(tmp_path / "s1")
    assert prov["inputs"][0]["dataset"]["format"] == "save_to_disk"


def test_eval_a_folder_of_csv(tmp_path, tiny_lm):
    folder = tmp_path / "dev"
    folder.mkdir()
    (folder / "test.csv").write_text(
        "id,sentence\n" + "".join(f"{r['id']},{r['sentence']}\n" for r in rows(TEXTS[:6])), encoding="utf-8"
    )
    pq.write_table(pa.Table.from_pylist(rows(TEXTS[:6])), tmp_path / "dev.parquet")
    common = ["--model", tiny_lm, "--text-column", "sentence", "--run", "r"]
    code, out = invoke("eval", *common, "--data", f"en={folder}:test", "-o", tmp_path / "a.parquet")
    assert code == 0, out
    code, out = invoke("eval", *common, "--data", f"en={tmp_path / 'dev.parquet'}", "-o", tmp_path / "b.parquet")
    assert code == 0, out
    same_rows(tmp_path / "a.parquet", tmp_path / "b.parquet")
    code, out = invoke("eval", *common, "--data", f"en={folder}:dev", "-o", tmp_path / "c.parquet")
    assert_user_error(code, out, 'Unknown split "dev"')
    assert not (tmp_path / "c.parquet").exists()


def test_switch_a_saved_tagged_dataset(tmp_path):
    code, out = invoke("tag", TINY_CONLLU, "--lang", "en", "-o", tmp_path / "tagged.parquet")
    assert code == 0, out
    datasets.Dataset.from_parquet(str(tmp_path / "tagged.parquet")).save_to_disk(tmp_path / "tagged")
    lexicon = TESTS / "data" / "switch_lexicon.tsv"  # Hindi sources on English text: only the reading is tested
    for name, source in (("a", tmp_path / "tagged"), ("b", tmp_path / "tagged.parquet")):
        code, out = invoke("switch", source, "--lexicon", lexicon, "--allow-empty", "-o", tmp_path / f"{name}.parquet")
        assert code == 0, out
    same_rows(tmp_path / "a.parquet", tmp_path / "b.parquet")
    assert artifacts.read_provenance(tmp_path / "a.parquet")["inputs"][0]["dataset"]["format"] == "save_to_disk"
