"""eval --task vqa: scoring a prediction column, and greedy generation with a tiny Llava built from a config."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cstool.cli import app
from cstool.io import artifacts
from cstool.vqa.metrics import vqa_accuracy

COLORS = {"red": (255, 0, 0), "blue": (0, 0, 255), "green": (0, 160, 0)}


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    """A tiny LlavaForConditionalGeneration (CLIP vision 32×32 px, 2-layer Llama) + LlavaProcessor, random weights."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    out = tmp_path_factory.mktemp("tiny_vlm")
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<pad>", "<s>", "</s>", "<image>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(
        ["what color is the shape? red blue green", "आकार किस रंग का है? लाल नीला"] * 5, trainer=trainer
    )
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=hf_tok,
        patch_size=8,
        vision_feature_select_strategy="default",
        image_token="<image>",
        num_additional_image_tokens=1,
    )
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
            projection_dim=32,
        ),
        text_config=LlamaConfig(
            vocab_size=len(hf_tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            max_position_embeddings=256,
            bos_token_id=1,
            eos_token_id=2,
            pad_token_id=0,
        ),
        image_token_index=hf_tok.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(out)
    processor.save_pretrained(out)
    return out


def png(rgb) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (48, 48), rgb).save(buf, format="PNG")
    return buf.getvalue()


def vqa_set(path, n=6, **overrides):
    names = list(COLORS)
    cols = {
        "id": [f"q{i}" for i in range(n)],
        "image": [png(COLORS[names[i % 3]]) for i in range(n)],
        "question": ["what color is the shape?" if i % 2 else "आकार किस रंग का है?" for i in range(n)],
        "answers": [[names[i % 3]] for i in range(n)],
        "lang": ["en" if i % 2 else "hi" for i in range(n)],
    }
    cols.update(overrides)
    cols = {k: v for k, v in cols.items() if v is not None}
    pq.write_table(pa.table(cols), path)
    return path


def test_scores_a_prediction_column_without_a_model(tmp_path):
    refs10 = ["2"] * 3 + ["3"] * 7
    data = tmp_path / "preds.parquet"
    pq.write_table(
        pa.table(
            {
                "id": ["a", "b", "c", "d"],
                "prediction": ["२।", "लाल", "Two", "blue"],
                "answers": [refs10, ["लाल"], ["2"], ["red"]],
                "lang": ["hi", "hi", "en", "en"],
            }
        ),
        data,
    )
    out, preds = tmp_path / "scores.parquet", tmp_path / "pred_out.parquet"
    result = CliRunner().invoke(
        app, ["eval", "--task", "vqa", "--data", f"hi={data}", "-o", str(out), "--predictions", str(preds)]
    )
    assert result.exit_code == 0, result.output
    scores = {r["metric"]: r["value"] for r in pq.read_table(out).to_pylist()}
    assert scores["accuracy"] == pytest.approx((0.9 + 1.0 + 1.0 + 0.0) / 4)
    assert scores["examples"] == 4
    per = pq.read_table(preds)
    assert per.schema.remove_metadata().equals(artifacts.VQA_PREDICTIONS)
    assert per.column("accuracy").to_pylist() == pytest.approx([0.9, 1.0, 1.0, 0.0])


def test_official_normalization_is_an_option_and_recorded(tmp_path):
    data = tmp_path / "preds.parquet"
    pq.write_table(
        pa.table(
            {
                "id": ["a", "b", "c", "d"],
                "prediction": ["Yes", "two", "`yes`", "dont"],
                "answers": [["yes"] * 10, ["2"] * 9 + ["3"], ["yes"] * 9 + ["no"], ["don't"] * 10],
                "lang": ["en"] * 4,
            }
        ),
        data,
    )
    got = {}
    for mode in ("multilingual", "official"):
        out = tmp_path / f"{mode}.parquet"
        result = CliRunner().invoke(
            app, ["eval", "--task", "vqa", "--data", f"en={data}", "-o", str(out), "--vqa-normalization", mode]
        )
        assert result.exit_code == 0, result.output
        got[mode] = {r["metric"]: r["value"] for r in pq.read_table(out).to_pylist()}["accuracy"]
        assert artifacts.read_provenance(out)["options"]["vqa_normalization"] == mode
    # multilingual: every one matches ("dont" = "don't" without apostrophes);
    # official: "Yes" and "dont" meet ten identical references, which the script leaves as they are.
    assert got == pytest.approx({"multilingual": 1.0, "official": 0.5})
    result = CliRunner().invoke(
        app, ["eval", "--task", "vqa", "--data", f"en={data}", "-o", str(tmp_path / "x.parquet"),
              "--vqa-normalization", "exact"]
    )  # fmt: skip
    assert result.exit_code == 2 and "--vqa-normalization must be one of multilingual, official" in result.output


