# ruff: noqa: F811  (the fixture ``inputs`` is imported from tests/stages/conftest.py and named by the tests)
"""The hostile inputs of the second reliability sweep that no other test names, one row each: every row runs a
real command on a tiny input and asserts the promise — exit 2 with one error line and a hint, no traceback,
nothing written (or, where a command may accept the input, exit 0 with a valid output). The cases other tests
already cover are listed with their tests in the sweep's notes."""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.stages.conftest import assert_user_error, inputs, invoke, png  # noqa: F401 (inputs: a fixture)
from tests.stages.test_write_failures import _cstool, _listing


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- switch: a reader that checks the id column, list elements, text bytes and column names -------------------

ROW = {"id": ["7"], "text": ["a b"], "tokens": [["a", "b"]], "upos": [["NOUN", "VERB"]]}


def _table(**cols) -> pa.Table:
    return pa.table({**ROW, **cols})


def _duplicated(name: str) -> pa.Table:
    t = _table(extra=["x"])
    return pa.Table.from_arrays([*t.columns, t.column(name)], names=[*t.column_names, name])


SWITCH_TABLES = {
    "null id": (lambda: _table(id=pa.array([None], pa.string())), "id"),
    "duplicate ids": (
        lambda: pa.table({k: v * 2 for k, v in ROW.items()}),
        "7",
    ),
    "lemmas list<int>": (lambda: _table(lemmas=[[1, 2]]), "lemmas"),
    "lemmas plain string": (lambda: _table(lemmas=["a b"]), "lemmas"),
    "binary text not utf-8": (lambda: _table(text=pa.array([b"a \xff"], pa.binary())), "text"),
    "duplicate text column": (lambda: _duplicated("text"), "text"),
    "duplicate tokens column": (lambda: _duplicated("tokens"), "tokens"),
    "duplicate carried column": (lambda: _duplicated("extra"), "extra"),
}


@pytest.mark.parametrize("case", list(SWITCH_TABLES))
def test_switch_refuses_a_hostile_table(case, inputs, tmp_path):
    make, said = SWITCH_TABLES[case]
    data = tmp_path / "d.parquet"
    pq.write_table(make(), data)
    code, output = invoke("switch", data, "--lexicon", inputs["lexicon"], "--allow-empty", "-o", tmp_path / "o.parquet")
    assert_user_error(code, output, said)
    assert _files(tmp_path) == ["d.parquet"]


# --- tag: an hf: folder input is compared with the output; JSON Lines extra keys of any shape -------------------


def test_tag_through_hf_folder_refuses_its_own_input(tmp_path, monkeypatch):
    folder = tmp_path / "jsf"
    folder.mkdir()
    (folder / "train.jsonl").write_text(json.dumps({"text": "a b"}) + "\n")
    before = (folder / "train.jsonl").read_bytes()
    monkeypatch.chdir(tmp_path)
    for spec in ("hf:jsf:train", f"hf:{folder}:train"):
        code, output = invoke("tag", spec, "--lang", "en", "-o", "jsf/train.jsonl")
        assert_user_error(code, output, "would destroy that input")
    assert (folder / "train.jsonl").read_bytes() == before and _files(folder) == ["train.jsonl"]


@pytest.fixture(scope="module")
def quick_tagger(tmp_path_factory) -> Path:
    """A real Stanza tagger of four training steps: enough to tag, fast to build."""
    from tests.conftest import TINY_CONLLU

    out = tmp_path_factory.mktemp("tagger") / "en.pt"
    code, output = invoke(
        "train-tagger", "--train", TINY_CONLLU, "--lang", "en", "--max-steps", "4", "--eval-interval", "4", "-o", out
    )
    assert code == 0, output
    return out


def _deep(n: int) -> str:
    return "[" * n + "]" * n


JSONL_EXTRAS = {
    "key changes type": [{"text": "a b", "x": 1}, {"text": "c d", "x": "one"}],
    "2**80": [{"text": "a b", "x": 2**80}],
    "50,000 deep": None,  # written raw below: json.dumps itself cannot nest that deep
}


