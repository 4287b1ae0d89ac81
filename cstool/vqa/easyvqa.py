"""``cstool vqa-easy``: the easy-VQA benchmark (PyPI ``easy-vqa``, MIT: 64×64 images of one coloured shape,
questions from 24 templates, 13 answers) in English, Hindi and Marathi.

Every English question is parsed back into its template and slot (a colour or a shape); the Hindi and
Marathi versions are written from hand-made translations of the 24 templates and of every colour, shape
and yes/no answer below. Each template token carries its gold UPOS (and lemma), so questions come with
``tokens``/``upos``/``lemmas`` and ``cstool switch`` runs on them without a tagger.

Agreement: the colour words qualify आकार ("shape", masculine in both languages), so they take the
masculine direct form, which is also the answer form (हरा, हिरवा, …). Marathi वर्तुळ is neuter, so the
templates pick per shape the agreeing forms of एखादा/एखादे and रंगाचा/रंगाचे and the genitive
(वर्तुळाचा, आयताचा, त्रिकोणाचा).

Splits: the package's training images are shuffled (seeded) and cut into disjoint blocks, one per
language task; its test images likewise give disjoint held-out (dev) blocks. So no image is seen by two
tasks, and no dev image is trained on.
"""

from __future__ import annotations

import os

from cstool.io import artifacts, atomic

VQA = artifacts.VQA

LANGS = ("en", "hi", "mr")
COLORS = ("red", "green", "blue", "black", "gray", "yellow", "teal", "brown")
SHAPES = ("circle", "rectangle", "triangle")

# Answers: word, UPOS.
ANSWERS = {
    "en": {"yes": "yes", "no": "no", **{c: c for c in COLORS}, **{s: s for s in SHAPES}},
    "hi": {
        "yes": "हाँ",
        "no": "नहीं",
        "red": "लाल",
        "green": "हरा",
        "blue": "नीला",
        "black": "काला",
        "gray": "स्लेटी",
        "yellow": "पीला",
        "teal": "मोरपंखी",
        "brown": "भूरा",
        "circle": "वृत्त",
        "rectangle": "आयत",
        "triangle": "त्रिभुज",
    },
    "mr": {
        "yes": "हो",
        "no": "नाही",
        "red": "लाल",
        "green": "हिरवा",
        "blue": "निळा",
        "black": "काळा",
        "gray": "राखाडी",
        "yellow": "पिवळा",
        "teal": "मोरपंखी",
        "brown": "तपकिरी",
        "circle": "वर्तुळ",
        "rectangle": "आयत",
        "triangle": "त्रिकोण",
    },
}


# Slot fillers: name → (form, UPOS, lemma). A colour fills {color}; a shape fills {shape} and the
# agreeing words its language needs.
def _color(lang: str, c: str) -> dict[str, tuple[str, str, str]]:
    return {"color": (ANSWERS[lang][c], "ADJ", ANSWERS[lang][c])}


_MR_SHAPE = {  # genitive "of the X", and the words that agree with X's gender (वर्तुळ n., आयत m., त्रिकोण m.)
    "circle": ("वर्तुळाचा", "एखादे", "रंगाचे"),
    "rectangle": ("आयताचा", "एखादा", "रंगाचा"),
    "triangle": ("त्रिकोणाचा", "एखादा", "रंगाचा"),
}


def _shape(lang: str, s: str) -> dict[str, tuple[str, str, str]]:
    word = ANSWERS[lang][s]
    slots = {"shape": (word, "NOUN", word)}
    if lang == "mr":
        gen, some, of_color = _MR_SHAPE[s]
        slots |= {
            "shape_gen": (gen, "NOUN", word),
            "some": (some, "DET", "एखादा"),
            "of_color": (of_color, "NOUN", "रंग"),
        }
    return slots


