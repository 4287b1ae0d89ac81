"""VQA accuracy: the official leave-one-out formula; multilingual normalisation and the official script's."""

from __future__ import annotations

import random
import re

import pytest

from cstool.base.errors import InputError
from cstool.vqa.metrics import normalize_answer, official_answers, official_punctuation, vqa_accuracy, vqa_scores


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


# ---------------------------------------------------------------------------------------------------------
# multilingual: the official script's punctuation symbols and decimals


@pytest.mark.parametrize("symbol", ["`", "+", "=", "<", ">"])
def test_multilingual_removes_the_official_symbols(symbol):
    """`` ` + = < > `` are Unicode symbols, not punctuation, but the official script removes them."""
    assert normalize_answer(f"{symbol}yes{symbol}") == "yes"
    assert vqa_accuracy(f"{symbol}yes{symbol}", ["yes"] * 10) == 1.0
    assert normalize_answer(f"a{symbol}b") == "a b"


def test_multilingual_keeps_a_point_before_a_digit():
    assert normalize_answer(".5") == ".5" and normalize_answer("0.5") == "0.5" and normalize_answer("5.") == "5"
    assert vqa_accuracy(".5", ["5"] * 10) == 0.0  # not a false match with another number
    assert vqa_accuracy("५.५", ["5.5"]) == 1.0 and normalize_answer("१,२००") == "1200"
    assert normalize_answer("$5") == "$5"  # symbols the official script keeps stay too


def test_unknown_normalization_is_refused():
    with pytest.raises(InputError, match="vqa-normalization"):
        vqa_accuracy("a", ["a"], normalization="strict")


# ---------------------------------------------------------------------------------------------------------
# official: the official VQA evaluation script (vqaEval.py), quirks included


