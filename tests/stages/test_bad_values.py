"""Every bad value is an error line with a hint, never a traceback: for each kind of bad value, every stage it
reaches exits 2 with one ``error:`` line, a ``hint:``, and no output."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .conftest import assert_user_error, invoke, png

FOLDER_WRITERS = {
    "train-tokenizer": ["train-tokenizer", "{tagged}", "-o", "{OUT}"],
    "distill": ["distill", "{tagged}", "--student", "{lm}", "-o", "{OUT}"],
    "replay-train": ["replay-train", "--base", "{lm}", "--task", "en={tagged}", "--task", "hi={tagged}", "-o", "{OUT}"],
    "vqa-easy": ["vqa-easy", "-o", "{OUT}"],
    "build-vlm": ["build-vlm", "{vqa}", "-o", "{OUT}"],
    "report": ["report", "{run}", "-o", "{OUT}"],
}


def fill(argv, inputs, **more) -> list[str]:
    values = {**{k: str(v) for k, v in inputs.items()}, **{k: str(v) for k, v in more.items()}}
    return [a.format(**values) for a in argv]


@pytest.mark.parametrize("stage", list(FOLDER_WRITERS))
def test_a_folder_output_that_names_a_file(stage, inputs, tmp_path):
    out = tmp_path / "a-file"
    out.write_text("keep me")
    code, output = invoke(*fill(FOLDER_WRITERS[stage], inputs, OUT=out))
    assert_user_error(code, output, f"-o {out} is a file, but this command writes a folder there")
    assert out.read_text() == "keep me"


# A text column that holds no text: the stages that read one.
TEXT_READERS = {
    "tag": ["tag", "{data}", "--lang", "en", "--text-column", "{column}", "-o", "{tmp}/o.parquet"],
    "train-tokenizer": ["train-tokenizer", "{data}", "--text-column", "{column}", "-o", "{tmp}/o"],
    "teacher-cache": ["teacher-cache", "{data}", "--teacher", "{lm}", "--text-column", "{column}", "-o", "{tmp}/o"],
    "distill": ["distill", "{data}", "--student", "{lm}", "--text-column", "{column}", "-o", "{tmp}/o"],
    "replay-train": [
        "replay-train",
        *("--base", "{lm}", "--task", "en={tagged}", "--task", "hi={data}", "--text-column", "{column}"),
        *("-o", "{tmp}/o"),
    ],
    "eval": ["eval", "--model", "{lm}", "--data", "x={data}", "--text-column", "{column}", "-o", "{tmp}/o.parquet"],
}


@pytest.mark.parametrize("column", ["tokens", "count"])
@pytest.mark.parametrize("stage", list(TEXT_READERS))
def test_a_text_column_that_is_not_text(stage, column, inputs, tmp_path):
    data = tmp_path / "d.parquet"
    pq.write_table(
        pa.table(
            {
                "id": ["1", "2"],
                "text": ["a b", "c d"],
                "tokens": [["a", "b"], ["c", "d"]],
                "count": [1, 2],
            }
        ),
        data,
    )
    code, output = invoke(*fill(TEXT_READERS[stage], inputs, data=data, column=column, tmp=tmp_path))
    kind = "list<" if column == "tokens" else "int64, not text"
    assert_user_error(code, output, f"column '{column}' is {kind}", "not text", "--text-column")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.parquet"]


def test_a_jsonl_text_that_is_not_a_string(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"text": "fine"}) + "\n" + json.dumps({"text": ["a", "list"]}) + "\n")
    code, output = invoke("tag", data, "--lang", "en", "-o", tmp_path / "o.parquet")
    assert_user_error(code, output, f"{data}:2: 'text' is a list, not text")
    assert not (tmp_path / "o.parquet").exists()


NULL_TOKEN = ([["a", None]], [["NOUN", "NOUN"]], "row '7' has a null token (position 1)")
NULL_TAG = ([["a", "b"]], [["NOUN", None]], "row '7' has a null UPOS tag (position 1)")


@pytest.mark.parametrize(
    "stage, case",
    [
        ("switch", NULL_TOKEN),
        ("switch", NULL_TAG),
        ("tag", NULL_TOKEN),
        ("tag", NULL_TAG),
        ("tag --retag", NULL_TOKEN),  # re-tagging replaces the tags, so only the tokens matter
    ],
)
def test_null_elements_in_token_lists(stage, case, inputs, tmp_path):
    tokens, upos, message = case
    data = tmp_path / "d.parquet"
    pq.write_table(pa.table({"id": ["7"], "text": ["a b"], "tokens": tokens, "upos": upos}), data)
    argv = {
        "switch": ["switch", data, "--lexicon", inputs["lexicon"], "--allow-empty"],
        "tag": ["tag", data, "--lang", "en"],
        "tag --retag": ["tag", data, "--lang", "en", "--retag"],
    }[stage]
    code, output = invoke(*argv, "-o", tmp_path / "o.parquet")
    assert_user_error(code, output, message)
    assert not (tmp_path / "o.parquet").exists()


@pytest.mark.parametrize(
    "spec, message",
    [
        ("llama:layers=abc", "layers must be a positive integer, got 'abc'"),
        ("llama:layers=0", "layers must be a positive integer, got 0"),
        ("llama:hidden=30,heads=4", "hidden (30) must be a multiple of heads (4)"),
        ("llama:hidden=32,heads=4,kv_heads=3", "heads (4) must be a multiple of kv_heads (3)"),
        ("llama:layers=1,hidden=32,heads=4,hidden_act=nonsense", "cannot build a model from 'llama:layers=1,"),
        ("llama", "model spec 'llama' does not name its layers, hidden, heads"),
    ],
)
def test_a_student_config_that_cannot_be_built(spec, message, inputs, tmp_path):
    out = tmp_path / "o"
    code, output = invoke("distill", inputs["tagged"], "--student-config", spec, "--tokenizer", inputs["lm"], "-o", out)
    assert_user_error(code, output, message)
    assert not out.exists()


@pytest.fixture(scope="module")
def foreign(tmp_path_factory, inputs):
    """An adapter trained on another base (hidden 16) and a tokenizer smaller than the tiny LM's."""
    import torch
    from peft import LoraConfig, get_peft_model
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("foreign")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=300, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2
    )
    peft = get_peft_model(LlamaForCausalLM(config), LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    peft.save_pretrained(root / "adapter")
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        ["a small corpus"] * 4,
        trainer=trainers.BpeTrainer(
            vocab_size=280,
            special_tokens=["<pad>", "<s>", "</s>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    fast.save_pretrained(root / "tokenizer")
    return {"adapter": root / "adapter", "tokenizer": root / "tokenizer"}


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--adapter", "{adapter}"], "does not fit the model"),
        (["--tokenizer", "{tokenizer}"], "do not belong together: it has"),
    ],
    ids=["adapter", "tokenizer"],
)
def test_eval_refuses_parts_of_another_model(extra, message, inputs, foreign, tmp_path):
    out = tmp_path / "s.parquet"
    argv = ["eval", "--model", inputs["lm"], "--data", f"x={inputs['tagged']}", "-o", out]
    code, output = invoke(*argv, *[e.format(**foreign) for e in extra])
    assert_user_error(code, output, message)
    assert not out.exists()


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_vqa_import_of_a_file_that_is_not_utf8(fmt, tmp_path):
    data = tmp_path / f"q.{fmt}"
    image = base64.b64encode(png()).decode().encode()
    if fmt == "jsonl":
        row = b'{"question": "%s?", "answers": ["yes"], "image": "' + image + b'"}\n'
        data.write_bytes(row % b"ok" + row % b"caf\xe9")
    else:
        data.write_bytes(b"question,answers,image\nok?,yes," + image + b"\ncaf\xe9?,yes," + image + b"\n")
    code, output = invoke("vqa-import", data, "--lang", "fr", "-o", tmp_path / "o.parquet")
    assert_user_error(code, output, f"{data}:{2 if fmt == 'jsonl' else 3}: not valid UTF-8", "iconv")
    assert not (tmp_path / "o.parquet").exists()


def _tree(heads: list[str]) -> str:
    rows = [f"{i}\tw{i}\tw{i}\tNOUN\t_\t_\t{h}\tdep\t_\t_" for i, h in enumerate(heads, 1)]
    return "# text = " + " ".join(f"w{i}" for i in range(1, len(heads) + 1)) + "\n" + "\n".join(rows) + "\n\n"


@pytest.mark.parametrize(
    "heads, message",
    [
        (["0", "1", "0"], "2 roots (words 1, 3)"),
        (["0", "9", "1"], "word 2 has head 9, outside 0..3"),
        (["2", "1", "1"], "no root"),
        (["0", "_", "1"], "word 2 has head '_'"),
        (["0", "²", "1"], "word 2 has head '²', not a number"),  # "²".isdigit(), but int("²") fails
        (["0", "3", "2"], "words 2, 3 form a cycle"),
    ],
)
def test_train_tagger_dev_file_that_holds_no_valid_trees(heads, message, inputs, tmp_path):
    dev = tmp_path / "dev.conllu"
    dev.write_text(_tree(["0", "1", "1"]) + _tree(heads))
    out = tmp_path / "t.pt"
    code, output = invoke("train-tagger", "--train", inputs["conllu"], "--dev", dev, "--lang", "en", "-o", out)
    assert_user_error(code, output, f"{dev}:7: {message}", "one root")
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["dev.conllu"]


@pytest.fixture(scope="module")
def damaged(inputs, tmp_path_factory) -> dict:
    """A tagged artifact whose footer reads but whose data pages are cut up, and the tiny LM with its
    weights file cut in half."""
    root = tmp_path_factory.mktemp("damaged")
    data = root / "tagged.parquet"
    pq.write_table(pq.read_table(inputs["tagged"]), data, compression="zstd")
    raw = bytearray(data.read_bytes())
    footer = pq.ParquetFile(data).metadata.serialized_size + 8
    for i in range(4, len(raw) - footer):
        raw[i] ^= 0x5A
    data.write_bytes(bytes(raw))
    model = root / "model"
    shutil.copytree(inputs["lm"], model)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return {"data": data, "model": model}


DAMAGED_DATA = {
    "tag": ["tag", "{data}", "--lang", "en", "-o", "{tmp}/o.parquet"],
    "switch": ["switch", "{data}", "--lexicon", "{lexicon}", "--allow-empty", "-o", "{tmp}/o.parquet"],
    "train-tokenizer": ["train-tokenizer", "{data}", "-o", "{tmp}/o"],
    "teacher-cache": ["teacher-cache", "{data}", "--teacher", "{lm}", "-o", "{tmp}/o.parquet"],
    "eval": ["eval", "--model", "{lm}", "--data", "x={data}", "-o", "{tmp}/o.parquet"],
}


@pytest.mark.parametrize("stage", list(DAMAGED_DATA))
def test_an_artifact_damaged_inside(stage, inputs, damaged, tmp_path):
    code, output = invoke(*fill(DAMAGED_DATA[stage], inputs, data=damaged["data"], tmp=tmp_path))
    assert_user_error(code, output, f"{damaged['data']} is damaged after")
    assert list(tmp_path.iterdir()) == []


DAMAGED_MODEL = {
    "eval": ["eval", "--model", "{model}", "--data", "x={tagged}", "-o", "{tmp}/o.parquet"],
    "distill": ["distill", "{tagged}", "--student", "{model}", "-o", "{tmp}/o"],
    "teacher-cache": ["teacher-cache", "{tagged}", "--teacher", "{model}", "-o", "{tmp}/o.parquet"],
    "replay-train": [
        *("replay-train", "--base", "{model}", "--task", "en={tagged}", "--task", "hi={tagged}"),
        *("-o", "{tmp}/o"),
    ],
}


@pytest.mark.parametrize("stage", list(DAMAGED_MODEL))
def test_a_model_whose_weights_are_cut_off(stage, inputs, damaged, tmp_path):
    code, output = invoke(*fill(DAMAGED_MODEL[stage], inputs, model=damaged["model"], tmp=tmp_path))
    assert_user_error(code, output, f"cannot load a causal LM from {damaged['model']}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "upos, said",
    [
        ("BANANA", "UPOS 'BANANA' of word 2 is not a UD tag"),
        ("_", "UPOS '_' of word 2 is not a UD tag (the column is empty)"),
    ],
)
def test_gold_upos_that_is_not_a_ud_tag_is_refused(upos, said, inputs, tmp_path):
    bad = tmp_path / "bad.conllu"
    bad.write_text(_tree(["0", "1", "1"]).replace("2\tw2\tw2\tNOUN", f"2\tw2\tw2\t{upos}"))
    out = tmp_path / "t.pt"
    code, output = invoke("train-tagger", "--train", inputs["conllu"], "--dev", bad, "--lang", "en", "-o", out)
    assert_user_error(code, output, f"{bad}:3: {said}", "a tagger learns from gold tags")
    code, output = invoke("tag", bad, "--lang", "en", "-o", tmp_path / "o.parquet")
    assert_user_error(code, output, f"{bad}:3: {said}", "--retag")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.conllu"]


def test_train_tagger_reads_a_bom_and_whitespace_only_separators_as_cstool_does(inputs, tmp_path):
    text = inputs["conllu"].read_text(encoding="utf-8")
    odd = tmp_path / "odd.conllu"  # Stanza's own reader fails on both
    odd.write_text("\ufeff" + text.replace("\n\n", "\n \t\n"), encoding="utf-8")
    out = tmp_path / "t.pt"
    argv = ["train-tagger", "--train", odd, "--lang", "en", "--max-steps", "4", "--eval-interval", "4", "-o", out]
    code, output = invoke(*argv)
    assert code == 0, output
    assert out.is_file() and (tmp_path / "t.pt.cstool.json").is_file()