@pytest.mark.parametrize("case", list(JSONL_EXTRAS))
def test_tag_jsonl_extra_keys_are_carried_or_refused(case, quick_tagger, tmp_path):
    data = tmp_path / "d.jsonl"
    rows = JSONL_EXTRAS[case]
    if rows is None:
        data.write_text('{"text": "a b", "x": ' + _deep(50_000) + "}\n")
    else:
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "o.parquet"
    argv = ["tag", data, "--lang", "en", "--pos-model", quick_tagger, "-o", out]
    code, output = invoke(*argv)
    if code == 0:  # carried: the output is a whole, readable artifact with every row
        assert pq.read_table(out).num_rows == len(rows or [0]), output
    else:
        assert_user_error(code, output, f"{data}")
        assert _files(tmp_path) == ["d.jsonl"]


# --- vqa-import: rows that are not objects, decompression bombs, image files outside --image-root ----------------


def _bomb_png(side: int = 100_000) -> bytes:
    """A PNG whose header promises side × side pixels (10 G): Pillow refuses it before decoding."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _vqa_row(**image) -> str:
    return json.dumps({"question": "what?", "answers": ["red"], **image}) + "\n"


GOOD = {"image": base64.b64encode(png()).decode()}


def test_vqa_import_refuses_a_line_that_is_not_an_object(tmp_path):
    data = tmp_path / "q.jsonl"
    data.write_text(_vqa_row(**GOOD) + '["what?", ["red"]]\n')
    code, output = invoke("vqa-import", data, "--lang", "en", "-o", tmp_path / "o.parquet")
    assert_user_error(code, output, "line 2", "object")
    assert _files(tmp_path) == ["q.jsonl"]


@pytest.mark.parametrize("skip", [False, True], ids=["refused", "skipped"])
def test_vqa_import_of_a_decompression_bomb(skip, tmp_path):
    data = tmp_path / "q.jsonl"
    data.write_text(_vqa_row(**GOOD) + _vqa_row(image=base64.b64encode(_bomb_png()).decode()))
    out = tmp_path / "o.parquet"
    code, output = invoke("vqa-import", data, "--lang", "en", "-o", out, *(["--skip-bad-images"] if skip else []))
    if skip:
        assert code == 0, output
        assert pq.read_table(out).num_rows == 1
    else:
        assert_user_error(code, output, "line 2", "cannot read the image")
        assert _files(tmp_path) == ["q.jsonl"]


@pytest.mark.parametrize("spelling", ["absolute", "relative"])
def test_vqa_import_refuses_an_image_outside_the_image_root(spelling, tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    (root / "in.png").write_bytes(png())
    secret = tmp_path / "outside.png"
    secret.write_bytes(png((1, 2, 3)))
    name = str(secret) if spelling == "absolute" else "../outside.png"
    data = tmp_path / "q.jsonl"
    data.write_text(_vqa_row(image_path="in.png") + _vqa_row(image_path=name))
    out = tmp_path / "o.parquet"
    code, output = invoke("vqa-import", data, "--lang", "en", "--image-root", root, "-o", out)
    assert_user_error(code, output, "outside", str(root))
    assert not out.exists()


# --- eval: adapter configs of the wrong types, adapters with keys the base does not have ------------------------


def _lm_adapter(base: Path, out: Path) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    get_peft_model(
        AutoModelForCausalLM.from_pretrained(base), LoraConfig(r=2, target_modules=["q_proj", "v_proj"])
    ).save_pretrained(out)
    return out


def _eval_adapter(inputs, tmp_path, adapter):
    out = tmp_path / "s.parquet"
    code, output = invoke(
        "eval", "--model", inputs["lm"], "--data", f"x={inputs['tagged']}", "--adapter", adapter, "-o", out
    )
    return code, output, out


@pytest.mark.parametrize("field, value", [("r", "two"), ("target_modules", 5), ("lora_alpha", [1]), ("peft_type", 3)])
def test_an_adapter_config_with_a_field_of_the_wrong_type(field, value, inputs, tmp_path):
    adapter = _lm_adapter(inputs["lm"], tmp_path / "a")
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps({**config, field: value}))
    code, output, out = _eval_adapter(inputs, tmp_path, adapter)
    assert_user_error(code, output, str(adapter))
    assert not out.exists()


def test_an_adapter_with_keys_the_base_lacks_is_refused(inputs, tmp_path):
    """A VQA adapter on the LM base: its vision keys have nowhere to go (peft only warns)."""
    from safetensors.torch import load_file, save_file

    adapter = _lm_adapter(inputs["lm"], tmp_path / "a")
    weights = load_file(adapter / "adapter_model.safetensors")
    key = next(iter(weights))
    weights["base_model.model.vision_tower.proj.lora_A.weight"] = weights[key].clone()
    save_file(weights, adapter / "adapter_model.safetensors", metadata={"format": "pt"})
    code, output, out = _eval_adapter(inputs, tmp_path, adapter)
    assert_user_error(code, output, "does not fit the model")
    assert not out.exists()


# --- replay-train --resume: every field of state.json checked, metrics.parquet of its own schema -----------------


@pytest.fixture(scope="module")
def replay_run(inputs, tmp_path_factory) -> dict:
    """A two-task replay-train run of the tiny LM whose last task is not recorded as done."""
    root = tmp_path_factory.mktemp("replay")
    shutil.copytree(inputs["lm"], root / "base")
    argv = ["replay-train", "--base", root / "base", "--task", f"en={inputs['tagged']}"]
    argv += ["--task", f"hi={inputs['tagged']}", "--strategy", "naive", "--steps-per-task", "1"]
    argv += ["--batch-size", "2", "--max-length", "16", "--device", "cpu", "-o"]
    code, output = invoke(*argv, root / "run")
    assert code == 0, output
    (root / "run" / "done.json").unlink()
    state = json.loads((root / "run" / "state.json").read_text())
    (root / "run" / "state.json").write_text(json.dumps({**state, "done": state["done"][:1]}))
    return {"run": root / "run", "argv": argv}


def _state(change):
    def damage(run: Path) -> None:
        state = json.loads((run / "state.json").read_text())
        change(state)
        (run / "state.json").write_text(json.dumps(state))

    return damage


def _record(change):
    def damage(run: Path) -> None:
        record = json.loads((run / "cstool-run.json").read_text())
        change(record)
        (run / "cstool-run.json").write_text(json.dumps(record))

    return damage


def _raw_state(text: str):
    return lambda run: (run / "state.json").write_text(text)


def _other_metrics(run: Path) -> None:
    pq.write_table(pa.table({"step": [1], "loss": ["high"]}), run / "metrics.parquet")


STATE_DAMAGE = {
    "steps a list": (_state(lambda s: s.update(steps=[1, 2])), "steps is not an object"),
    "examples a list": (_state(lambda s: s.update(examples=["en"])), "examples"),
    "record options a list": (_record(lambda r: r.update(options=[1])), "run record"),
    "steps a string": (_state(lambda s: s.update(steps={"en": "one"})), "steps"),
    "seconds a string": (_state(lambda s: s.update(train_seconds="fast")), "train_seconds"),
    "done names unknown task": (_state(lambda s: s.update(done=["zz"])), "done tasks"),
    "100,000 nested arrays": (_raw_state('{"done": ' + _deep(100_000) + "}"), "the replay-train state"),
    "metrics of another schema": (_other_metrics, "metrics.parquet"),
}


@pytest.mark.parametrize("case", list(STATE_DAMAGE))
def test_replay_resume_validates_the_whole_state_first(case, replay_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(replay_run["run"], run)
    damage, said = STATE_DAMAGE[case]
    damage(run)
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    code, output = invoke(*replay_run["argv"], run, "--resume")
    assert_user_error(code, output, said, str(run))
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before


# --- environment: Stanza resources without Stanza's structure, a cache home that cannot hold a cache -------------

RESOURCES = {
    "a list": "[1, 2]",
    "language a number": '{"en": 5}',
    "processors a number": '{"en": {"pos": 5, "tokenize": 5}}',
    "alias a number": '{"en": {"alias": 5}}',
    "lang_name a list": '{"en": {"lang_name": [1], "pos": {"x": 1}}}',
}


@pytest.mark.parametrize("case", list(RESOURCES))
def test_a_stanza_dir_whose_resources_lack_stanzas_structure(case, tmp_path):
    res = tmp_path / "stanza"
    res.mkdir()
    (res / "resources.json").write_text(RESOURCES[case])
    text = tmp_path / "t.txt"
    text.write_text("a b\n")
    out = tmp_path / "o.parquet"
    for argv in (["--stanza-dir", res], []):
        env = {} if argv else {"STANZA_RESOURCES_DIR": str(res)}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            code, output = invoke("tag", text, "--lang", "en", "--offline", *argv, "-o", out)
        finally:
            for k, v in old.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        assert_user_error(code, output)
        assert not out.exists()


def _unwritable(folder: str) -> bool:
    try:
        Path(folder, ".cstool-probe").mkdir()
    except OSError:
        return True
    Path(folder, ".cstool-probe").rmdir()
    return False


@pytest.mark.parametrize("how", ["a file", "read-only"])
def test_a_cache_home_that_cannot_hold_the_cache(how, quick_tagger, tmp_path, monkeypatch):
    home = tmp_path / "cache"
    if how == "a file":
        home.write_text("not a folder")
    elif os.geteuid() == 0:  # root writes through chmod 500: use a folder no one may write in (sysfs)
        home = Path("/sys/cstool-cache")
        if not _unwritable("/sys"):
            pytest.skip("no folder here that root cannot write in")
    else:
        home.mkdir()
        home.chmod(0o500)
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    text = tmp_path / "t.txt"
    text.write_text("a b\n")
    out = tmp_path / "o.parquet"
    try:
        code, output = invoke("tag", text, "--lang", "en", "--pos-model", quick_tagger, "-o", out)
    finally:
        home.chmod(0o700) if home.is_dir() and home.is_relative_to(tmp_path) else None
    if code != 0:  # refused in one line naming the cache, or tagged without a cache
        assert_user_error(code, output, str(home))
        assert not out.exists()
    else:
        assert pq.read_table(out).num_rows == 1


# --- a full disk in the folder writers the write-failure tests do not run ---------------------------------------

FULL_DISK = {
    "report": lambda i, out: ["report", i["run"], "-o", out / "report"],
    "vqa-easy": lambda i, out: [
        "vqa-easy",
        "--langs",
        "en",
        "--train-images",
        "4",
        "--dev-images",
        "4",
        "-o",
        out / "v",
    ],
    "distill": lambda i, out: [
        *("distill", i["tagged"], "--student", i["lm"], "--max-steps", "1", "--block-size", "16"),
        *("--batch-size", "2", "--device", "cpu", "-o", out / "d"),
    ],
}


@pytest.mark.parametrize(
    "command",
    [
        "report",
        "vqa-easy",
        "distill",
    ],
)
def test_a_full_disk_leaves_no_partial_folder(command, inputs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    args = FULL_DISK[command](inputs, out)
    failed = _cstool(args, limit=4096)
    assert_user_error(failed.returncode, failed.stderr, "cannot write")
    assert _listing(out) == []
    again = _cstool(args)
    assert again.returncode == 0, again.stderr


# --- numbers without bounds, on the command line and in a config file -------------------------------------------

TORCH = lambda i: [
    *("distill", i["tagged"], "--student", i["lm"], "--max-steps", "1", "--block-size", "16", "--device", "cpu")
]
REPLAY = lambda i: ["replay-train", "--base", i["lm"], "--task", f"en={i['tagged']}", "--task", f"hi={i['tagged']}"]
BOUNDS = {
    "--threads 100000": (lambda i: ["--threads", "100000", *TORCH(i)], None, "--threads must be at most"),
    "threads: 100000": (TORCH, "threads: 100000\n", "threads must be at most"),
    "OMP_NUM_THREADS=999999": (TORCH, "OMP", "OMP_NUM_THREADS must be at most"),
    "--lora-dropout 1.5": (lambda i: [*REPLAY(i), "--lora-dropout", "1.5"], None, "--lora-dropout must be below 1"),
    "--seed huge (replay-train)": (lambda i: [*REPLAY(i), "--seed", str(2**64)], None, "--seed must be at most"),
}


@pytest.mark.parametrize("case", list(BOUNDS))
def test_a_number_without_bounds_is_one_line(case, inputs, tmp_path, monkeypatch):
    argv, config, said = BOUNDS[case]
    extra = []
    if config == "OMP":
        monkeypatch.setenv("OMP_NUM_THREADS", "999999")
    elif config:
        (tmp_path / "c.yaml").write_text(config)
        extra = ["--config", tmp_path / "c.yaml"]
    code, output = invoke(*argv(inputs), *extra, "-o", tmp_path / "out")
    assert_user_error(code, output, said)
    assert not (tmp_path / "out").exists()


# --- damaged provenance in the stages the provenance tests do not run --------------------------------------------

SCHEMA_STAGES = {  # provenance inside the Parquet schema of the tagged input
    "tag --retag": lambda i, bad, tmp: [
        "tag",
        bad,
        "--lang",
        "en",
        "--retag",
        "--pos-model",
        i["tagger"],
        "-o",
        tmp / "o.parquet",
    ],
    "train-tokenizer": lambda i, bad, tmp: ["train-tokenizer", bad, "--vocab-size", "300", "-o", tmp / "o"],
    "teacher-cache": lambda i, bad, tmp: [
        "teacher-cache",
        bad,
        "--teacher",
        i["lm"],
        "--block-size",
        "16",
        "-o",
        tmp / "o",
    ],
    "distill": lambda i, bad, tmp: ["distill", bad, "--student", i["lm"], "--block-size", "16", "-o", tmp / "o"],
    "lexicon": lambda i, bad, tmp: ["lexicon", "--source", bad, "--target", i["tagged"], "-o", tmp / "o.tsv"],
}
SIDECAR_STAGES = {  # provenance in FILE.cstool.json beside an input that is not an artifact
    "tag (CoNLL-U)": ("tiny.conllu", lambda i, bad, tmp: ["tag", bad, "--lang", "en", "-o", tmp / "o.parquet"]),
    "lexicon --dictionary": (
        "lexicon.tsv",
        lambda i, bad, tmp: ["lexicon", "--dictionary", bad, "-o", tmp / "o.tsv"],
    ),
    "tag --pos-model": (
        "en.pt",
        lambda i, bad, tmp: [
            "tag",
            i["conllu"],
            "--lang",
            "en",
            "--retag",
            "--pos-model",
            bad,
            "-o",
            tmp / "o.parquet",
        ],
    ),
}
RAW = {"not utf-8": b"\xff\xfe{", "not json": b"{half"}


@pytest.mark.parametrize("raw", list(RAW))
@pytest.mark.parametrize("stage", list(SCHEMA_STAGES) + list(SIDECAR_STAGES))
def test_damaged_provenance_is_one_line_in_every_stage(stage, raw, inputs, quick_tagger, tmp_path):
    from tests.stages.test_damaged_provenance import damaged_artifact

    (tmp_path / "in").mkdir()
    if stage in SCHEMA_STAGES:
        bad = damaged_artifact(inputs["tagged"], tmp_path / "in" / "tagged.parquet", RAW[raw])
        where, argv = bad, SCHEMA_STAGES[stage]
    else:
        name, argv = SIDECAR_STAGES[stage]
        bad = tmp_path / "in" / name
        shutil.copy(
            {"tiny.conllu": inputs["conllu"], "lexicon.tsv": inputs["lexicon"], "en.pt": quick_tagger}[name], bad
        )
        where = bad.parent / (name + ".cstool.json")
        where.write_bytes(RAW[raw])
    out = tmp_path / "out"
    out.mkdir()
    code, output = invoke(*argv({**inputs, "tagger": quick_tagger}, bad, out))
    if code == 0:  # a stage that does not need the input's provenance may use the input
        assert _files(out), output
    else:  # else one line naming the damaged file, and nothing written
        assert_user_error(code, output, f"the cstool provenance of {where} is damaged")
        assert _files(out) == []