def test_predictions_without_references_are_refused(tmp_path):
    out = tmp_path / "scores.parquet"
    data = tmp_path / "preds.parquet"
    pq.write_table(
        pa.table({"id": ["a", "b"], "prediction": ["x", "y"], "answers": pa.array([["x"], []], pa.list_(pa.string()))}),
        data,
    )
    result = CliRunner().invoke(app, ["eval", "--task", "vqa", "--data", f"en={data}", "-o", str(out)])
    assert result.exit_code == 2 and "no reference answers (ids b)" in result.output and not out.exists()
    pq.write_table(pa.table({"id": ["a"], "prediction": ["x"]}), data)
    result = CliRunner().invoke(app, ["eval", "--task", "vqa", "--data", f"en={data}", "-o", str(out)])
    assert result.exit_code == 2 and "'answers'" in result.output and not out.exists()
    pq.write_table(pa.table({"id": ["a", "b"], "prediction": ["x", "y"], "answers": pa.array([1, 2])}), data)
    result = CliRunner().invoke(app, ["eval", "--task", "vqa", "--data", f"en={data}", "-o", str(out)])
    assert result.exit_code == 2 and "expected list<string>" in result.output and not out.exists()


def test_a_string_answers_column_is_one_reference_per_row(tmp_path):
    data, out = tmp_path / "preds.parquet", tmp_path / "scores.parquet"
    pq.write_table(pa.table({"prediction": ["लाल।", "two", "blue"], "answers": ["लाल", "2", "green"]}), data)
    result = CliRunner().invoke(app, ["eval", "--task", "vqa", "--data", f"en={data}", "-o", str(out)])
    assert result.exit_code == 0, result.output
    scores = {r["metric"]: r["value"] for r in pq.read_table(out).to_pylist()}
    assert scores["accuracy"] == pytest.approx(2 / 3)  # set named en: "two" → "2" by the English rules


def test_generation_is_batched_like_one_by_one(tiny_vlm, tmp_path):
    data = vqa_set(tmp_path / "vqa.parquet", n=7)
    results = {}
    for bs in (1, 4):
        out, preds = tmp_path / f"s{bs}.parquet", tmp_path / f"p{bs}.parquet"
        result = CliRunner().invoke(
            app,
            [
                "eval",
                "--task",
                "vqa",
                "--model",
                str(tiny_vlm),
                "--data",
                f"mix={data}",
                "--batch-size",
                str(bs),
                "--max-new-tokens",
                "4",
                "-o",
                str(out),
                "--predictions",
                str(preds),
            ],
        )
        assert result.exit_code == 0, result.output
        results[bs] = (pq.read_table(out).to_pylist(), pq.read_table(preds).to_pylist())
    assert [r["prediction"] for r in results[1][1]] == [r["prediction"] for r in results[4][1]]
    rows = results[4][1]
    assert any(r["prediction"] for r in rows)  # the random model does generate text
    hand = [vqa_accuracy(r["prediction"], r["answers"], r["lang"]) for r in rows]
    accuracy = {r["metric"]: r["value"] for r in results[4][0]}["accuracy"]
    assert accuracy == pytest.approx(sum(hand) / len(hand))


def test_vqa_bad_inputs(tiny_vlm, tiny_lm, tmp_path):
    out = tmp_path / "scores.parquet"
    good = vqa_set(tmp_path / "vqa.parquet", n=3)
    result = CliRunner().invoke(
        app, ["eval", "--task", "vqa", "--model", str(tiny_lm), "--data", f"en={good}", "-o", str(out)]
    )
    assert result.exit_code == 2 and "image-text-to-text" in result.output
    broken = vqa_set(tmp_path / "broken.parquet", n=3, image=[png((1, 2, 3)), b"not an image", png((0, 0, 0))])
    result = CliRunner().invoke(
        app, ["eval", "--task", "vqa", "--model", str(tiny_vlm), "--data", f"en={broken}", "-o", str(out)]
    )
    assert result.exit_code == 2 and "row q1" in result.output
    paths = vqa_set(tmp_path / "paths.parquet", n=2, image=None)
    pq.write_table(pq.read_table(paths).append_column("image_path", pa.array(["a.png", "gone.png"])), paths)
    (tmp_path / "a.png").write_bytes(png((255, 0, 0)))
    result = CliRunner().invoke(
        app, ["eval", "--task", "vqa", "--model", str(tiny_vlm), "--data", f"en={paths}", "-o", str(out)]
    )
    assert result.exit_code == 2 and "gone.png" in result.output
    empty_q = vqa_set(tmp_path / "q.parquet", n=2, question=["what?", "  "])
    result = CliRunner().invoke(
        app, ["eval", "--task", "vqa", "--model", str(tiny_vlm), "--data", f"en={empty_q}", "-o", str(out)]
    )
    assert result.exit_code == 2 and "questions are empty (ids q1)" in result.output
    assert not out.exists()
