"""VQA accuracy: the official leave-one-out formula and language-aware normalisation."""

from __future__ import annotations

import pytest

from cstool.errors import InputError
from cstool.vqa.metrics import normalize_answer, vqa_accuracy, vqa_scores


@pytest.mark.parametrize("matches,expected", [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)])
def test_official_examples_ten_references(matches, expected):
    refs = ["yes"] * matches + ["no", "maybe", "nope", "sure", "ok", "yeah", "y", "n", "idk", "uh"][: 10 - matches]
    assert vqa_accuracy("yes", refs) == pytest.approx(expected)


def test_leave_one_out_by_brute_force():
    refs = ["red", "red", "blue", "red dark", "Red.", "green"]
    subsets = [refs[:i] + refs[i + 1 :] for i in range(len(refs))]
    # "Red." normalises to "red": 3 matches among 6 references.
    brute = sum(min(1.0, sum(normalize_answer(r) == "red" for r in s) / 3) for s in subsets) / len(subsets)
    assert vqa_accuracy("RED", refs) == pytest.approx(brute)
    assert brute == pytest.approx((3 * (2 / 3) + 3 * 1.0) / 6)


def test_single_reference_is_exact_match():
    assert vqa_accuracy("circle", ["circle"]) == 1.0
    assert vqa_accuracy("circles", ["circle"]) == 0.0


def test_hindi_danda_and_devanagari_digits():
    assert normalize_answer("३ ।") == "3"
    assert vqa_accuracy("३।", ["3"]) == 1.0
    assert vqa_accuracy("लाल।", ["लाल"]) == 1.0
    assert vqa_accuracy("नीला ॥", ["लाल"]) == 0.0
    # Combining vowel signs are letters, not punctuation: "नीला" and "नील" stay different.
    assert vqa_accuracy("नील", ["नीला"]) == 0.0
    # NFC: decomposed nukta (क + ़) equals the precomposed letter क़.
    assert vqa_accuracy("\u0915\u093c", ["\u0958"]) == 1.0


def test_marathi_answers_with_ten_references():
    refs = ["२", "२।", "2", "दोन", "दोन", "दोन", "तीन", "तीन", "३", "दोन"]
    assert vqa_accuracy("2", refs) == pytest.approx(0.9)  # three of ten are 2 after normalisation
    assert vqa_accuracy("दोन", refs) == pytest.approx(1.0)  # four of ten
    assert vqa_accuracy("तीन।", refs) == pytest.approx(0.6)


def test_english_articles_and_numbers_only_for_english():
    assert vqa_accuracy("two", ["2"], lang="en") == 1.0
    assert vqa_accuracy("the dog", ["dog"], lang="en") == 1.0
    assert vqa_accuracy("the dog", ["dog"], lang="hi") == 0.0
    assert normalize_answer("1,000") == "1000" and normalize_answer("3.5!") == "3.5"


def test_predictions_without_references_are_refused():
    with pytest.raises(InputError, match="ids q2"):
        vqa_scores(["a", "b"], [["a"], []], ids=["q1", "q2"])
    with pytest.raises(InputError, match="no reference"):
        vqa_accuracy("a", [])
    with pytest.raises(InputError):
        vqa_scores(["a"], [["a"], ["b"]])