# The 24 templates (English as easy-vqa writes them), each with its Hindi and Marathi translation as
# "form/UPOS[/lemma]" tokens; {slot} tokens take form and UPOS from the filler. "?" is a token.
TEMPLATES: dict[str, dict[str, str]] = {
    "does the image contain a {color} shape?": {
        "en": "does/AUX/do the/DET image/NOUN contain/VERB a/DET {color} shape/NOUN ?/PUNCT",
        "hi": "क्या/PART चित्र/NOUN में/ADP {color} आकार/NOUN है/AUX/है ?/PUNCT",
        "mr": "चित्रात/NOUN/चित्र {color} आकार/NOUN आहे/AUX का/PART ?/PUNCT",
    },
    "does the image contain a {shape}?": {
        "en": "does/AUX/do the/DET image/NOUN contain/VERB a/DET {shape} ?/PUNCT",
        "hi": "क्या/PART चित्र/NOUN में/ADP {shape} है/AUX ?/PUNCT",
        "mr": "चित्रात/NOUN/चित्र {shape} आहे/AUX का/PART ?/PUNCT",
    },
    "does the image not contain a {color} shape?": {
        "en": "does/AUX/do the/DET image/NOUN not/PART contain/VERB a/DET {color} shape/NOUN ?/PUNCT",
        "hi": "क्या/PART चित्र/NOUN में/ADP {color} आकार/NOUN नहीं/PART है/AUX ?/PUNCT",
        "mr": "चित्रात/NOUN/चित्र {color} आकार/NOUN नाही/AUX का/PART ?/PUNCT",
    },
    "does the image not contain a {shape}?": {
        "en": "does/AUX/do the/DET image/NOUN not/PART contain/VERB a/DET {shape} ?/PUNCT",
        "hi": "क्या/PART चित्र/NOUN में/ADP {shape} नहीं/PART है/AUX ?/PUNCT",
        "mr": "चित्रात/NOUN/चित्र {shape} नाही/AUX का/PART ?/PUNCT",
    },
    "is a {color} shape present?": {
        "en": "is/AUX/be a/DET {color} shape/NOUN present/ADJ ?/PUNCT",
        "hi": "क्या/PART {color} आकार/NOUN मौजूद/ADJ है/AUX ?/PUNCT",
        "mr": "{color} आकार/NOUN उपस्थित/ADJ आहे/AUX का/PART ?/PUNCT",
    },
    "is a {shape} present?": {
        "en": "is/AUX/be a/DET {shape} present/ADJ ?/PUNCT",
        "hi": "क्या/PART {shape} मौजूद/ADJ है/AUX ?/PUNCT",
        "mr": "{shape} उपस्थित/ADJ आहे/AUX का/PART ?/PUNCT",
    },
    "is no {color} shape present?": {
        "en": "is/AUX/be no/DET {color} shape/NOUN present/ADJ ?/PUNCT",
        "hi": "क्या/PART कोई/DET भी/PART {color} आकार/NOUN मौजूद/ADJ नहीं/PART है/AUX ?/PUNCT",
        "mr": "एकही/DET {color} आकार/NOUN उपस्थित/ADJ नाही/AUX का/PART ?/PUNCT",
    },
    "is no {shape} present?": {
        "en": "is/AUX/be no/DET {shape} present/ADJ ?/PUNCT",
        "hi": "क्या/PART कोई/DET भी/PART {shape} मौजूद/ADJ नहीं/PART है/AUX ?/PUNCT",
        "mr": "एकही/DET {shape} उपस्थित/ADJ नाही/AUX का/PART ?/PUNCT",
    },
    "is there a {color} shape in the image?": {
        "en": "is/VERB/be there/PRON a/DET {color} shape/NOUN in/ADP the/DET image/NOUN ?/PUNCT",
        "hi": "क्या/PART चित्र/NOUN में/ADP कोई/DET {color} आकार/NOUN है/AUX ?/PUNCT",
        "mr": "चित्रात/NOUN/चित्र एखादा/DET {color} आकार/NOUN आहे/AUX का/PART ?/PUNCT",
    },
    "is there a {color} shape?": {
        "en": "is/VERB/be there/PRON a/DET {color} shape/NOUN ?/PUNCT",
        "hi": "क्या/PART कोई/DET {color} आकार/NOUN है/AUX ?/PUNCT",
        "mr": "एखादा/DET {color} आकार/NOUN आहे/AUX का/PART ?/PUNCT",
    },
    "is there a {shape} in the image?": {
        "en": "is/VERB/be there/PRON a/DET {shape} in/ADP the/DET image/NOUN ?/PUNCT",
        "hi": "क्या/PART चित्र/NOUN में/ADP कोई/DET {shape} है/AUX ?/PUNCT",
        "mr": "चित्रात/NOUN/चित्र {some} {shape} आहे/AUX का/PART ?/PUNCT",
    },
    "is there a {shape}?": {
        "en": "is/VERB/be there/PRON a/DET {shape} ?/PUNCT",
        "hi": "क्या/PART कोई/DET {shape} है/AUX ?/PUNCT",
        "mr": "{some} {shape} आहे/AUX का/PART ?/PUNCT",
    },
    "is there not a {color} shape in the image?": {
        "en": "is/VERB/be there/PRON not/PART a/DET {color} shape/NOUN in/ADP the/DET image/NOUN ?/PUNCT",
        "hi": "क्या/PART चित्र/NOUN में/ADP कोई/DET {color} आकार/NOUN नहीं/PART है/AUX ?/PUNCT",
        "mr": "चित्रात/NOUN/चित्र एकही/DET {color} आकार/NOUN नाही/AUX का/PART ?/PUNCT",
    },
    "is there not a {color} shape?": {
        "en": "is/VERB/be there/PRON not/PART a/DET {color} shape/NOUN ?/PUNCT",
        "hi": "क्या/PART कोई/DET {color} आकार/NOUN नहीं/PART है/AUX ?/PUNCT",
        "mr": "एकही/DET {color} आकार/NOUN नाही/AUX का/PART ?/PUNCT",
    },
    "is there not a {shape} in the image?": {
        "en": "is/VERB/be there/PRON not/PART a/DET {shape} in/ADP the/DET image/NOUN ?/PUNCT",
        "hi": "क्या/PART चित्र/NOUN में/ADP कोई/DET {shape} नहीं/PART है/AUX ?/PUNCT",
        "mr": "चित्रात/NOUN/चित्र एकही/DET {shape} नाही/AUX का/PART ?/PUNCT",
    },
    "is there not a {shape}?": {
        "en": "is/VERB/be there/PRON not/PART a/DET {shape} ?/PUNCT",
        "hi": "क्या/PART कोई/DET {shape} नहीं/PART है/AUX ?/PUNCT",
        "mr": "एकही/DET {shape} नाही/AUX का/PART ?/PUNCT",
    },
    "what color is the shape?": {
        "en": "what/DET color/NOUN is/AUX/be the/DET shape/NOUN ?/PUNCT",
        "hi": "आकार/NOUN किस/DET/क्या रंग/NOUN का/ADP है/AUX ?/PUNCT",
        "mr": "आकार/NOUN कोणत्या/DET/कोणता रंगाचा/NOUN/रंग आहे/AUX ?/PUNCT",
    },
    "what color is the {shape}?": {
        "en": "what/DET color/NOUN is/AUX/be the/DET {shape} ?/PUNCT",
        "hi": "{shape} किस/DET/क्या रंग/NOUN का/ADP है/AUX ?/PUNCT",
        "mr": "{shape} कोणत्या/DET/कोणता {of_color} आहे/AUX ?/PUNCT",
    },
    "what is the color of the shape?": {
        "en": "what/PRON is/AUX/be the/DET color/NOUN of/ADP the/DET shape/NOUN ?/PUNCT",
        "hi": "आकार/NOUN का/ADP रंग/NOUN क्या/PRON है/AUX ?/PUNCT",
        "mr": "आकाराचा/NOUN/आकार रंग/NOUN कोणता/PRON आहे/AUX ?/PUNCT",
    },
    "what is the color of the {shape}?": {
        "en": "what/PRON is/AUX/be the/DET color/NOUN of/ADP the/DET {shape} ?/PUNCT",
        "hi": "{shape} का/ADP रंग/NOUN क्या/PRON है/AUX ?/PUNCT",
        "mr": "{shape_gen} रंग/NOUN कोणता/PRON आहे/AUX ?/PUNCT",
    },
    "what is the {color} shape?": {
        "en": "what/PRON is/AUX/be the/DET {color} shape/NOUN ?/PUNCT",
        "hi": "{color} आकार/NOUN कौन/DET सा/PART है/AUX ?/PUNCT",
        "mr": "{color} आकार/NOUN कोणता/PRON आहे/AUX ?/PUNCT",
    },
    "what shape does the image contain?": {
        "en": "what/DET shape/NOUN does/AUX/do the/DET image/NOUN contain/VERB ?/PUNCT",
        "hi": "चित्र/NOUN में/ADP कौन/DET सा/PART आकार/NOUN है/AUX ?/PUNCT",
        "mr": "चित्रात/NOUN/चित्र कोणता/DET आकार/NOUN आहे/AUX ?/PUNCT",
    },
    "what shape is in the image?": {
        "en": "what/DET shape/NOUN is/AUX/be in/ADP the/DET image/NOUN ?/PUNCT",
        "hi": "चित्र/NOUN में/ADP कौन/DET सी/PART/सा आकृति/NOUN है/AUX ?/PUNCT",
        "mr": "चित्रात/NOUN/चित्र कोणती/DET/कोणता आकृती/NOUN आहे/AUX ?/PUNCT",
    },
    "what shape is present?": {
        "en": "what/DET shape/NOUN is/AUX/be present/ADJ ?/PUNCT",
        "hi": "कौन/DET सा/PART आकार/NOUN मौजूद/ADJ है/AUX ?/PUNCT",
        "mr": "कोणता/DET आकार/NOUN उपस्थित/ADJ आहे/AUX ?/PUNCT",
    },
}


