#!/usr/bin/env python3
"""Write the embedded demo corpus of cstool: parallel English / Hindi / Marathi sentences with gold UPOS.

Everything comes from the hand-written bilingual vocabulary and the sentence templates in this file; the
output is deterministic (fixed seed), so ``python examples/demo/make_data.py`` rewrites the same files:

  data/{en,hi,mr}.{train,dev}.conllu   gold tokens, lemmas, UPOS and a simple dependency tree
  data/{en,hi,mr}.{train,dev}.txt      the same sentences as raw text, one per line
  data/lexicon.hi-en.tsv, data/lexicon.mr-en.tsv   word form -> English, with UPOS

Conventions
* Hindi: postpositions are separate ADP tokens (``लड़के ने``, ``घर में``, ``के पास``), ``है/हैं``, ``रहा`` AUX,
  ``नहीं`` PART, verb lemmas are stems as in UD Hindi (``खा``, ``पढ़``).
* Marathi: case suffixes are written fused, as Marathi writes them (``घरात``, ``मुलाने``, ``मुलीकडे``); the
  whole word is tagged by its head (NOUN/PROPN/PRON) and lemmatised to the bare noun; ``आहे``, ``नाही`` AUX;
  verb lemmas are infinitives (``खाणे``).
* English: ``is/are`` AUX (copula and progressive), ``does/do`` AUX, ``not`` PART, ``'s`` PART,
  ``has/have`` VERB.
* Trees: every phrase head attaches to the predicate (verb, or the nominal/adjectival predicate of a copula
  clause, which is the UD analysis); determiners, adjectives, numerals, postpositions and possessors attach
  inside their noun phrase.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass, field
from pathlib import Path

SEED = 7
DEV_EVERY = 10  # every 10th sentence (after shuffling) goes to dev

# ---------------------------------------------------------------------------------------------------------
# Tokens, phrases, sentences
# ---------------------------------------------------------------------------------------------------------


@dataclass
class T:
    """One syntactic word. ``head`` is a local index inside its phrase; -1 marks the phrase head."""

    form: str
    lemma: str
    upos: str
    rel: str = "dep"
    head: int = -1
    glue: bool = False  # no space after this word (English "boy" before "'s")


Phrase = list  # list[T], exactly one with head == -1


def w(form: str, lemma: str, upos: str, rel: str = "dep", head: int = -1, glue: bool = False) -> T:
    return T(form, lemma, upos, rel, head, glue)


@dataclass
class Sent:
    tokens: list[T] = field(default_factory=list)
    heads: list[int] = field(default_factory=list)
    rels: list[str] = field(default_factory=list)
    text: str = ""


def clause(parts: list[tuple[Phrase, str]], punct: str) -> Sent:
    """Assemble phrases (in surface order) into a sentence; the phrase with rel 'root' is the predicate."""
    toks: list[T] = []
    spans = []
    for phrase, rel in parts:
        heads = [i for i, t in enumerate(phrase) if t.head == -1]
        assert len(heads) == 1, [t.form for t in phrase]
        spans.append((len(toks), heads[0], rel))
        toks.extend(phrase)
    roots = [off + h for off, h, rel in spans if rel == "root"]
    assert len(roots) == 1
    root = roots[0]
    s = Sent()
    for (off, h, rel), (phrase, _) in zip(spans, parts):
        for i, t in enumerate(phrase):
            if i == h:
                s.heads.append(0 if rel == "root" else root + 1)
                s.rels.append(rel)
            else:
                s.heads.append(off + t.head + 1)
                s.rels.append(t.rel)
    s.tokens = toks
    s.tokens.append(w(punct, punct, "PUNCT"))
    s.heads.append(root + 1)
    s.rels.append("punct")
    s.tokens[-2].glue = True
    # surface text; English sentences start with a capital
    first = s.tokens[0]
    if first.form[:1].islower():
        first.form = first.form[0].upper() + first.form[1:]
    s.text = "".join(t.form + ("" if t.glue else " ") for t in s.tokens).strip()
    return s


def one(form: str, lemma: str, upos: str) -> Phrase:
    return [w(form, lemma, upos)]


# ---------------------------------------------------------------------------------------------------------
# Agreement keys
#   Hindi:   ms fs mp fp           (masculine/feminine x singular/plural)
#   Marathi: ms fs ns mp fp np, 1p (first person plural, "आम्ही")
# ---------------------------------------------------------------------------------------------------------

HI_IDX = {"ms": 0, "fs": 1, "mp": 2, "fp": 3}


def hi_adj(base: str, key: str, inflects: bool, oblique: bool = False, fem: str | None = None) -> str:
    """Hindi adjective agreement: -ā adjectives inflect (बड़ा/बड़ी/बड़े), others do not (सुंदर)."""
    if not inflects:
        return base
    stem = base[:-1]
    if key[0] == "f":
        return fem or stem + "ी"
    if key == "mp" or oblique:
        return stem + "े"
    return base


def mr_adj(base: str, key: str, inflects: bool, obl: str | None = None) -> str:
    """Marathi adjective agreement: -ā adjectives (मोठा) inflect by gender and number, others do not."""
    if not inflects:
        return base
    stem = base[:-1]
    if key == "1p":
        key = "mp"
    return {
        "ms": base,
        "fs": stem + "ी",
        "ns": stem + "े",
        "mp": stem + "े",
        "fp": obl or stem + "्या",
        "np": stem + "ी",
    }[key]


# ---------------------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Adj:
    en: str
    hi: str
    hi_inf: bool
    mr: str
    mr_inf: bool
    hi_fem: str | None = None  # irregular feminine (नया -> नई)
    mr_fp: str | None = None  # irregular feminine plural (पांढरा -> पांढऱ्या)


ADJ = {
    "big": Adj("big", "बड़ा", True, "मोठा", True),
    "small": Adj("small", "छोटा", True, "लहान", False),
    "good": Adj("good", "अच्छा", True, "चांगला", True),
    "new": Adj("new", "नया", True, "नवा", True, hi_fem="नई"),
    "old": Adj("old", "पुराना", True, "जुना", True),
    "tall": Adj("tall", "लंबा", True, "उंच", False),
    "beautiful": Adj("beautiful", "सुंदर", False, "सुंदर", False),
    "red": Adj("red", "लाल", False, "लाल", False),
    "black": Adj("black", "काला", True, "काळा", True),
    "white": Adj("white", "सफ़ेद", False, "पांढरा", True, mr_fp="पांढऱ्या"),
    "sweet": Adj("sweet", "मीठा", True, "गोड", False),
    "hot": Adj("hot", "गरम", False, "गरम", False),
    "cold": Adj("cold", "ठंडा", True, "थंड", False),
    "clean": Adj("clean", "साफ़", False, "स्वच्छ", False),
    "happy": Adj("happy", "ख़ुश", False, "आनंदी", False),
    "hungry": Adj("hungry", "भूखा", True, "भुकेला", True),
    "clever": Adj("clever", "होशियार", False, "हुशार", False),
    "heavy": Adj("heavy", "भारी", False, "जड", False),
    "fresh": Adj("fresh", "ताज़ा", True, "ताजा", True),
    "sick": Adj("sick", "बीमार", False, "आजारी", False),
    "green": Adj("green", "हरा", True, "हिरवा", True),
    "yellow": Adj("yellow", "पीला", True, "पिवळा", True),
}


@dataclass
class Noun:
    """A noun with the forms the templates need.

    hi = (gender, direct sg, oblique sg, direct pl, oblique pl); mr = (gender, direct sg, oblique stem sg,
    direct pl, oblique stem pl, gender of the plural). Marathi case suffixes attach to the oblique stem:
    -ने (agent), -ला (recipient), -कडे (possessor), -चा/-ची/-चे (genitive); plural -नी, -ना.
    """

    key: str
    en: str
    en_pl: str | None
    hi: tuple
    mr: tuple
    kind: str  # person, name, animal, food, thing
    adjs: tuple = ()
    mass: bool = False
    en_generic: str | None = None  # "apples", "milk": object of habitual / negated / question sentences
    gen_pl: tuple | None = None  # (Hindi, Marathi) plural used for the generic object ("केले", "केळी")


def N(key, en, en_pl, hi, mr, kind, adjs=(), mass=False, generic=None, gen_pl=None):
    return Noun(
        key, en, en_pl, hi, mr, kind, tuple(adjs.split()) if isinstance(adjs, str) else adjs, mass, generic, gen_pl
    )


PERSON_ADJ = "tall happy hungry clever sick good"
PEOPLE = [
    N(
        "boy",
        "boy",
        "boys",
        ("m", "लड़का", "लड़के", "लड़के", "लड़कों"),
        ("m", "मुलगा", "मुला", "मुले", "मुलां", "n"),
        "person",
        PERSON_ADJ + " small",
    ),
    N(
        "girl",
        "girl",
        "girls",
        ("f", "लड़की", "लड़की", "लड़कियाँ", "लड़कियों"),
        ("f", "मुलगी", "मुली", "मुली", "मुलीं", "f"),
        "person",
        PERSON_ADJ + " small beautiful",
    ),
    N(
        "mother",
        "mother",
        None,
        ("f", "माँ", "माँ", None, None),
        ("f", "आई", "आई", None, None, None),
        "person",
        "happy hungry sick good",
    ),
    N(
        "brother",
        "brother",
        None,
        ("m", "भाई", "भाई", None, None),
        ("m", "भाऊ", "भावा", None, None, None),
        "person",
        PERSON_ADJ + " small",
    ),
    N(
        "sister",
        "sister",
        None,
        ("f", "बहन", "बहन", None, None),
        ("f", "बहीण", "बहिणी", None, None, None),
        "person",
        PERSON_ADJ + " small",
    ),
    N(
        "teacher",
        "teacher",
        "teachers",
        ("m", "शिक्षक", "शिक्षक", "शिक्षक", "शिक्षकों"),
        ("m", "शिक्षक", "शिक्षका", "शिक्षक", "शिक्षकां", "m"),
        "person",
        "tall happy clever sick good",
    ),
    N(
        "farmer",
        "farmer",
        "farmers",
        ("m", "किसान", "किसान", "किसान", "किसानों"),
        ("m", "शेतकरी", "शेतकऱ्या", "शेतकरी", "शेतकऱ्यां", "m"),
        "person",
        "tall happy hungry sick good",
    ),
    N(
        "woman",
        "woman",
        "women",
        ("f", "औरत", "औरत", "औरतें", "औरतों"),
        ("f", "महिला", "महिले", "महिला", "महिलां", "f"),
        "person",
        "tall happy hungry sick",
    ),
    N(
        "man",
        "man",
        "men",
        ("m", "आदमी", "आदमी", "आदमी", "आदमियों"),
        ("m", "माणूस", "माणसा", "माणसे", "माणसां", "n"),
        "person",
        "tall happy hungry sick good",
    ),
    N(
        "grandmother",
        "grandmother",
        None,
        ("f", "दादी", "दादी", None, None),
        ("f", "आजी", "आजी", None, None, None),
        "person",
        "happy sick good",
    ),
    N(
        "friend",
        "friend",
        "friends",
        ("m", "दोस्त", "दोस्त", "दोस्त", "दोस्तों"),
        ("m", "मित्र", "मित्रा", "मित्र", "मित्रां", "m"),
        "person",
        "tall happy hungry clever sick good",
    ),
]
NAMES = [
    N(
        "Ravi",
        "Ravi",
        None,
        ("m", "रवि", "रवि", None, None),
        ("m", "रवी", "रवी", None, None, None),
        "name",
        "tall happy hungry clever sick",
    ),
    N(
        "Amit",
        "Amit",
        None,
        ("m", "अमित", "अमित", None, None),
        ("m", "अमित", "अमित", None, None, None),
        "name",
        "tall happy hungry clever sick",
    ),
    N(
        "Priya",
        "Priya",
        None,
        ("f", "प्रिया", "प्रिया", None, None),
        ("f", "प्रिया", "प्रिया", None, None, None),
        "name",
        "tall happy hungry clever sick",
    ),
    N(
        "Meena",
        "Meena",
        None,
        ("f", "मीना", "मीना", None, None),
        ("f", "मीना", "मीना", None, None, None),
        "name",
        "tall happy hungry clever sick",
    ),
]
ANIMAL_ADJ = "big small black white hungry sick beautiful"
ANIMALS = [
    N(
        "dog",
        "dog",
        "dogs",
        ("m", "कुत्ता", "कुत्ते", "कुत्ते", "कुत्तों"),
        ("m", "कुत्रा", "कुत्र्या", "कुत्रे", "कुत्र्यां", "m"),
        "animal",
        ANIMAL_ADJ,
    ),
    N(
        "cat",
        "cat",
        "cats",
        ("f", "बिल्ली", "बिल्ली", "बिल्लियाँ", "बिल्लियों"),
        ("f", "मांजर", "मांजरी", "मांजरी", "मांजरीं", "f"),
        "animal",
        ANIMAL_ADJ,
    ),
    N(
        "cow",
        "cow",
        "cows",
        ("f", "गाय", "गाय", "गायें", "गायों"),
        ("f", "गाय", "गायी", "गायी", "गायीं", "f"),
        "animal",
        ANIMAL_ADJ,
    ),
    N(
        "horse",
        "horse",
        "horses",
        ("m", "घोड़ा", "घोड़े", "घोड़े", "घोड़ों"),
        ("m", "घोडा", "घोड्या", "घोडे", "घोड्यां", "m"),
        "animal",
        ANIMAL_ADJ,
    ),
    N(
        "goat",
        "goat",
        "goats",
        ("f", "बकरी", "बकरी", "बकरियाँ", "बकरियों"),
        ("f", "शेळी", "शेळी", "शेळ्या", "शेळ्यां", "f"),
        "animal",
        ANIMAL_ADJ,
    ),
    N(
        "bird",
        "bird",
        None,
        ("f", "चिड़िया", "चिड़िया", None, None),
        ("m", "पक्षी", "पक्ष्या", None, None, None),
        "animal",
        "small beautiful black white",
    ),
    N(
        "elephant",
        "elephant",
        None,
        ("m", "हाथी", "हाथी", None, None),
        ("m", "हत्ती", "हत्ती", None, None, None),
        "animal",
        "big small black sick",
    ),
    N(
        "monkey",
        "monkey",
        None,
        ("m", "बंदर", "बंदर", None, None),
        ("n", "माकड", "माकडा", None, None, None),
        "animal",
        "big small black hungry",
    ),
]
FOODS = [
    N("apple", "apple", "apples", ("m", "सेब"), ("n", "सफरचंद"), "food", "red sweet fresh big green", generic="apples"),
    N(
        "mango",
        "mango",
        "mangoes",
        ("m", "आम"),
        ("m", "आंबा"),
        "food",
        "sweet yellow fresh big",
        generic="mangoes",
        gen_pl=("आम", "आंबे"),
    ),
    N(
        "banana",
        "banana",
        "bananas",
        ("m", "केला"),
        ("n", "केळे"),
        "food",
        "yellow sweet fresh",
        generic="bananas",
        gen_pl=("केले", "केळी"),
    ),
    N("bread", "bread", None, ("f", "रोटी"), ("f", "पोळी"), "food", "hot fresh", mass=True),
    N("rice", "rice", None, ("m", "चावल"), ("m", "भात"), "food", "hot", mass=True),
    N("egg", "egg", "eggs", ("m", "अंडा"), ("n", "अंडे"), "food", "white fresh", generic="eggs", gen_pl=("अंडे", "अंडी")),
    N("laddoo", "laddoo", "laddoos", ("m", "लड्डू"), ("m", "लाडू"), "food", "sweet big", generic="laddoos"),
    N("vegetables", "vegetables", None, ("f", "सब्ज़ी"), ("f", "भाजी"), "food", "fresh green", mass=True),
    N(
        "orange",
        "orange",
        "oranges",
        ("m", "संतरा"),
        ("n", "संत्रे"),
        "food",
        "sweet fresh",
        generic="oranges",
        gen_pl=("संतरे", "संत्री"),
    ),
    N("fish", "fish", None, ("f", "मछली"), ("m", "मासा"), "food", "fresh big", mass=True),
    N("milk", "milk", None, ("m", "दूध"), ("n", "दूध"), "food", "hot cold fresh", mass=True),
    N("water", "water", None, ("m", "पानी"), ("n", "पाणी"), "food", "cold hot clean", mass=True),
    N("tea", "tea", None, ("f", "चाय"), ("m", "चहा"), "food", "hot sweet", mass=True),
    N("grass", "grass", None, ("f", "घास"), ("n", "गवत"), "food", "green fresh", mass=True),
]
THINGS = [
    N(
        "book",
        "book",
        "books",
        ("f", "किताब", "किताब", "किताबें"),
        ("n", "पुस्तक", "पुस्तका", "पुस्तके"),
        "thing",
        "new old big small red heavy good",
        generic="books",
        gen_pl=("किताबें", "पुस्तके"),
    ),
    N(
        "letter",
        "letter",
        "letters",
        ("f", "चिट्ठी"),
        ("n", "पत्र"),
        "thing",
        "new old",
        generic="letters",
        gen_pl=("चिट्ठियाँ", "पत्रे"),
    ),
    N(
        "newspaper",
        "newspaper",
        "newspapers",
        ("m", "अख़बार"),
        ("n", "वर्तमानपत्र"),
        "thing",
        "old",
        generic="the newspaper",
    ),
    N(
        "story",
        "story",
        "stories",
        ("f", "कहानी"),
        ("f", "गोष्ट"),
        "thing",
        "good new",
        generic="stories",
        gen_pl=("कहानियाँ", "गोष्टी"),
    ),
    N("door", "door", None, ("m", "दरवाज़ा"), ("n", "दार"), "thing", "big small black red new old", generic="the door"),
    N("window", "window", None, ("f", "खिड़की"), ("f", "खिडकी"), "thing", "small big clean", generic="the window"),
    N("box", "box", None, ("m", "डिब्बा"), ("f", "पेटी"), "thing", "big small heavy red black", generic="the box"),
    N(
        "clothes",
        "clothes",
        None,
        ("mp", "कपड़े"),
        ("mp", "कपडे"),
        "thing",
        "clean new old white black",
        generic="the clothes",
    ),
    N("plate", "plate", None, ("f", "थाली"), ("n", "ताट"), "thing", "clean big", generic="the plate"),
    N("ball", "ball", "balls", ("f", "गेंद", "गेंद", "गेंदें"), ("m", "चेंडू", "चेंडू", "चेंडू"), "thing", "red white big small new"),
    N("pen", "pen", None, ("f", "क़लम"), ("n", "पेन"), "thing", "new black red"),
    N(
        "bag",
        "bag",
        "bags",
        ("m", "थैला", "थैले", "थैले"),
        ("f", "पिशवी", "पिशवी", "पिशव्या"),
        "thing",
        "heavy new black big",
    ),
    N("house", "house", None, ("m", "घर"), ("n", "घर"), "thing", "big small new old beautiful clean"),
]
NOUNS = {n.key: n for n in PEOPLE + NAMES + ANIMALS + FOODS + THINGS}
PLURAL_ONLY = {"clothes", "vegetables"}  # English plural nouns


def en_indef(n: Noun, adj: str | None = None, definite_ok: bool = True) -> list[str]:
    """English object NP words: 'an apple', 'a sweet mango', 'milk', 'hot tea', 'the clothes', 'the door'."""
    words = ([adj] if adj else []) + [n.en]
    if n.key == "clothes" or (definite_ok and (n.en_generic or "").startswith("the ")):
        return ["the"] + words
    if n.mass:
        return words
    return ["an" if words[0][0] in "aeiou" else "a"] + words


@dataclass
class Place:
    """A location: English PP, Hindi oblique noun + postpositions, Marathi fused locative."""

    key: str
    en_prep: str
    en: str
    hi: tuple  # (oblique form, lemma, postpositions...)
    mr: tuple  # (fused form, lemma)


PLACES = {
    "house": Place("house", "in", "house", ("घर", "घर", "में"), ("घरात", "घर")),
    "garden": Place("garden", "in", "garden", ("बगीचे", "बगीचा", "में"), ("बागेत", "बाग")),
    "school": Place("school", "at", "school", ("स्कूल", "स्कूल", "में"), ("शाळेत", "शाळा")),
    "market": Place("market", "in", "market", ("बाज़ार", "बाज़ार", "में"), ("बाजारात", "बाजार")),
    "kitchen": Place("kitchen", "in", "kitchen", ("रसोई", "रसोई", "में"), ("स्वयंपाकघरात", "स्वयंपाकघर")),
    "room": Place("room", "in", "room", ("कमरे", "कमरा", "में"), ("खोलीत", "खोली")),
    "village": Place("village", "in", "village", ("गाँव", "गाँव", "में"), ("गावात", "गाव")),
    "field": Place("field", "in", "field", ("खेत", "खेत", "में"), ("शेतात", "शेत")),
    "river": Place("river", "in", "river", ("नदी", "नदी", "में"), ("नदीत", "नदी")),
    "table": Place("table", "on", "table", ("मेज़", "मेज़", "पर"), ("टेबलावर", "टेबल")),
    "tree": Place("tree", "under", "tree", ("पेड़", "पेड़", "के", "नीचे"), ("झाडाखाली", "झाड")),
    "bag": Place("bag", "in", "bag", ("थैले", "थैला", "में"), ("पिशवीत", "पिशवी")),
    "box": Place("box", "in", "box", ("डिब्बे", "डिब्बा", "में"), ("पेटीत", "पेटी")),
}

# where each kind of subject may be (location sentences)
PERSON_PLACES = ["house", "garden", "school", "market", "kitchen", "room", "village"]
WHERE = {
    "person": PERSON_PLACES,
    "name": PERSON_PLACES,
    "farmer": ["house", "field", "market", "village"],
    "dog": ["house", "garden", "room", "tree"],
    "cat": ["house", "kitchen", "room", "tree"],
    "cow": ["field", "tree", "village"],
    "horse": ["field", "village"],
    "goat": ["field", "tree"],
    "bird": ["tree", "garden"],
    "elephant": ["river", "village"],
    "monkey": ["tree", "garden"],
    "book": ["table", "bag", "box", "room"],
    "ball": ["garden", "box", "room", "bag"],
    "pen": ["bag", "table", "box"],
    "letter": ["box", "table", "bag"],
    "plate": ["kitchen", "table"],
    "milk": ["kitchen"],
    "bag": ["room", "table"],
}

# Destinations of "go" / "come": English, Hindi (bare oblique noun, lemma), Marathi (form, lemma)
DESTS = {
    "school": (["to", "school"], ("स्कूल", "स्कूल"), ("शाळेत", "शाळा")),
    "market": (["to", "the", "market"], ("बाज़ार", "बाज़ार"), ("बाजारात", "बाजार")),
    "temple": (["to", "the", "temple"], ("मंदिर", "मंदिर"), ("मंदिरात", "मंदिर")),
    "city": (["to", "the", "city"], ("शहर", "शहर"), ("शहरात", "शहर")),
    "home": (["home"], ("घर", "घर"), ("घरी", "घर")),
    "village": (["to", "the", "village"], ("गाँव", "गाँव"), ("गावी", "गाव")),
    "field": (["to", "the", "field"], ("खेत", "खेत"), ("शेतात", "शेत")),
}


@dataclass
class Verb:
    """A verb in the three languages.

    en = (base, 3sg, past, -ing)
    hi = (stem = lemma, past ms/fs/mp/fp, future ms/fs/mp/fp, takes ने in the perfective)
    mr = (stem, infinitive = lemma, future 3sg, 1pl, past stem); present = stem+तो/ते/तात, participle stem+त,
         future 3pl stem+तील, past = past stem + ा/ी/े/े/्या/ी (by agreement), 1pl + ो.
    """

    key: str
    en: tuple
    hi: tuple
    mr: tuple
    objects: tuple = ()


def V(key, en, hi_stem, hi_past, hi_fut, erg, mr_stem, mr_lemma, mr_fut, mr_fut1, mr_past, objects=""):
    return Verb(
        key,
        tuple(en.split()),
        (hi_stem, tuple(hi_past.split()), tuple(hi_fut.split()), erg),
        (mr_stem, mr_lemma, mr_fut, mr_fut1, mr_past),
        tuple(objects.split()),
    )


TRANSITIVE = {
    v.key: v
    for v in [
        V(
            "eat",
            "eat eats ate eating",
            "खा",
            "खाया खाई खाए खाईं",
            "खाएगा खाएगी खाएँगे खाएँगी",
            True,
            "खा",
            "खाणे",
            "खाईल",
            "खाऊ",
            "खाल्ल",
            "apple mango banana bread rice egg laddoo orange fish",
        ),
        V(
            "drink",
            "drink drinks drank drinking",
            "पी",
            "पिया पी पिए पीं",
            "पिएगा पिएगी पिएँगे पिएँगी",
            True,
            "पि",
            "पिणे",
            "पिईल",
            "पिऊ",
            "प्यायल",
            "milk water tea",
        ),
        V(
            "cook",
            "cook cooks cooked cooking",
            "पका",
            "पकाया पकाई पकाए पकाईं",
            "पकाएगा पकाएगी पकाएँगे पकाएँगी",
            True,
            "शिजव",
            "शिजवणे",
            "शिजवेल",
            "शिजवू",
            "शिजवल",
            "rice vegetables fish",
        ),
        V(
            "make",
            "make makes made making",
            "बना",
            "बनाया बनाई बनाए बनाईं",
            "बनाएगा बनाएगी बनाएँगे बनाएँगी",
            True,
            "बनव",
            "बनवणे",
            "बनवेल",
            "बनवू",
            "बनवल",
            "tea bread laddoo",
        ),
        V(
            "read",
            "read reads read reading",
            "पढ़",
            "पढ़ा पढ़ी पढ़े पढ़ीं",
            "पढ़ेगा पढ़ेगी पढ़ेंगे पढ़ेंगी",
            True,
            "वाच",
            "वाचणे",
            "वाचेल",
            "वाचू",
            "वाचल",
            "book letter newspaper story",
        ),
        V(
            "write",
            "write writes wrote writing",
            "लिख",
            "लिखा लिखी लिखे लिखीं",
            "लिखेगा लिखेगी लिखेंगे लिखेंगी",
            True,
            "लिहि",
            "लिहिणे",
            "लिहील",
            "लिहू",
            "लिहिल",
            "letter story",
        ),
        V(
            "wash",
            "wash washes washed washing",
            "धो",
            "धोया धोई धोए धोईं",
            "धोएगा धोएगी धोएँगे धोएँगी",
            True,
            "धु",
            "धुणे",
            "धुईल",
            "धुऊ",
            "धुतल",
            "clothes plate",
        ),
        V(
            "open",
            "open opens opened opening",
            "खोल",
            "खोला खोली खोले खोलीं",
            "खोलेगा खोलेगी खोलेंगे खोलेंगी",
            True,
            "उघड",
            "उघडणे",
            "उघडेल",
            "उघडू",
            "उघडल",
            "door window box",
        ),
        V(
            "sell",
            "sell sells sold selling",
            "बेच",
            "बेचा बेची बेचे बेचीं",
            "बेचेगा बेचेगी बेचेंगे बेचेंगी",
            True,
            "विक",
            "विकणे",
            "विकेल",
            "विकू",
            "विकल",
            "mango banana vegetables fish milk orange",
        ),
        V(
            "bring",
            "bring brings brought bringing",
            "ला",
            "लाया लाई लाए लाईं",
            "लाएगा लाएगी लाएँगे लाएँगी",
            False,
            "आण",
            "आणणे",
            "आणेल",
            "आणू",
            "आणल",
            "apple mango milk water book newspaper vegetables",
        ),
    ]
}
GIVE = V(
    "give",
    "give gives gave giving",
    "दे",
    "दिया दी दिए दीं",
    "देगा देगी देंगे देंगी",
    True,
    "दे",
    "देणे",
    "देईल",
    "देऊ",
    "दिल",
    "book letter mango apple ball pen laddoo milk water banana",
)
INTRANSITIVE = {
    v.key: v
    for v in [
        V(
            "go",
            "go goes went going",
            "जा",
            "गया गई गए गईं",
            "जाएगा जाएगी जाएँगे जाएँगी",
            False,
            "जा",
            "जाणे",
            "जाईल",
            "जाऊ",
            "गेल",
        ),
        V(
            "come",
            "come comes came coming",
            "आ",
            "आया आई आए आईं",
            "आएगा आएगी आएँगे आएँगी",
            False,
            "ये",
            "येणे",
            "येईल",
            "येऊ",
            "आल",
        ),
        V(
            "sleep",
            "sleep sleeps slept sleeping",
            "सो",
            "सोया सोई सोए सोईं",
            "सोएगा सोएगी सोएँगे सोएँगी",
            False,
            "झोप",
            "झोपणे",
            "झोपेल",
            "झोपू",
            "झोपल",
        ),
        V(
            "play",
            "play plays played playing",
            "खेल",
            "खेला खेली खेले खेलीं",
            "खेलेगा खेलेगी खेलेंगे खेलेंगी",
            False,
            "खेळ",
            "खेळणे",
            "खेळेल",
            "खेळू",
            "खेळल",
        ),
        V(
            "run",
            "run runs ran running",
            "दौड़",
            "दौड़ा दौड़ी दौड़े दौड़ीं",
            "दौड़ेगा दौड़ेगी दौड़ेंगे दौड़ेंगी",
            False,
            "धाव",
            "धावणे",
            "धावेल",
            "धावू",
            "धावल",
        ),
        V(
            "sit",
            "sit sits sat sitting",
            "बैठ",
            "बैठा बैठी बैठे बैठीं",
            "बैठेगा बैठेगी बैठेंगे बैठेंगी",
            False,
            "बस",
            "बसणे",
            "बसेल",
            "बसू",
            "बसल",
        ),
        V(
            "walk",
            "walk walks walked walking",
            "चल",
            "चला चली चले चलीं",
            "चलेगा चलेगी चलेंगे चलेंगी",
            False,
            "चाल",
            "चालणे",
            "चालेल",
            "चालू",
            "चालल",
        ),
        V(
            "swim",
            "swim swims swam swimming",
            "तैर",
            "तैरा तैरी तैरे तैरीं",
            "तैरेगा तैरेगी तैरेंगे तैरेंगी",
            False,
            "पोह",
            "पोहणे",
            "पोहेल",
            "पोहू",
            "पोहल",
        ),
    ]
}
# where intransitive activities happen
ACTIVITY_PLACES = {
    "play": ["garden", "house", "school", "field"],
    "sleep": ["house", "room"],
    "sit": ["garden", "room", "house", "tree"],
    "run": ["garden", "field"],
    "swim": ["river"],
}
ANIMAL_ACTIVITIES = {
    "dog": {"sleep": ["house", "tree"], "run": ["garden", "field"], "play": ["garden"]},
    "cat": {"sleep": ["house", "room", "tree"], "play": ["house", "room"]},
    "cow": {"sit": ["tree", "field"], "sleep": ["field"]},
    "horse": {"run": ["field"]},
    "goat": {"sit": ["tree"], "sleep": ["field"]},
    "monkey": {"play": ["garden"], "sit": ["tree"]},
    "elephant": {"swim": ["river"]},
}
ANIMAL_FOOD = {
    "dog": {"eat": ["bread"], "drink": ["water", "milk"]},
    "cat": {"drink": ["milk", "water"], "eat": ["fish"]},
    "cow": {"eat": ["grass"], "drink": ["water"]},
    "horse": {"eat": ["grass"], "drink": ["water"]},
    "goat": {"eat": ["grass"]},
    "monkey": {"eat": ["banana", "mango"]},
    "elephant": {"eat": ["banana", "grass"], "drink": ["water"]},
}


@dataclass
class Adv:
    en: tuple  # (words...) -- "every day" is two words
    hi: str
    mr: str


ADV = {
    "always": Adv(("always",), "हमेशा", "नेहमी"),
    "every day": Adv(("every", "day"), "रोज़", "रोज"),
    "often": Adv(("often",), "अक्सर", "अनेकदा"),
    "yesterday": Adv(("yesterday",), "कल", "काल"),
    "today": Adv(("today",), "आज", "आज"),
    "tomorrow": Adv(("tomorrow",), "कल", "उद्या"),
    "now": Adv(("now",), "अभी", "आता"),
    "very": Adv(("very",), "बहुत", "खूप"),
    "slowly": Adv(("slowly",), "धीरे", "हळू"),
    "quickly": Adv(("quickly",), "जल्दी", "पटपट"),
    "fast": Adv(("fast",), "तेज़", "जोरात"),
}
MANNER = {"walk": ["slowly", "quickly"], "eat": ["slowly", "quickly"], "run": ["fast"], "swim": ["fast"]}

NUMBERS = {2: ("two", "दो", "दोन"), 3: ("three", "तीन", "तीन"), 4: ("four", "चार", "चार"), 5: ("five", "पाँच", "पाच")}

# ---------------------------------------------------------------------------------------------------------
# Subjects: nouns, names and pronouns, with their forms for every role
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Ent:
    """A referent in all three languages with the agreement features each language needs."""

    key: str
    en_words: list  # e.g. ["the", "boy"] or ["he"]
    en_3sg: bool
    hi_key: str  # ms fs mp fp
    hi_nom: str
    hi_obl: str | None
    mr_key: str  # ms fs ns mp fp np 1p
    mr_nom: str
    mr_obl: str | None
    lemma_hi: str
    lemma_mr: str
    lemma_en: str
    upos: str  # NOUN / PROPN / PRON
    noun: Noun | None = None
    plural: bool = False
    hi_person1: bool = False
    pron: dict | None = None  # pronoun forms for the oblique roles


PRONOUNS = {
    "he": dict(
        en="he",
        en_obj="him",
        en_gen="his",
        en_3sg=True,
        hi_key="ms",
        hi="वह",
        hi_lemma="वह",
        hi_erg="उसने",
        hi_poss=["उसके", "पास"],
        hi_gen="उसका",
        mr_key="ms",
        mr="तो",
        mr_lemma="तो",
        mr_erg="त्याने",
        mr_poss="त्याच्याकडे",
        mr_gen="त्याचा",
    ),
    "she": dict(
        en="she",
        en_obj="her",
        en_gen="her",
        en_3sg=True,
        hi_key="fs",
        hi="वह",
        hi_lemma="वह",
        hi_erg="उसने",
        hi_poss=["उसके", "पास"],
        hi_gen="उसका",
        mr_key="fs",
        mr="ती",
        mr_lemma="तो",
        mr_erg="तिने",
        mr_poss="तिच्याकडे",
        mr_gen="तिचा",
    ),
    "we": dict(
        en="we",
        en_obj="us",
        en_gen="our",
        en_3sg=False,
        hi_key="mp",
        hi="हम",
        hi_lemma="हम",
        hi_erg="हमने",
        hi_poss=["हमारे", "पास"],
        hi_gen="हमारा",
        mr_key="1p",
        mr="आम्ही",
        mr_lemma="आम्ही",
        mr_erg="आम्ही",
        mr_poss="आमच्याकडे",
        mr_gen="आमचा",
    ),
    "they": dict(
        en="they",
        en_obj="them",
        en_gen="their",
        en_3sg=False,
        hi_key="mp",
        hi="वे",
        hi_lemma="वह",
        hi_erg="उन्होंने",
        hi_poss=["उनके", "पास"],
        hi_gen="उनका",
        mr_key="mp",
        mr="ते",
        mr_lemma="तो",
        mr_erg="त्यांनी",
        mr_poss="त्यांच्याकडे",
        mr_gen="त्यांचा",
    ),
}


def ent_noun(n: Noun, plural: bool = False) -> Ent:
    hg, hsg, hobl, hpl, hoblpl = n.hi[:5]
    mg, msg, mobl, mpl, moblpl, mplg = n.mr[:6]
    if plural:
        return Ent(
            n.key + "s",
            ["the", n.en_pl],
            False,
            hg + "p",
            hpl,
            hoblpl,
            mplg + "p",
            mpl,
            moblpl,
            hsg,
            msg,
            n.en,
            "NOUN",
            n,
            True,
        )
    if n.kind == "name":
        return Ent(n.key, [n.en], True, hg + "s", hsg, hobl, mg + "s", msg, mobl, hsg, msg, n.en, "PROPN", n)
    return Ent(n.key, ["the", n.en], True, hg + "s", hsg, hobl, mg + "s", msg, mobl, hsg, msg, n.en, "NOUN", n)


def ent_pron(key: str) -> Ent:
    p = PRONOUNS[key]
    return Ent(
        key,
        [p["en"]],
        p["en_3sg"],
        p["hi_key"],
        p["hi"],
        None,
        p["mr_key"],
        p["mr"],
        None,
        p["hi_lemma"],
        p["mr_lemma"],
        p["en"],
        "PRON",
        None,
        key in ("we", "they"),
        key == "we",
        pron=p,
    )


def en_np(e: Ent, adj: Adj | None = None) -> Phrase:
    if e.upos == "PRON":
        return [w(e.en_words[0], e.lemma_en if e.lemma_en != "we" else "we", "PRON")]
    words = list(e.en_words)
    toks = []
    if words[0] == "the":
        toks.append(w("the", "the", "DET", "det", 1 + (1 if adj else 0)))
    if adj:
        toks.append(w(adj.en, adj.en, "ADJ", "amod", len(toks) + 1))
    toks.append(w(words[-1], e.lemma_en if e.upos == "PROPN" or e.plural else en_lemma(e.noun), e.upos))
    return toks


def hi_np(e: Ent, adj: Adj | None = None) -> Phrase:
    toks = []
    if adj:
        toks.append(w(hi_adj(adj.hi, e.hi_key, adj.hi_inf, fem=adj.hi_fem), adj.hi, "ADJ", "amod", 1))
    toks.append(w(e.hi_nom, e.lemma_hi, e.upos))
    return toks


def mr_np(e: Ent, adj: Adj | None = None) -> Phrase:
    toks = []
    if adj:
        toks.append(w(mr_adj(adj.mr, e.mr_key, adj.mr_inf, adj.mr_fp), adj.mr, "ADJ", "amod", 1))
    toks.append(w(e.mr_nom, e.lemma_mr, e.upos))
    return toks


def hi_erg(e: Ent) -> Phrase:
    if e.pron:
        return [w(e.pron["hi_erg"], e.lemma_hi, "PRON")]
    return [w(e.hi_obl, e.lemma_hi, e.upos), w("ने", "ने", "ADP", "case", 0)]


def mr_erg(e: Ent) -> Phrase:
    if e.pron:
        return [w(e.pron["mr_erg"], e.lemma_mr, "PRON")]
    return [w(e.mr_obl + ("नी" if e.plural else "ने"), e.lemma_mr, e.upos)]


def hi_dat(e: Ent) -> Phrase:
    return [w(e.hi_obl, e.lemma_hi, e.upos), w("को", "को", "ADP", "case", 0)]


def mr_dat(e: Ent) -> Phrase:
    return [w(e.mr_obl + ("ना" if e.plural else "ला"), e.lemma_mr, e.upos)]


def en_subj_np(e: Ent, adj: Adj | None = None) -> Phrase:
    return en_np(e, adj)


# ---------------------------------------------------------------------------------------------------------
# Verb morphology
# ---------------------------------------------------------------------------------------------------------


def hi_hab(v: Verb, key: str, neg: bool = False) -> str:
    stem = v.hi[0]
    suf = {"ms": "ता", "fs": "ती", "mp": "ते", "fp": "ती"}[key]
    if neg and key == "fp":
        suf = "तीं"
    return stem + suf


def hi_be(key: str, person1: bool = False) -> str:
    return "हैं" if key in ("mp", "fp") else "है"


def mr_hab(v: Verb, key: str) -> str:
    stem = v.mr[0]
    if key in ("ms", "1p"):
        return stem + "तो"
    if key in ("fs", "ns"):
        return stem + "ते"
    return stem + "तात"


def mr_be(key: str, neg: bool = False) -> str:
    if neg:
        return "नाहीत" if key in ("mp", "fp", "np") else "नाही"
    return {"1p": "आहोत"}.get(key, "आहेत" if key in ("mp", "fp", "np") else "आहे")


def mr_past(v: Verb, key: str) -> str:
    stem = v.mr[4]
    return stem + {"ms": "ा", "fs": "ी", "ns": "े", "mp": "े", "fp": "्या", "np": "ी", "1p": "ो"}[key]


def mr_fut(v: Verb, key: str) -> str:
    if key == "1p":
        return v.mr[3]
    if key in ("mp", "fp", "np"):
        return v.mr[0] + "तील"
    return v.mr[2]


def en_pres(v: Verb, e: Ent) -> str:
    return v.en[1] if e.en_3sg else v.en[0]


def en_be(e: Ent) -> str:
    return "is" if e.en_3sg else "are"


def en_do(e: Ent) -> str:
    return "does" if e.en_3sg else "do"


def obj_key_hi(n: Noun) -> str:
    g = n.hi[0]
    return g if len(g) == 2 else g + "s"


def obj_key_mr(n: Noun) -> str:
    g = n.mr[0]
    return g if len(g) == 2 else g + "s"


# ---------------------------------------------------------------------------------------------------------
# Sentence templates. Each returns (en, hi, mr) Sent objects.
# ---------------------------------------------------------------------------------------------------------

AUX_BE_EN = "be"
AUX_BE_HI = "है"
AUX_BE_MR = "असणे"


def en_lemma(n: Noun) -> str:
    return "vegetable" if n.key == "vegetables" else n.en


def en_obj_np(n: Noun, generic: bool, adj: Adj | None = None, definite_ok: bool = True) -> Phrase:
    """English object: 'apples' / 'milk' (generic), 'an apple' / 'a sweet mango' / 'the door'."""
    if adj:
        words = en_indef(n, adj.en, definite_ok)
    elif generic:
        words = (n.en_generic or n.en).split()
    else:
        words = en_indef(n, None, definite_ok)
    head = len(words) - 1
    toks = []
    for i, x in enumerate(words):
        if i == head:
            toks.append(w(x, en_lemma(n), "NOUN"))
        elif x in ("a", "an"):
            toks.append(w(x, "a", "DET", "det", head))
        elif x == "the":
            toks.append(w(x, "the", "DET", "det", head))
        else:
            toks.append(w(x, x, "ADJ", "amod", head))
    return toks


def hi_obj_np(n: Noun, adj: Adj | None = None, generic: bool = False) -> Phrase:
    if generic and n.gen_pl:
        return [w(n.gen_pl[0], n.hi[1], "NOUN")]
    toks = []
    if adj:
        toks.append(w(hi_adj(adj.hi, obj_key_hi(n), adj.hi_inf, fem=adj.hi_fem), adj.hi, "ADJ", "amod", 1))
    lemma = "कपड़ा" if n.key == "clothes" else n.hi[1]
    toks.append(w(n.hi[1], lemma, "NOUN"))
    return toks


def mr_obj_np(n: Noun, adj: Adj | None = None, generic: bool = False) -> Phrase:
    if generic and n.gen_pl:
        return [w(n.gen_pl[1], n.mr[1], "NOUN")]
    toks = []
    if adj:
        toks.append(w(mr_adj(adj.mr, obj_key_mr(n), adj.mr_inf, adj.mr_fp), adj.mr, "ADJ", "amod", 1))
    lemma = "कपडा" if n.key == "clothes" else n.mr[1]
    toks.append(w(n.mr[1], lemma, "NOUN"))
    return toks


def adv_en(a: Adv) -> Phrase:
    if len(a.en) == 2:
        return [w("every", "every", "DET", "det", 1), w("day", "day", "NOUN")]
    return [w(a.en[0], a.en[0], "ADV")]


def adv_rel_en(a: Adv) -> str:
    return "obl:tmod" if len(a.en) == 2 else "advmod"


def one_adv_hi(a: Adv) -> Phrase:
    return [w(a.hi, a.hi, "ADV")]


def one_adv_mr(a: Adv) -> Phrase:
    return [w(a.mr, a.mr, "ADV")]


# --- 1. present habitual, transitive: "The girl (always) eats apples." ------------------------------------
def t_habitual(e: Ent, v: Verb, n: Noun, adv: str | None, adj: Adj | None):
    a = ADV[adv] if adv else None
    en = [(en_np(e), "nsubj")]
    if a and adv != "every day":
        en.append((adv_en(a), "advmod"))
    en += [(one(en_pres(v, e), v.en[0], "VERB"), "root"), (en_obj_np(n, generic=adj is None, adj=adj), "obj")]
    if a and adv == "every day":
        en.append((adv_en(a), "obl:tmod"))
    hi = (
        [(hi_np(e), "nsubj")]
        + ([(one_adv_hi(a), "advmod")] if a else [])
        + [
            (hi_obj_np(n, adj, generic=adj is None), "obj"),
            (one(hi_hab(v, e.hi_key), v.hi[0], "VERB"), "root"),
            (one(hi_be(e.hi_key), AUX_BE_HI, "AUX"), "aux"),
        ]
    )
    mr = (
        [(mr_np(e), "nsubj")]
        + ([(one_adv_mr(a), "advmod")] if a else [])
        + [(mr_obj_np(n, adj, generic=adj is None), "obj"), (one(mr_hab(v, e.mr_key), v.mr[1], "VERB"), "root")]
    )
    return clause(en, "."), clause(hi, "।"), clause(mr, ".")


# --- 2. present negated: "The boy does not drink tea." ----------------------------------------------------
def t_negative(e: Ent, v: Verb, n: Noun):
    en = [
        (en_np(e), "nsubj"),
        (one(en_do(e), "do", "AUX"), "aux"),
        (one("not", "not", "PART"), "advmod"),
        (one(v.en[0], v.en[0], "VERB"), "root"),
        (en_obj_np(n, generic=True), "obj"),
    ]
    hi = [
        (hi_np(e), "nsubj"),
        (hi_obj_np(n, generic=True), "obj"),
        (one("नहीं", "नहीं", "PART"), "advmod"),
        (one(hi_hab(v, e.hi_key, neg=True), v.hi[0], "VERB"), "root"),
    ]
    mr = [
        (mr_np(e), "nsubj"),
        (mr_obj_np(n, generic=True), "obj"),
        (one(v.mr[0] + "त", v.mr[1], "VERB"), "root"),
        (one(mr_be(e.mr_key, neg=True), "नाही", "AUX"), "aux"),
    ]
    return clause(en, "."), clause(hi, "।"), clause(mr, ".")


# --- 3. past transitive (ergative): "The boy ate an apple yesterday." -------------------------------------
def t_past(e: Ent, v: Verb, n: Noun, adv: str | None):
    a = ADV[adv] if adv else None
    en = [(en_np(e), "nsubj"), (one(v.en[2], v.en[0], "VERB"), "root"), (en_obj_np(n, generic=False), "obj")]
    if a:
        en.append((adv_en(a), "advmod"))
    if v.hi[3]:  # ने construction, verb agrees with the object
        hi_subj = (hi_erg(e), "nsubj")
        hverb = v.hi[1][HI_IDX[obj_key_hi(n)]]
    else:  # लाना: no ने, verb agrees with the subject
        hi_subj = (hi_np(e), "nsubj")
        hverb = v.hi[1][HI_IDX[e.hi_key]]
    hi = (
        [hi_subj]
        + ([(one_adv_hi(a), "advmod")] if a else [])
        + [(hi_obj_np(n), "obj"), (one(hverb, v.hi[0], "VERB"), "root")]
    )
    mr = (
        [(mr_erg(e), "nsubj")]
        + ([(one_adv_mr(a), "advmod")] if a else [])
        + [(mr_obj_np(n), "obj"), (one(mr_past(v, obj_key_mr(n)), v.mr[1], "VERB"), "root")]
    )
    return clause(en, "."), clause(hi, "।"), clause(mr, ".")


# --- 4. future: "The girl will read a book tomorrow." -----------------------------------------------------
def t_future(e: Ent, v: Verb, n: Noun, with_tomorrow: bool):
    a = ADV["tomorrow"] if with_tomorrow else None
    en = [
        (en_np(e), "nsubj"),
        (one("will", "will", "AUX"), "aux"),
        (one(v.en[0], v.en[0], "VERB"), "root"),
        (en_obj_np(n, generic=False), "obj"),
    ] + ([(adv_en(a), "advmod")] if a else [])
    hi = (
        [(hi_np(e), "nsubj")]
        + ([(one_adv_hi(a), "advmod")] if a else [])
        + [(hi_obj_np(n), "obj"), (one(v.hi[2][HI_IDX[e.hi_key]], v.hi[0], "VERB"), "root")]
    )
    mr = (
        [(mr_np(e), "nsubj")]
        + ([(one_adv_mr(a), "advmod")] if a else [])
        + [(mr_obj_np(n), "obj"), (one(mr_fut(v, e.mr_key), v.mr[1], "VERB"), "root")]
    )
    return clause(en, "."), clause(hi, "।"), clause(mr, ".")


# --- 5. progressive: "The mother is cooking rice (now)." --------------------------------------------------
def t_progressive(e: Ent, v: Verb, n: Noun, now: bool):
    a = ADV["now"] if now else None
    en = [
        (en_np(e), "nsubj"),
        (one(en_be(e), AUX_BE_EN, "AUX"), "aux"),
        (one(v.en[3], v.en[0], "VERB"), "root"),
        (en_obj_np(n, generic=False), "obj"),
    ] + ([(adv_en(a), "advmod")] if a else [])
    rah = {"ms": "रहा", "fs": "रही", "mp": "रहे", "fp": "रही"}[e.hi_key]
    hi = (
        [(hi_np(e), "nsubj")]
        + ([(one_adv_hi(a), "advmod")] if a else [])
        + [
            (hi_obj_np(n), "obj"),
            (one(v.hi[0], v.hi[0], "VERB"), "root"),
            (one(rah, "रह", "AUX"), "aux"),
            (one(hi_be(e.hi_key), AUX_BE_HI, "AUX"), "aux"),
        ]
    )
    mr = (
        [(mr_np(e), "nsubj")]
        + ([(one_adv_mr(a), "advmod")] if a else [])
        + [
            (mr_obj_np(n), "obj"),
            (one(v.mr[0] + "त", v.mr[1], "VERB"), "root"),
            (one(mr_be(e.mr_key), AUX_BE_MR, "AUX"), "aux"),
        ]
    )
    return clause(en, "."), clause(hi, "।"), clause(mr, ".")


# --- 6. yes/no question: "Does the boy eat apples?" -------------------------------------------------------
def t_yesno(e: Ent, v: Verb, n: Noun):
    en = [
        (one(en_do(e), "do", "AUX"), "aux"),
        (en_np(e), "nsubj"),
        (one(v.en[0], v.en[0], "VERB"), "root"),
        (en_obj_np(n, generic=True), "obj"),
    ]
    hi = [
        (one("क्या", "क्या", "PART"), "discourse"),
        (hi_np(e), "nsubj"),
        (hi_obj_np(n, generic=True), "obj"),
        (one(hi_hab(v, e.hi_key), v.hi[0], "VERB"), "root"),
        (one(hi_be(e.hi_key), AUX_BE_HI, "AUX"), "aux"),
    ]
    mr = [
        (mr_np(e), "nsubj"),
        (mr_obj_np(n, generic=True), "obj"),
        (one(mr_hab(v, e.mr_key), v.mr[1], "VERB"), "root"),
        (one("का", "का", "PART"), "discourse"),
    ]
    return clause(en, "?"), clause(hi, "?"), clause(mr, "?")


# --- 7. wh-question: "What does the girl read?" -----------------------------------------------------------
def t_what(e: Ent, v: Verb):
    en = [
        (one("what", "what", "PRON"), "obj"),
        (one(en_do(e), "do", "AUX"), "aux"),
        (en_np(e), "nsubj"),
        (one(v.en[0], v.en[0], "VERB"), "root"),
    ]
    hi = [
        (hi_np(e), "nsubj"),
        (one("क्या", "क्या", "PRON"), "obj"),
        (one(hi_hab(v, e.hi_key), v.hi[0], "VERB"), "root"),
        (one(hi_be(e.hi_key), AUX_BE_HI, "AUX"), "aux"),
    ]
    mr = [(mr_np(e), "nsubj"), (one("काय", "काय", "PRON"), "obj"), (one(mr_hab(v, e.mr_key), v.mr[1], "VERB"), "root")]
    return clause(en, "?"), clause(hi, "?"), clause(mr, "?")


# --- 8. giving: "The mother gives milk to the boy." / "The teacher gave a book to Priya." -----------------
def t_give(giver: Ent, to: Ent, n: Noun, past: bool):
    v = GIVE
    to_en = en_np(to)
    to_en = [w("to", "to", "ADP", "case", 1)] + [
        w(t.form, t.lemma, t.upos, t.rel, t.head + 1 if t.head != -1 else -1) for t in to_en
    ]
    en = [
        (en_np(giver), "nsubj"),
        (one(v.en[2] if past else en_pres(v, giver), "give", "VERB"), "root"),
        (en_obj_np(n, generic=False), "obj"),
        (to_en, "obl"),
    ]
    if past:
        hi = [
            (hi_erg(giver), "nsubj"),
            (hi_dat(to), "iobj"),
            (hi_obj_np(n), "obj"),
            (one(v.hi[1][HI_IDX[obj_key_hi(n)]], "दे", "VERB"), "root"),
        ]
        mr = [
            (mr_erg(giver), "nsubj"),
            (mr_dat(to), "iobj"),
            (mr_obj_np(n), "obj"),
            (one(mr_past(v, obj_key_mr(n)), "देणे", "VERB"), "root"),
        ]
    else:
        hi = [
            (hi_np(giver), "nsubj"),
            (hi_dat(to), "iobj"),
            (hi_obj_np(n), "obj"),
            (one(hi_hab(v, giver.hi_key), "दे", "VERB"), "root"),
            (one(hi_be(giver.hi_key), AUX_BE_HI, "AUX"), "aux"),
        ]
        mr = [
            (mr_np(giver), "nsubj"),
            (mr_dat(to), "iobj"),
            (mr_obj_np(n), "obj"),
            (one(mr_hab(v, giver.mr_key), "देणे", "VERB"), "root"),
        ]
    return clause(en, "."), clause(hi, "।"), clause(mr, ".")


# --- 9. location: "The boy is in the garden." -------------------------------------------------------------
def en_pp(p: Place) -> Phrase:
    if p.key == "school":
        return [w("at", "at", "ADP", "case", 1), w("school", "school", "NOUN")]
    return [w(p.en_prep, p.en_prep, "ADP", "case", 2), w("the", "the", "DET", "det", 2), w(p.en, p.en, "NOUN")]


def hi_pp(p: Place) -> Phrase:
    return [w(p.hi[0], p.hi[1], "NOUN")] + [w(x, x, "ADP", "case", 0) for x in p.hi[2:]]


def mr_pp(p: Place) -> Phrase:
    return [w(p.mr[0], p.mr[1], "NOUN")]


def t_location(e: Ent, p: Place):
    en = [(en_np(e), "nsubj"), (one(en_be(e), AUX_BE_EN, "AUX"), "cop"), (en_pp(p), "root")]
    hi = [(hi_np(e), "nsubj"), (hi_pp(p), "root"), (one(hi_be(e.hi_key), AUX_BE_HI, "AUX"), "cop")]
    mr = [(mr_np(e), "nsubj"), (mr_pp(p), "root"), (one(mr_be(e.mr_key), AUX_BE_MR, "AUX"), "cop")]
    return clause(en, "."), clause(hi, "।"), clause(mr, ".")


# --- 10. predicative adjective: "This dog is very big." ---------------------------------------------------
COLOURS = {"red", "black", "white", "green", "yellow"}


def t_adjective(e: Ent, adj: Adj, this: bool, very: bool):
    if very and adj.en in COLOURS:
        return None
    en_subj = en_np(e)
    hi_subj = hi_np(e)
    mr_subj = mr_np(e)
    if this:
        en_subj = [w("this", "this", "DET", "det", 1), en_subj[-1]]
        hi_subj = [w("यह", "यह", "DET", "det", 1), hi_subj[-1]]
        mr_dem = {"ms": "हा", "fs": "ही", "ns": "हे"}[e.mr_key]
        mr_subj = [w(mr_dem, "हा", "DET", "det", 1), mr_subj[-1]]
    hk = e.hi_key
    hi_pred = [w(hi_adj(adj.hi, hk, adj.hi_inf, fem=adj.hi_fem), adj.hi, "ADJ")]
    mr_pred = [w(mr_adj(adj.mr, e.mr_key, adj.mr_inf, adj.mr_fp), adj.mr, "ADJ")]
    en_pred = [w(adj.en, adj.en, "ADJ")]
    if very:
        en_pred = [w("very", "very", "ADV", "advmod", 1)] + en_pred
        hi_pred = [w("बहुत", "बहुत", "ADV", "advmod", 1)] + hi_pred
        mr_pred = [w("खूप", "खूप", "ADV", "advmod", 1)] + mr_pred
    en = [(en_subj, "nsubj"), (one(en_be(e), AUX_BE_EN, "AUX"), "cop"), (en_pred, "root")]
    hi = [(hi_subj, "nsubj"), (hi_pred, "root"), (one(hi_be(hk), AUX_BE_HI, "AUX"), "cop")]
    mr = [(mr_subj, "nsubj"), (mr_pred, "root"), (one(mr_be(e.mr_key), AUX_BE_MR, "AUX"), "cop")]
    return clause(en, "."), clause(hi, "।"), clause(mr, ".")


def t_thing_adjective(n: Noun, adj: Adj, this: bool, very: bool):
    """Predicative adjective about a thing or food: "The milk is hot.", "This book is new." """
    hk, mk = obj_key_hi(n), obj_key_mr(n)
    e = Ent(
        n.key,
        ["the", n.en],
        n.key not in PLURAL_ONLY,
        hk,
        n.hi[1],
        None,
        mk,
        n.mr[1],
        None,
        "कपड़ा" if n.key == "clothes" else n.hi[1],
        "कपडा" if n.key == "clothes" else n.mr[1],
        n.en,
        "NOUN",
        n,
    )
    if this and n.key in PLURAL_ONLY:
        return None
    return t_adjective(e, adj, this, very)


# --- 11. attributive adjective + intransitive verb + place: "The small dog sleeps in the house." ----------
def t_activity(e: Ent, adj: Adj | None, v: Verb, p: Place):
    en = [(en_np(e, adj), "nsubj"), (one(en_pres(v, e), v.en[0], "VERB"), "root"), (en_pp(p), "obl")]
    hi = [
        (hi_np(e, adj), "nsubj"),
        (hi_pp(p), "obl"),
        (one(hi_hab(v, e.hi_key), v.hi[0], "VERB"), "root"),
        (one(hi_be(e.hi_key), AUX_BE_HI, "AUX"), "aux"),
    ]
    mr = [(mr_np(e, adj), "nsubj"), (mr_pp(p), "obl"), (one(mr_hab(v, e.mr_key), v.mr[1], "VERB"), "root")]
    return clause(en, "."), clause(hi, "।"), clause(mr, ".")


# --- 12/13/20. going and coming: "The boy goes to school every day." / "... went ... yesterday." ----------
def en_dest(d: str) -> Phrase:
    words = DESTS[d][0]
    if words == ["home"]:
        return [w("home", "home", "ADV")]
    toks = []
    head = len(words) - 1
    for i, x in enumerate(words):
        if i == head:
            toks.append(w(x, x, "NOUN"))
        elif x == "to":
            toks.append(w(x, x, "ADP", "case", head))
        else:
            toks.append(w(x, x, "DET", "det", head))
    return toks


def t_motion(e: Ent, v: Verb, d: str, tense: str, adv: str | None):
    a = ADV[adv] if adv else None
    hf, hl = DESTS[d][1]
    mf, ml = DESTS[d][2]
    if tense == "pres":
        en_v = [(one(en_pres(v, e), v.en[0], "VERB"), "root")]
        hi_v = [(one(hi_hab(v, e.hi_key), v.hi[0], "VERB"), "root"), (one(hi_be(e.hi_key), AUX_BE_HI, "AUX"), "aux")]
        mr_v = [(one(mr_hab(v, e.mr_key), v.mr[1], "VERB"), "root")]
    elif tense == "past":
        en_v = [(one(v.en[2], v.en[0], "VERB"), "root")]
        hi_v = [(one(v.hi[1][HI_IDX[e.hi_key]], v.hi[0], "VERB"), "root")]
        mr_v = [(one(mr_past(v, e.mr_key), v.mr[1], "VERB"), "root")]
    else:
        en_v = [(one("will", "will", "AUX"), "aux"), (one(v.en[0], v.en[0], "VERB"), "root")]
        hi_v = [(one(v.hi[2][HI_IDX[e.hi_key]], v.hi[0], "VERB"), "root")]
        mr_v = [(one(mr_fut(v, e.mr_key), v.mr[1], "VERB"), "root")]
    dest_rel = "advmod" if d == "home" else "obl"
    early = a is not None and adv in ("always", "often")
    en = (
        [(en_np(e), "nsubj")]
        + ([(adv_en(a), "advmod")] if early else [])
        + en_v
        + [(en_dest(d), dest_rel)]
        + ([(adv_en(a), adv_rel_en(a))] if a and not early else [])
    )
    hi = [(hi_np(e), "nsubj")] + ([(one_adv_hi(a), "advmod")] if a else []) + [(one(hf, hl, "NOUN"), "obl")] + hi_v
    mr = [(mr_np(e), "nsubj")] + ([(one_adv_mr(a), "advmod")] if a else []) + [(one(mf, ml, "NOUN"), "obl")] + mr_v
    return clause(en, "."), clause(hi, "।"), clause(mr, ".")


# --- 14. possession: "The boy has a red ball." / "The farmer has three cows." -----------------------------
def en_possessor_verb(e: Ent) -> str:
    return "has" if e.en_3sg else "have"


def hi_possessor(e: Ent) -> Phrase:
    if e.pron:
        a, b = e.pron["hi_poss"]
        return [w(a, e.lemma_hi, "PRON"), w(b, b, "ADP", "case", 0)]
    obl = e.hi_obl
    return [w(obl, e.lemma_hi, e.upos), w("के", "का", "ADP", "case", 0), w("पास", "पास", "ADP", "case", 0)]


def mr_possessor(e: Ent) -> Phrase:
    if e.pron:
        return [w(e.pron["mr_poss"], e.lemma_mr, "PRON")]
    return [w(e.mr_obl + "कडे", e.lemma_mr, e.upos)]


def t_possession(e: Ent, n: Noun, count: int, adj: Adj | None):
    if count == 1:
        en_obj = en_obj_np(n, generic=False, adj=adj, definite_ok=False)
        hk, mk = obj_key_hi(n), obj_key_mr(n)
        hform, mform = n.hi[1], n.mr[1]
        hi_num, mr_num = ("एक", "एक"), ("एक", "एक")
    else:
        num = NUMBERS[count]
        en_obj = [w(num[0], num[0], "NUM", "nummod", 1), w(n.en_pl, n.en, "NOUN")]
        hk = n.hi[0] + "p"
        mk = (n.mr[5] if n.kind == "animal" else n.mr[0]) + "p"
        hform = n.hi[3]
        mform = n.mr[3]
        hi_num, mr_num = (num[1], num[1]), (num[2], num[2])
    hi_obj = [w(hi_num[0], hi_num[1], "NUM", "nummod", 1 + (1 if adj else 0))]
    mr_obj = [w(mr_num[0], mr_num[1], "NUM", "nummod", 1 + (1 if adj else 0))]
    if adj:
        hi_obj.append(w(hi_adj(adj.hi, hk, adj.hi_inf, fem=adj.hi_fem), adj.hi, "ADJ", "amod", 2))
        mr_obj.append(w(mr_adj(adj.mr, mk, adj.mr_inf, adj.mr_fp), adj.mr, "ADJ", "amod", 2))
    hi_obj.append(w(hform, n.hi[1], "NOUN"))
    mr_obj.append(w(mform, n.mr[1], "NOUN"))
    en = [(en_np(e), "nsubj"), (one(en_possessor_verb(e), "have", "VERB"), "root"), (en_obj, "obj")]
    # Hindi and Marathi: the possessed noun is the predicate, the possessor its subject, है/आहे the copula
    hi = [(hi_possessor(e), "nsubj"), (hi_obj, "root"), (one(hi_be(hk), AUX_BE_HI, "AUX"), "cop")]
    mr = [(mr_possessor(e), "nsubj"), (mr_obj, "root"), (one(mr_be(mk), AUX_BE_MR, "AUX"), "cop")]
    return clause(en, "."), clause(hi, "।"), clause(mr, ".")


# --- 15. genitive: "The boy's dog is big." / "Her book is new." -------------------------------------------
def t_genitive(owner: Ent, n: Noun, adj: Adj):
    hk, mk = obj_key_hi(n), obj_key_mr(n)
    if owner.pron:
        en_pos = [w(owner.pron["en_gen"], owner.pron["en"], "PRON", "nmod:poss", 1)]
        hgen = owner.pron["hi_gen"]
        hgen = hi_adj(hgen, hk, True)
        hi_pos = [w(hgen, owner.lemma_hi, "PRON", "nmod", 1)]
        mgen = mr_adj(owner.pron["mr_gen"], mk, True)
        mr_pos = [w(mgen, owner.lemma_mr, "PRON", "nmod", 1)]
    else:
        base = en_np(owner)
        en_pos = [w(t.form, t.lemma, t.upos, t.rel, t.head) for t in base]
        k = len(en_pos)
        en_pos[-1].glue = True
        en_pos[-1].rel, en_pos[-1].head = "nmod:poss", k + 1
        en_pos.append(w("'s", "'s", "PART", "case", k - 1))
        gen = {"ms": "का", "fs": "की", "mp": "के", "fp": "की"}[hk]
        hi_pos = [w(owner.hi_obl, owner.lemma_hi, owner.upos, "nmod", 2), w(gen, "का", "ADP", "case", 0)]
        msuf = {"ms": "चा", "fs": "ची", "ns": "चे", "mp": "चे", "fp": "च्या", "np": "ची"}[mk]
        mr_pos = [w(owner.mr_obl + msuf, owner.lemma_mr, owner.upos, "nmod", len([1]))]
    # fix heads: the possessed noun follows the possessor tokens
    hi_np_ = hi_pos + [w(n.hi[1], "कपड़ा" if n.key == "clothes" else n.hi[1], "NOUN")]
    for t in hi_np_[:-1]:
        if t.rel == "nmod":
            t.head = len(hi_np_) - 1
    mr_np_ = mr_pos + [w(n.mr[1], "कपडा" if n.key == "clothes" else n.mr[1], "NOUN")]
    mr_np_[0].head = len(mr_np_) - 1
    en_np_ = en_pos + [w(n.en, n.en, "NOUN")]
    for t in en_np_:
        if t.rel == "nmod:poss":
            t.head = len(en_np_) - 1
    en_np_[0].form = en_np_[0].form
    en = [
        (en_np_, "nsubj"),
        (one("are" if n.key == "clothes" else "is", AUX_BE_EN, "AUX"), "cop"),
        ([w(adj.en, adj.en, "ADJ")], "root"),
    ]
    hi = [
        (hi_np_, "nsubj"),
        ([w(hi_adj(adj.hi, hk, adj.hi_inf, fem=adj.hi_fem), adj.hi, "ADJ")], "root"),
        (one(hi_be(hk), AUX_BE_HI, "AUX"), "cop"),
    ]
    mr = [
        (mr_np_, "nsubj"),
        ([w(mr_adj(adj.mr, mk, adj.mr_inf, adj.mr_fp), adj.mr, "ADJ")], "root"),
        (one(mr_be(mk), AUX_BE_MR, "AUX"), "cop"),
    ]
    return clause(en, "."), clause(hi, "।"), clause(mr, ".")


# --- 16. coordination: "The boy and the girl play in the garden." -----------------------------------------
def t_coord(a: Ent, b: Ent, v: Verb, p: Place):
    def conj(np_a, np_b, cc):
        out = list(np_a)
        off = len(out) + 1
        out.append(w(cc[0], cc[1], "CCONJ", "cc", off))  # cc attaches to the second conjunct's head
        hb = [i for i, t in enumerate(np_b) if t.head == -1][0]
        for t in np_b:
            out.append(
                w(
                    t.form,
                    t.lemma,
                    t.upos,
                    t.rel if t.head != -1 else "conj",
                    t.head + off if t.head != -1 else [i for i, x in enumerate(np_a) if x.head == -1][0],
                )
            )
        out[off - 1].head = off + hb
        return out

    hi_key = "fp" if a.hi_key[0] == "f" and b.hi_key[0] == "f" else "mp"
    en = [
        (conj(en_np(a), en_np(b), ("and", "and")), "nsubj"),
        (one(v.en[0], v.en[0], "VERB"), "root"),
        (en_pp(p), "obl"),
    ]
    hi = [
        (conj(hi_np(a), hi_np(b), ("और", "और")), "nsubj"),
        (hi_pp(p), "obl"),
        (one(hi_hab(v, hi_key), v.hi[0], "VERB"), "root"),
        (one("हैं", AUX_BE_HI, "AUX"), "aux"),
    ]
    mr = [
        (conj(mr_np(a), mr_np(b), ("आणि", "आणि")), "nsubj"),
        (mr_pp(p), "obl"),
        (one(v.mr[0] + "तात", v.mr[1], "VERB"), "root"),
    ]
    return clause(en, "."), clause(hi, "।"), clause(mr, ".")


# --- 17. where-question: "Where is the dog?" --------------------------------------------------------------
def t_where(e: Ent):
    en = [(one("where", "where", "ADV"), "root"), (one(en_be(e), AUX_BE_EN, "AUX"), "cop"), (en_np(e), "nsubj")]
    hi = [(hi_np(e), "nsubj"), (one("कहाँ", "कहाँ", "ADV"), "root"), (one(hi_be(e.hi_key), AUX_BE_HI, "AUX"), "cop")]
    mr = [(mr_np(e), "nsubj"), (one("कुठे", "कुठे", "ADV"), "root"), (one(mr_be(e.mr_key), AUX_BE_MR, "AUX"), "cop")]
    return clause(en, "?"), clause(hi, "?"), clause(mr, "?")


# --- 18. manner: "The girl walks slowly." -----------------------------------------------------------------
def t_manner(e: Ent, v: Verb, adv: str):
    a = ADV[adv]
    en = [(en_np(e), "nsubj"), (one(en_pres(v, e), v.en[0], "VERB"), "root"), (adv_en(a), "advmod")]
    hi = [
        (hi_np(e), "nsubj"),
        (one_adv_hi(a), "advmod"),
        (one(hi_hab(v, e.hi_key), v.hi[0], "VERB"), "root"),
        (one(hi_be(e.hi_key), AUX_BE_HI, "AUX"), "aux"),
    ]
    mr = [(mr_np(e), "nsubj"), (one_adv_mr(a), "advmod"), (one(mr_hab(v, e.mr_key), v.mr[1], "VERB"), "root")]
    return clause(en, "."), clause(hi, "।"), clause(mr, ".")


# --- 21. past intransitive with a place: "The children played in the garden." -----------------------------
def t_past_activity(e: Ent, v: Verb, p: Place):
    en = [(en_np(e), "nsubj"), (one(v.en[2], v.en[0], "VERB"), "root"), (en_pp(p), "obl")]
    hi = [(hi_np(e), "nsubj"), (hi_pp(p), "obl"), (one(v.hi[1][HI_IDX[e.hi_key]], v.hi[0], "VERB"), "root")]
    mr = [(mr_np(e), "nsubj"), (mr_pp(p), "obl"), (one(mr_past(v, e.mr_key), v.mr[1], "VERB"), "root")]
    return clause(en, "."), clause(hi, "।"), clause(mr, ".")


# ---------------------------------------------------------------------------------------------------------
# Combinations per template, then a deterministic sample
# ---------------------------------------------------------------------------------------------------------


def people_sg() -> list[Ent]:
    return [ent_noun(n) for n in PEOPLE] + [ent_noun(n) for n in NAMES]


def people_pl() -> list[Ent]:
    return [ent_noun(n, plural=True) for n in PEOPLE if n.en_pl]


def pronouns() -> list[Ent]:
    return [ent_pron(k) for k in PRONOUNS]


def animals_sg() -> list[Ent]:
    return [ent_noun(n) for n in ANIMALS]


def human_subjects() -> list[Ent]:
    return people_sg() + people_pl() + pronouns()


def candidates() -> dict[str, list]:
    """All (function, args) per template; the sampler draws a quota from each."""
    c: dict[str, list] = {}
    humans = human_subjects()
    trans = list(TRANSITIVE.values())

    def human_objects(v):
        return [NOUNS[k] for k in v.objects]

    c["habitual"] = [
        (t_habitual, (e, v, n, adv, None))
        for e in humans
        for v in trans
        for n in human_objects(v)
        for adv in (None, "always", "every day", "often")
    ]
    c["habitual"] += [
        (t_habitual, (ent_noun(NOUNS[a]), TRANSITIVE[vk], NOUNS[f], adv, None))
        for a, d in ANIMAL_FOOD.items()
        for vk, fs in d.items()
        for f in fs
        for adv in (None, "always")
    ]
    c["object_adjective"] = [
        (t_habitual, (e, v, n, None, ADJ[adj]))
        for e in humans
        for v in trans
        for n in human_objects(v)
        for adj in n.adjs
        if not (v.key == "wash" and adj == "clean") and not (v.key == "write" and adj == "old")
    ]
    c["negative"] = [(t_negative, (e, v, n)) for e in humans for v in trans for n in human_objects(v)]
    c["past"] = [
        (t_past, (e, v, n, adv))
        for e in humans
        for v in trans
        for n in human_objects(v)
        if n.key != "rice"
        for adv in (None, "yesterday", "today")
    ]
    c["future"] = [
        (t_future, (e, v, n, tm)) for e in humans for v in trans for n in human_objects(v) for tm in (True, False)
    ]
    c["progressive"] = [
        (t_progressive, (e, v, n, now))
        for e in humans
        for v in trans
        for n in human_objects(v)
        for now in (False, True)
    ]
    c["yesno"] = [
        (t_yesno, (e, v, n))
        for e in people_sg() + people_pl() + [ent_pron("he"), ent_pron("she"), ent_pron("they")]
        for v in trans
        for n in human_objects(v)
    ]
    c["what"] = [(t_what, (e, v)) for e in humans for v in trans if v.key not in ("open", "wash", "bring")]
    singles = [ent_noun(n) for n in PEOPLE + NAMES]
    c["give_present"] = [
        (t_give, (a, b, NOUNS[o], False)) for a in singles for b in singles if a.key != b.key for o in GIVE.objects
    ]
    c["give_past"] = [
        (t_give, (a, b, NOUNS[o], True)) for a in singles for b in singles if a.key != b.key for o in GIVE.objects
    ]
    loc = []
    for e in humans:
        places = WHERE["farmer"] if e.key.startswith("farmer") else WHERE["person"]
        loc += [(t_location, (e, PLACES[p])) for p in places]
    for n in ANIMALS:
        loc += [(t_location, (ent_noun(n), PLACES[p])) for p in WHERE[n.key]]
    for k in ("book", "ball", "pen", "letter", "plate", "milk", "bag"):
        n = NOUNS[k]
        e = Ent(
            k,
            ["the", n.en],
            True,
            obj_key_hi(n),
            n.hi[1],
            None,
            obj_key_mr(n),
            n.mr[1],
            None,
            n.hi[1],
            n.mr[1],
            n.en,
            "NOUN",
            n,
        )
        loc += [(t_location, (e, PLACES[p])) for p in WHERE[k] if p != k]
    c["location"] = loc
    adj_pred = []
    for e in people_sg() + people_pl() + pronouns():
        n = e.noun
        adjs = n.adjs if n else PERSON_ADJ.split()
        for a in adjs:
            for this in (False, True):
                if this and (e.upos != "NOUN" or e.plural):
                    continue
                for very in (False, True):
                    adj_pred.append((t_adjective, (e, ADJ[a], this, very)))
    for n in ANIMALS:
        e = ent_noun(n)
        for a in n.adjs:
            for this in (False, True):
                for very in (False, True):
                    adj_pred.append((t_adjective, (e, ADJ[a], this, very)))
    for n in FOODS + THINGS:
        for a in n.adjs:
            for this in (False, True):
                for very in (False, True):
                    adj_pred.append((t_thing_adjective, (n, ADJ[a], this, very)))
    c["adjective"] = adj_pred
    act = []
    for e in people_sg() + people_pl() + pronouns():
        adjs = [None] + ([ADJ[a] for a in e.noun.adjs] if e.noun and e.upos == "NOUN" else [])
        for a in adjs:
            for vk, places in ACTIVITY_PLACES.items():
                for p in places:
                    act.append((t_activity, (e, a, INTRANSITIVE[vk], PLACES[p])))
    for n in ANIMALS:
        e = ent_noun(n)
        for a in [None] + [ADJ[x] for x in n.adjs]:
            for vk, places in ANIMAL_ACTIVITIES.get(n.key, {}).items():
                for p in places:
                    act.append((t_activity, (e, a, INTRANSITIVE[vk], PLACES[p])))
    c["activity"] = act
    c["past_activity"] = [
        (t_past_activity, (e, INTRANSITIVE[vk], PLACES[p]))
        for e in humans
        for vk, places in ACTIVITY_PLACES.items()
        for p in places
    ]
    motion_dests = {"go": list(DESTS), "come": ["home", "school", "village", "city"]}
    c["motion_present"] = [
        (t_motion, (e, INTRANSITIVE[vk], d, "pres", adv))
        for e in humans
        for vk, ds in motion_dests.items()
        for d in ds
        for adv in (None, "every day", "often")
    ]
    c["motion_past"] = [
        (t_motion, (e, INTRANSITIVE[vk], d, "past", adv))
        for e in humans
        for vk, ds in motion_dests.items()
        for d in ds
        for adv in (None, "yesterday", "today")
    ]
    c["motion_future"] = [
        (t_motion, (e, INTRANSITIVE[vk], d, "fut", adv))
        for e in humans
        for vk, ds in motion_dests.items()
        for d in ds
        for adv in (None, "tomorrow")
    ]
    poss = []
    for e in people_sg() + people_pl() + pronouns():
        for k in ("dog", "cat", "cow", "horse", "goat", "book", "ball", "bag", "pen", "box"):
            n = NOUNS[k]
            for a in [None] + [ADJ[x] for x in n.adjs if x not in ("hungry", "sick")]:
                poss.append((t_possession, (e, n, 1, a)))
            if n.en_pl and k != "pen":
                for cnt in NUMBERS:
                    poss.append((t_possession, (e, n, cnt, None)))
    c["possession"] = poss
    gen = []
    for e in singles + [ent_pron(k) for k in PRONOUNS]:
        for k in ("dog", "cat", "cow", "horse", "book", "ball", "bag", "pen", "house", "clothes"):
            n = NOUNS[k]
            for a in n.adjs:
                if a in ("hungry",):
                    continue
                gen.append((t_genitive, (e, n, ADJ[a])))
    c["genitive"] = gen
    young = [
        ent_noun(NOUNS[k]) for k in ("boy", "girl", "brother", "sister", "friend", "Ravi", "Amit", "Priya", "Meena")
    ]
    pairs = [(a, b) for a in young for b in young if a.key != b.key]
    c["coordination"] = [
        (t_coord, (a, b, INTRANSITIVE[vk], PLACES[p]))
        for a, b in pairs
        for vk in ("play", "sit")
        for p in ACTIVITY_PLACES[vk]
    ]
    c["where"] = [(t_where, (e,)) for e in people_sg() + people_pl() + animals_sg()] + [
        (
            t_where,
            (
                Ent(
                    k,
                    ["the", NOUNS[k].en],
                    True,
                    obj_key_hi(NOUNS[k]),
                    NOUNS[k].hi[1],
                    None,
                    obj_key_mr(NOUNS[k]),
                    NOUNS[k].mr[1],
                    None,
                    NOUNS[k].hi[1],
                    NOUNS[k].mr[1],
                    NOUNS[k].en,
                    "NOUN",
                    NOUNS[k],
                ),
            ),
        )
        for k in ("book", "ball", "pen", "bag", "box", "letter", "newspaper", "plate")
    ]
    c["manner"] = [
        (t_manner, (e, INTRANSITIVE[vk] if vk in INTRANSITIVE else TRANSITIVE[vk], adv))
        for e in humans
        for vk, advs in MANNER.items()
        for adv in advs
    ]
    return c


QUOTA = {
    "habitual": 45,
    "object_adjective": 25,
    "negative": 35,
    "past": 50,
    "future": 30,
    "progressive": 35,
    "yesno": 30,
    "what": 20,
    "give_present": 20,
    "give_past": 25,
    "location": 40,
    "adjective": 45,
    "activity": 30,
    "past_activity": 20,
    "motion_present": 25,
    "motion_past": 30,
    "motion_future": 20,
    "possession": 35,
    "genitive": 30,
    "coordination": 15,
    "where": 15,
    "manner": 15,
}


def generate(seed: int = SEED):
    rng = random.Random(seed)
    cands = candidates()
    out = []
    seen = [set(), set(), set()]
    for name in QUOTA:
        pool = list(cands[name])
        rng.shuffle(pool)
        taken = 0
        for fn, args in pool:
            if taken >= QUOTA[name]:
                break
            triple = fn(*args)
            if triple is None:
                continue
            if any(s.text in seen[i] for i, s in enumerate(triple)):
                continue
            for i, s in enumerate(triple):
                seen[i].add(s.text)
            out.append((name, triple))
            taken += 1
    rng.shuffle(out)
    return out


# ---------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------


def build_gloss(lang_i: int) -> tuple[dict, dict]:
    """English glosses for the Hindi (lang_i 1) or Marathi (lang_i 2) side.

    Returns (by_form, by_lemma), both keyed by (word, UPOS). A word form gets the glosses of its own form
    (plural nouns, past verbs, pronoun forms) and those of its lemma.
    """
    by_form: dict[tuple[str, str], list[str]] = {}
    by_lemma: dict[tuple[str, str], list[str]] = {}

    def add(table, src, en, upos):
        lst = table.setdefault((src, upos), [])
        if en not in lst:
            lst.append(en)

    hi = lang_i == 1
    for n in NOUNS.values():
        upos = "PROPN" if n.kind == "name" else "NOUN"
        forms = n.hi if hi else n.mr
        add(by_lemma, forms[1], n.en, upos)
        if n.key == "clothes":
            add(by_lemma, "कपड़ा" if hi else "कपडा", "clothes", upos)
        if len(forms) > 3 and forms[3] and n.en_pl:
            add(by_form, forms[3], n.en_pl, upos)
        if n.gen_pl:
            add(by_form, n.gen_pl[0 if hi else 1], n.en_pl, upos)
    for p in PLACES.values():
        add(by_lemma, p.hi[1] if hi else p.mr[1], p.en, "NOUN")
    for d, (_, hform, mform) in DESTS.items():
        add(by_lemma, (hform if hi else mform)[1], d, "NOUN")
    for a in ADJ.values():
        add(by_lemma, a.hi if hi else a.mr, a.en, "ADJ")
    for a in ADV.values():
        add(by_lemma, a.hi if hi else a.mr, " ".join(a.en), "ADV")
    add(by_lemma, "कहाँ" if hi else "कुठे", "where", "ADV")
    for v in list(TRANSITIVE.values()) + list(INTRANSITIVE.values()) + [GIVE]:
        add(by_lemma, v.hi[0] if hi else v.mr[1], v.en[0], "VERB")
        past = v.hi[1] if hi else [mr_past(v, k) for k in ("ms", "fs", "ns", "mp", "fp", "np", "1p")]
        for f in past:
            add(by_form, f, v.en[2], "VERB")
    for p in PRONOUNS.values():
        if hi:
            forms = [p["hi"], p["hi_erg"], p["hi_poss"][0]] + [hi_adj(p["hi_gen"], k, True) for k in ("ms", "fs", "mp")]
            ens = [p["en"], p["en"], p["en_obj"], p["en_gen"], p["en_gen"], p["en_gen"]]
        else:
            forms = [p["mr"], p["mr_erg"], p["mr_poss"]] + [
                mr_adj(p["mr_gen"], k, True) for k in ("ms", "fs", "ns", "fp", "np")
            ]
            ens = [p["en"], p["en"], p["en_obj"]] + [p["en_gen"]] * 5
        for f, e in zip(forms, ens):
            add(by_form, f, e, "PRON")
    for _n, (en, hnum, mnum) in NUMBERS.items():
        add(by_form, hnum if hi else mnum, en, "NUM")
    add(by_form, "एक", "one", "NUM")
    function_words = (
        [
            ("है", "is", "AUX"),
            ("हैं", "are", "AUX"),
            ("रहा", "is", "AUX"),
            ("रही", "is", "AUX"),
            ("रहे", "are", "AUX"),
            ("ने", "by", "ADP"),
            ("को", "to", "ADP"),
            ("में", "in", "ADP"),
            ("पर", "on", "ADP"),
            ("का", "of", "ADP"),
            ("की", "of", "ADP"),
            ("के", "of", "ADP"),
            ("नीचे", "under", "ADP"),
            ("पास", "near", "ADP"),
            ("नहीं", "not", "PART"),
            ("क्या", "what", "PRON"),
            ("और", "and", "CCONJ"),
            ("यह", "this", "DET"),
        ]
        if hi
        else [
            ("आहे", "is", "AUX"),
            ("आहेत", "are", "AUX"),
            ("आहोत", "are", "AUX"),
            ("नाही", "not", "AUX"),
            ("नाहीत", "not", "AUX"),
            ("काय", "what", "PRON"),
            ("आणि", "and", "CCONJ"),
            ("हा", "this", "DET"),
            ("ही", "this", "DET"),
            ("हे", "this", "DET"),
        ]
    )
    for f, e, u in function_words:
        add(by_form, f, e, u)
    return by_form, by_lemma


OPEN_CLASS = {"NOUN", "VERB", "ADJ", "ADV", "PROPN"}


def lexicon_rows(sentences, lang_i: int) -> list[tuple[str, str, str]]:
    """(form, English, UPOS) for every word form of the Hindi or Marathi side that has a gloss."""
    by_form, by_lemma = build_gloss(lang_i)
    rows = set()
    for _, triple in sentences:
        for t in triple[lang_i].tokens:
            glosses = by_form.get((t.form, t.upos), []) + by_lemma.get((t.lemma, t.upos), [])
            if not glosses and t.upos in OPEN_CLASS:
                raise SystemExit(f"no English for {t.form} ({t.lemma}, {t.upos})")
            for g in glosses:
                rows.add((t.form, g, t.upos))
    return sorted(rows)


def conllu_block(sid: str, s: Sent) -> str:
    lines = [f"# sent_id = {sid}", f"# text = {s.text}"]
    for i, (t, h, r) in enumerate(zip(s.tokens, s.heads, s.rels), start=1):
        misc = "SpaceAfter=No" if t.glue else "_"
        lines.append("\t".join([str(i), t.form, t.lemma, t.upos, "_", "_", str(h), r, "_", misc]))
    return "\n".join(lines) + "\n"


LANGS = ("en", "hi", "mr")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "data"), help="output directory")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sentences = generate(args.seed)
    splits = {"train": [], "dev": []}
    for i, item in enumerate(sentences):
        splits["dev" if i % DEV_EVERY == DEV_EVERY - 1 else "train"].append(item)
    for split, items in splits.items():
        for li, lang in enumerate(LANGS):
            with open(out / f"{lang}.{split}.conllu", "w", encoding="utf-8", newline="\n") as fh:
                for k, (_, triple) in enumerate(items, start=1):
                    fh.write(conllu_block(f"demo-{split}-{k}", triple[li]) + "\n")
            with open(out / f"{lang}.{split}.txt", "w", encoding="utf-8", newline="\n") as fh:
                for _, triple in items:
                    fh.write(triple[li].text + "\n")
    for li, lang in ((1, "hi"), (2, "mr")):
        with open(out / f"lexicon.{lang}-en.tsv", "w", encoding="utf-8", newline="\n") as fh:
            fh.write("source\ttarget\tupos\n")
            for row in lexicon_rows(sentences, li):
                fh.write("\t".join(row) + "\n")
    counts = {}
    for name, _ in sentences:
        counts[name] = counts.get(name, 0) + 1
    print(f"{len(sentences)} sentences per language: train {len(splits['train'])}, dev {len(splits['dev'])}")
    print("per template: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
