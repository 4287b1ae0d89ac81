"""The host side of scoring: ids from the fast tokenizer's backend and padding, the same as the plain calls."""

from __future__ import annotations

import pytest

from cstool.lm.scoring import encode_ids, pad_batch
from tests.conftest import byte_bpe

TEXTS = [
    "the cat sits on the mat .",
    "मैं घर जाता हूँ । वह किताब पढ़ती है ।",
    "",
    "   ",
    "a </s> inside <s> the text",
    "मी घरी जातो . ती पुस्तक वाचते . " * 20,
]


@pytest.fixture(scope="module", params=["byte-bpe", "sentencepiece"])
def tokenizer(request, tmp_path_factory):
    if request.param == "byte-bpe":
        return byte_bpe(TEXTS * 3, 300)
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cstool.models.hf import load_tokenizer
    from cstool.stages import train_tokenizer
    from cstool.stages.train_tokenizer import TrainTokenizerConfig

    tmp = tmp_path_factory.mktemp("sp")
    pq.write_table(pa.table({"text": [t for t in TEXTS if t.strip()] * 20}), tmp / "t.parquet")
    train_tokenizer.run(TrainTokenizerConfig(vocab_size=300), data=[str(tmp / "t.parquet")], output=tmp / "tok")
    return load_tokenizer(tmp / "tok")


@pytest.mark.parametrize("special", [False, True])
def test_encode_ids_are_the_tokenizer_call_ids(tokenizer, special):
    assert tokenizer.is_fast
    ids = encode_ids(tokenizer, TEXTS, add_special_tokens=special)
    assert ids == tokenizer(TEXTS, add_special_tokens=special)["input_ids"]


def test_pad_batch_right_pads_with_a_mask_of_the_lengths():
    ids, mask = pad_batch([[5, 6, 7], [8], [9, 10]], "cpu", pad_id=1)
    assert ids.tolist() == [[5, 6, 7], [8, 1, 1], [9, 10, 1]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]
    assert str(ids.dtype) == "torch.int64" and str(mask.dtype) == "torch.int64"


@pytest.mark.parametrize("special", [False, True])
def test_encode_ids_read_whole_texts_after_a_truncating_call(tokenizer, special):
    """Training tokenises with truncation, which transformers leaves set on the backend: scoring after it must
    still read every token (it once read only the first max_length, and bits per byte came out too low)."""
    whole = tokenizer(TEXTS, add_special_tokens=special)["input_ids"]
    assert max(len(i) for i in whole) > 8  # the long text is cut below
    tokenizer(TEXTS, truncation=True, max_length=8)
    tokenizer(TEXTS, padding="max_length", max_length=60)
    assert encode_ids(tokenizer, TEXTS, add_special_tokens=special) == whole
    assert tokenizer(TEXTS, add_special_tokens=special)["input_ids"] == whole