def qtype(template: str) -> str:
    if template.startswith("what") and "color" in template.split("{")[0]:
        return "color"
    return "shape" if template.startswith("what") else "yes/no"


def _fillers(lang: str) -> dict[str, tuple[str, dict[str, tuple[str, str, str]]]]:
    return {**{c: ("color", _color(lang, c)) for c in COLORS}, **{s: ("shape", _shape(lang, s)) for s in SHAPES}}


def render(template: str, lang: str, value: str | None) -> tuple[str, list[str], list[str], list[str]]:
    """(question text, tokens, upos, lemmas) of ``template`` in ``lang`` with its slot filled by ``value``."""
    slots = _fillers(lang)[value][1] if value is not None else {}
    tokens, upos, lemmas = [], [], []
    for spec in TEMPLATES[template][lang].split():
        if spec.startswith("{"):
            form, tag, lemma = slots[spec[1:-1]]
        else:
            form, tag, *rest = spec.split("/")
            lemma = rest[0] if rest else form
        tokens.append(form)
        upos.append(tag)
        lemmas.append(lemma)
    text = " ".join(tokens).replace(" ?", "?")
    return text, tokens, upos, lemmas


def template_parser() -> dict[str, tuple[str, str | None]]:
    """Every English question easy-vqa can ask → (template, slot value)."""
    out: dict[str, tuple[str, str | None]] = {}
    for template in TEMPLATES:
        if "{color}" in template:
            out |= {template.replace("{color}", c): (template, c) for c in COLORS}
        elif "{shape}" in template:
            out |= {template.replace("{shape}", s): (template, s) for s in SHAPES}
        else:
            out[template] = (template, None)
    return out


