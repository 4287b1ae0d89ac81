"""vqa-easy: every easy-vqa question and answer is translated, gold tokens/UPOS are well formed, image
splits are disjoint, and cstool switch code-switches the questions with the lexicon written alongside."""

from __future__ import annotations

import hashlib
import unicodedata

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cstool.cli import app
from cstool.io.artifacts import VQA
from cstool.text.lexicon import UPOS_TAGS
from cstool.vqa import easyvqa

UPOS = set(UPOS_TAGS)

# Marathi genitive of each shape ("of the circle"): the form the "what is the color of the {shape}?" template uses.
MR_GENITIVE = {"circle": "वर्तुळाचा", "rectangle": "आयताचा", "triangle": "त्रिकोणाचा"}


def _devanagari(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and all("DEVANAGARI" in unicodedata.name(ch, "") for ch in letters)


def test_every_question_of_the_package_matches_a_template_and_every_answer_is_translated():
    import easy_vqa

    parse = easyvqa.template_parser()
    questions = easy_vqa.get_train_questions()[0] + easy_vqa.get_test_questions()[0]
    unmatched = {q for q in questions if q not in parse}
    assert not unmatched
    used = {parse[q][0] for q in questions}
    assert used == set(easyvqa.TEMPLATES) and len(used) == 24
    for lang in ("hi", "mr"):
        assert set(easyvqa.ANSWERS[lang]) == set(easy_vqa.get_answers())
        translations = list(easyvqa.ANSWERS[lang].values())
        assert len(set(translations)) == 13 and all(_devanagari(a) for a in translations)


@pytest.mark.parametrize("lang", ["en", "hi", "mr"])
def test_rendered_questions_have_gold_tokens_and_upos(lang):
    texts = set()
    for template in easyvqa.TEMPLATES:
        values = easyvqa.COLORS if "{color}" in template else easyvqa.SHAPES if "{shape}" in template else [None]
        for value in values:
            text, tokens, upos, lemmas = easyvqa.render(template, lang, value)
            assert len(tokens) == len(upos) == len(lemmas) and tokens[-1] == "?" and upos[-1] == "PUNCT"
            assert set(upos) <= UPOS and "{" not in text
            assert text.replace("?", " ?").split() == tokens
            if lang == "en":
                assert text == template.replace("{color}", value or "").replace("{shape}", value or "")
            else:
                assert _devanagari(text)
                # The slot word is the answer word itself, or (Marathi "the colour of the {shape}") its
                # genitive, whose lemma is the answer word; a template without a slot holds no answer word.
                answer_word = easyvqa.ANSWERS[lang][value] if value else None
                form = MR_GENITIVE[value] if "{shape_gen}" in easyvqa.TEMPLATES[template][lang] else answer_word
                slot = [t for t, lemma in zip(tokens, lemmas) if lemma == answer_word]
                assert slot == ([form] if value else []), (template, value, tokens)
            texts.add(text)
    assert len(texts) == 9 * 8 + 10 * 3 + 5  # 9 colour templates, 10 shape templates, 5 without a slot: all distinct


def test_marathi_agreement_follows_the_shape_gender():
    assert easyvqa.render("what color is the {shape}?", "mr", "circle")[0] == "वर्तुळ कोणत्या रंगाचे आहे?"
    assert easyvqa.render("what color is the {shape}?", "mr", "triangle")[0] == "त्रिकोण कोणत्या रंगाचा आहे?"
    assert easyvqa.render("is there a {shape}?", "mr", "circle")[0] == "एखादे वर्तुळ आहे का?"
    assert easyvqa.render("what is the color of the {shape}?", "mr", "rectangle")[0] == "आयताचा रंग कोणता आहे?"
    assert easyvqa.render("what color is the {shape}?", "hi", "triangle")[0] == "त्रिभुज किस रंग का है?"


def test_artifacts_have_the_schema_and_disjoint_image_splits(easy):
    seen: dict[str, set[str]] = {}
    for lang in ("en", "hi", "mr"):
        for split in ("train", "dev"):
            table = pq.read_table(easy[f"{lang}.{split}"])
            assert table.schema.remove_metadata().equals(VQA)
            rows = table.to_pylist()
            assert len(rows) == easy["counts"][lang][split] > 0
            assert {r["lang"] for r in rows} == {lang}
            assert all(len(r["answers"]) == 1 and r["answers"][0] in easyvqa.ANSWERS[lang].values() for r in rows)
            seen[f"{lang}.{split}"] = {hashlib.sha1(r["image"]).hexdigest() for r in rows}
            assert len(seen[f"{lang}.{split}"]) == (250 if split == "train" else 40)
    keys = list(seen)
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            assert not seen[a] & seen[b], (a, b)


def test_same_image_same_answers_across_languages_of_a_question(easy):
    en = pq.read_table(easy["en.train"]).to_pylist()
    hi_words = {v: k for k, v in easyvqa.ANSWERS["hi"].items()}
    hi = pq.read_table(easy["hi.train"]).to_pylist()
    assert {hi_words[r["answers"][0]] for r in hi} == {r["answers"][0] for r in en}  # all 13 answers in both


def test_switch_code_switches_hindi_questions_without_a_tagger(easy, tmp_path):
    out = tmp_path / "hi.cs.parquet"
    result = CliRunner().invoke(
        app,
        [
            "switch",
            str(easy["hi.train"]),
            "--lexicon",
            str(easy["dir"] / "lexicon.hi-en.tsv"),
            "--ratio",
            "1.0",
            "--target-lang",
            "en",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = pq.read_table(out).to_pylist()
    assert all(r["image"] for r in rows) and all(r["answers"] for r in rows)  # VQA columns pass through
    colour = next(r for r in rows if r["question"] == "आकार किस रंग का है?")
    assert colour["text_cs"] == "shape किस color का है?"  # the question's own spacing is kept
    assert colour["answers"] == pq.read_table(easy["hi.train"]).to_pylist()[rows.index(colour)]["answers"]
    assert sum(r["n_switched"] for r in rows) > len(rows)


def test_cli_writes_every_language(tmp_path):
    result = CliRunner().invoke(
        app, ["vqa-easy", "-o", str(tmp_path), "--langs", "hi,mr", "--train-images", "5", "--dev-images", "2"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [  # (and its manifest)
        "hi.dev.parquet",
        "hi.train.parquet",
        "lexicon.hi-en.tsv",
        "lexicon.mr-en.tsv",
        "mr.dev.parquet",
        "mr.train.parquet",
    ]
    result = CliRunner().invoke(app, ["vqa-easy", "-o", str(tmp_path), "--langs", "fr", "--train-images", "0"])
    assert result.exit_code == 2 and "--langs" in result.output and "--train-images" in result.output


def test_marathi_switches_keep_case_suffixes(tmp_path):
    from cstool.stages import vqa_easy
    from cstool.stages.vqa_easy import EasyVqaConfig

    vqa_easy.run(EasyVqaConfig(langs=("mr",), train_images=20, dev_images=2, seed=3), output=tmp_path)
    out = tmp_path / "mr.cs.parquet"
    result = CliRunner().invoke(
        app,
        [
            "switch",
            str(tmp_path / "mr.train.parquet"),
            "--lexicon",
            str(tmp_path / "lexicon.mr-en.tsv"),
            "--ratio",
            "1.0",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = pq.read_table(out).to_pylist()
    # These 20 images ask "... in the image" (चित्रात) questions and hold every genitive of MR_GENITIVE,
    # and at ratio 1 every one of them switches.
    assert sum(r["tokens"].count("चित्रात") for r in rows) > 0
    switched = " ".join(r["text_cs"] for r in rows)
    assert "चित्रात" not in switched and "imageमध्ये" in switched
    genitives = {(src, tgt) for r in rows for src, tgt in zip(r["switch_src"], r["switch_tgt"]) if src.endswith("चा")}
    # a genitive is never stripped to a bare English noun: it keeps its case suffix
    assert genitives == {
        ("आकाराचा", "shapeचा"),
        ("रंगाचा", "colorचा"),
        *((word, f"{shape}चा") for shape, word in MR_GENITIVE.items()),
    }
    assert not [t for r in rows for t in r["tokens_cs"] if t.endswith("चा") and _devanagari(t)]