class VQAEvalPort:
    """A Python 3 port of vqaEval.py's evaluate() for one question, structured as the script is: answer dicts
    with ids, in-place normalisation, leave-one-out by dict inequality, exact comparison. The contraction table
    is the module's (its entries are spot-checked below); the logic is the script's."""

    from cstool.vqa.metrics import _CONTRACTIONS as contractions

    manualMap = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5"}
    manualMap |= {"six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
    articles = ["a", "an", "the"]
    periodStrip = re.compile(r"(?!<=\d)(\.)(?!\d)")
    commaStrip = re.compile(r"(\d)(\,)(\d)")
    punct = [";", r"/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"]

    def processPunctuation(self, inText):
        outText = inText
        for p in self.punct:
            if (p + " " in inText or " " + p in inText) or (re.search(self.commaStrip, inText) is not None):
                outText = outText.replace(p, "")
            else:
                outText = outText.replace(p, " ")
        outText = self.periodStrip.sub("", outText, count=re.UNICODE)
        return outText

    def processDigitArticle(self, inText):
        outText = []
        tempText = inText.lower().split()
        for word in tempText:
            word = self.manualMap.setdefault(word, word)
            if word not in self.articles:
                outText.append(word)
        for wordId, word in enumerate(outText):
            if word in self.contractions:
                outText[wordId] = self.contractions[word]
        return " ".join(outText)

    def accuracy(self, prediction: str, references: list[str]) -> float:
        answers = [{"answer": a, "answer_id": i + 1} for i, a in enumerate(references)]
        for ansDic in answers:
            ansDic["answer"] = ansDic["answer"].replace("\n", " ").replace("\t", " ").strip()
        resAns = prediction.replace("\n", " ").replace("\t", " ").strip()
        gtAcc = []
        gtAnswers = [ans["answer"] for ans in answers]
        if len(set(gtAnswers)) > 1:
            for ansDic in answers:
                ansDic["answer"] = self.processPunctuation(ansDic["answer"])
                ansDic["answer"] = self.processDigitArticle(ansDic["answer"])
            resAns = self.processPunctuation(resAns)
            resAns = self.processDigitArticle(resAns)
        for gtAnsDatum in answers:
            otherGTAns = [item for item in answers if item != gtAnsDatum]
            matchingAns = [item for item in otherGTAns if item["answer"] == resAns]
            gtAcc.append(min(1, float(len(matchingAns)) / 3))
        return float(sum(gtAcc)) / len(gtAcc)


POOL = [
    "yes", "Yes", "yes.", "yes!", " yes ", "yes\n", "`yes`", "no", "No", "2", "two", "Two", "2.", ".5", "0.5", "5",
    "1,000", "1000", "1000.", "a dog", "dog", "the dog", "Dog", "dogs", "an apple", "apple", "it's", "its", "dont",
    "don't", "cant", "can't", "Im", "im", "i'm", "red-white", "red white", "red - white", "x/y", "x / y", "3:00",
    "hot dog", "hot-dog", "mr. smith", "mr smith", "e.g.", "none", "0", "ten", "10", "yes?", "(yes)", "a+b", "a=b",
    "<b>", "a_b", "a@b", "somebody'd", "somebodyd", "red, white", "red white.", "1,000 dogs", "3.5", "3,5", "",
]  # fmt: skip


def test_official_equals_the_script_on_generated_questions():
    rng = random.Random(0)
    port = VQAEvalPort()
    checked = identical = 0
    for _ in range(3000):
        if rng.random() < 0.3:
            refs = [rng.choice(POOL)] * 10
            identical += 1
        else:
            base = rng.sample(POOL, rng.randint(1, 4))
            refs = [rng.choice(base) for _ in range(10)]
        for pred in (rng.choice(POOL), rng.choice(refs), refs[0].upper(), refs[0] + "."):
            assert vqa_accuracy(pred, refs, lang="en", normalization="official") == pytest.approx(
                port.accuracy(pred, refs), abs=1e-12
            ), (pred, refs)
            checked += 1
    assert checked == 12000 and identical > 500


@pytest.mark.parametrize(
    "prediction,reference",
    [("Yes", "yes"), ("yes.", "yes"), ("two", "2"), ("a dog", "dog"), (" yes\t", "yes")],
)
def test_official_ten_identical_references_are_not_normalised(prediction, reference):
    expected = 1.0 if prediction.strip() == reference else 0.0  # only stripping applies
    assert vqa_accuracy(prediction, [reference] * 10, normalization="official") == expected
    # One differing reference switches normalisation on for the prediction and every reference.
    assert vqa_accuracy(prediction, [reference] * 9 + ["cat"], normalization="official") == 1.0
    # multilingual normalises always (English rules for lang="en").
    assert vqa_accuracy(prediction, [reference] * 10, lang="en") == 1.0


def test_official_contractions_and_punctuation():
    refs = ["don't"] * 5 + ["no"] * 5
    assert vqa_accuracy("dont", refs, normalization="official") == 1.0  # the contraction list
    assert vqa_accuracy("it's", ["its"] * 5 + ["no"] * 5, normalization="official") == 0.0  # not in the list
    assert vqa_accuracy("it's", ["its"] * 5 + ["no"] * 5, lang="en") == 1.0  # multilingual drops apostrophes
    assert VQAEvalPort.contractions["somebody'd"] == "somebodyd" and VQAEvalPort.contractions["Im"] == "I'm"
    assert official_punctuation("red - white") == "red  white" and official_punctuation("red-white") == "red white"
    assert official_punctuation("1,000 dogs.") == "1000 dogs" and official_punctuation(".5") == ".5"
    assert official_punctuation("yes: no; maybe.") == "yes: no maybe"  # ":" is not in the script's list
    assert official_answers("Two Dogs!", ["2 dogs", "two dogs"]) == ("2 dogs", ["2 dogs", "2 dogs"])
    # A single reference: exact match after the same rules (the script's leave-one-out would give 0).
    assert vqa_accuracy("Yes", ["yes"], normalization="official") == 0.0
    assert vqa_accuracy("yes ", ["yes"], normalization="official") == 1.0
