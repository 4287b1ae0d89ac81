"""The small value languages of the command line: shards and key=value specs (NAME=PATH lists are tested
with the stages that take them)."""

from __future__ import annotations

import numpy as np
import pytest

from cstool.base import specs
from cstool.base.errors import ConfigError, CstoolError
from cstool.models.hf import parse_model_spec
from cstool.vqa.vlm import TEXT_KEYS, parse_spec


def test_shards_partition_the_rows():
    assert specs.parse_shard("1/3") == (1, 3)
    assert [specs.parse_shard(s) for s in ("3/3", "1/0", "a/2", "", "1/2/3")] == [None] * 5
    rows = range(10)
    shards = [[r for r in rows if specs.in_shard(r, (i, 3))] for i in range(3)]
    assert shards == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert specs.in_shard(np.arange(10), (1, 3)).tolist() == [r in shards[1] for r in rows]


def test_key_values_map_short_keys_and_convert_values():
    keys = {"layers": "num_hidden_layers", "hidden": "hidden_size"}
    assert specs.parse_key_values(" layers = 2, hidden=64,,", keys, "--x", value=int, example="") == {
        "num_hidden_layers": 2,
        "hidden_size": 64,
    }
    assert specs.parse_key_values("rope=1e4", keys, "--x", other_keys=True, example="") == {"rope": "1e4"}
    assert specs.parse_key_values("", keys, "--x", example="") == {}


def test_key_values_collect_every_problem():
    with pytest.raises(ConfigError) as e:
        specs.parse_key_values("layers, =3, other=1, layers=", {"layers": "n"}, "--x", example="--x layers=2")
    assert e.value.message == (
        "--x item 'layers' is not key=value; --x item '=3' is not key=value; "
        "--x item 'other=1' is not key=value; --x item 'layers=' is not key=value"
    )
    assert e.value.hint == "e.g. --x layers=2"


def test_model_specs_keep_their_messages():
    assert parse_model_spec("llama:layers=4, hidden=128,rope_theta=1e4,tie_word_embeddings=false") == (
        "llama",
        {"num_hidden_layers": 4, "hidden_size": 128, "rope_theta": 10000.0, "tie_word_embeddings": False},
    )
    with pytest.raises(CstoolError) as e:
        parse_model_spec("llama:layers")
    assert e.value.message == "model spec item 'layers' is not key=value"
    assert e.value.hint == "e.g. llama:layers=4,hidden=128,heads=4"
    with pytest.raises(CstoolError, match="has no model type"):
        parse_model_spec(":layers=2")


def test_vlm_specs_keep_their_messages():
    assert parse_spec("layers=2,positions=64", TEXT_KEYS, "--text") == {
        "num_hidden_layers": 2,
        "max_position_embeddings": 64,
    }
    with pytest.raises(ConfigError) as e:
        parse_spec("layers=0,heads=x,image=32", TEXT_KEYS, "--text")
    keys = ", ".join(TEXT_KEYS)
    assert e.value.message == (
        f"--text item 'layers=0' is not KEY=POSITIVE_INT with KEY in {keys}; "
        f"--text item 'heads=x' is not KEY=POSITIVE_INT with KEY in {keys}; "
        f"--text item 'image=32' is not KEY=POSITIVE_INT with KEY in {keys}"
    )
    assert e.value.hint == "e.g. --text layers=2,hidden=64,heads=4"


def test_a_key_given_twice_is_an_error_in_every_spec():
    for spec in ("llama:layers=2,layers=8", "llama:layers=2,num_hidden_layers=8"):
        with pytest.raises(ConfigError, match="repeats"):
            parse_model_spec(spec)
    with pytest.raises(ConfigError, match="repeats 'hidden'"):
        parse_spec("hidden=64,hidden=32", TEXT_KEYS, "--text")


@pytest.mark.parametrize(
    "spec, said",
    [
        ("llama", "does not name its layers, hidden, heads"),  # else LlamaConfig(): ~6.5 B parameters
        ("llama:", "does not name its layers, hidden, heads"),
        ("llama:layers=2,hidden=32", "does not name its heads"),
        ("gpt2:layers=2,n_layer=3,hidden=32,heads=4", "gives num_hidden_layers twice (as n_layer)"),
        ("llama:layers=2,hidden=32,heads=4,rope_scaling=5", "Validation error for field 'rope_parameters'"),
        ("llama:layers=2,hidden=32,heads=4,initializer_range=nan", "got nan"),
    ],
)
def test_model_specs_that_cannot_be_built_are_one_line(spec, said):
    from cstool.models.hf import build_causal_lm

    with pytest.raises(ConfigError) as e:
        build_causal_lm(spec, vocab_size=100, special_ids={})
    assert said in e.value.message and "\n" not in e.value.message


def test_the_parameter_count_is_printed_before_the_model_is_built(capsys):
    from cstool.models.hf import build_causal_lm

    model = build_causal_lm("gpt2:n_layer=2,n_embd=32,n_head=4", vocab_size=100, special_ids={}, seed=1)
    n = sum(p.numel() for p in model.parameters())
    assert model.config.n_layer == 2
    assert f"building a gpt2 model of {n:,} parameters" in " ".join(capsys.readouterr().err.split())