# Content words of the templates (besides the slot words), for the switch lexicon: (word, lemma-level
# English translation, UPOS).
_TEMPLATE_WORDS = {
    "hi": [
        ("चित्र", "image", "NOUN"),
        ("आकार", "shape", "NOUN"),
        ("आकृति", "shape", "NOUN"),
        ("रंग", "color", "NOUN"),
        ("मौजूद", "present", "ADJ"),
    ],
    "mr": [
        ("चित्र", "image", "NOUN"),
        ("आकार", "shape", "NOUN"),
        ("आकृती", "shape", "NOUN"),
        ("रंग", "color", "NOUN"),
        ("उपस्थित", "present", "ADJ"),
        # Marathi fuses case into the word; switched forms keep the suffix, as Marathi-English mixing does
        # (looked up by form before the lemma entries above).
        ("चित्रात", "imageमध्ये", "NOUN"),
        ("आकाराचा", "shapeचा", "NOUN"),
        ("रंगाचा", "colorचा", "NOUN"),
        ("रंगाचे", "colorचे", "NOUN"),
    ]
    + [(gen, f"{shape}{gen[-2:]}", "NOUN") for shape, (gen, _, _) in _MR_SHAPE.items()],
}


def lexicon_rows(source: str, target: str = "en") -> list[tuple[str, str, str]]:
    """(source word, target word, UPOS) rows of a ``cstool switch`` lexicon for the VQA questions: every
    colour (ADJ), shape (NOUN) and template content word. Inflected forms switch through their lemma."""
    rows = [(ANSWERS[source][k], ANSWERS[target][k], "ADJ" if k in COLORS else "NOUN") for k in (*COLORS, *SHAPES)]
    if target == "en":
        rows += _TEMPLATE_WORDS.get(source, [])
    return rows


def write_lexicon(path: str | os.PathLike, source: str, target: str = "en") -> int:
    """Write :func:`lexicon_rows` as a TSV lexicon (source, target, upos) atomically; return the entries."""
    rows = lexicon_rows(source, target)
    atomic.write_text(path, "source\ttarget\tupos\n" + "".join(f"{s}\t{t}\t{u}\n" for s, t, u in rows))
    return len(rows)
