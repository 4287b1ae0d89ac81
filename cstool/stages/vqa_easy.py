"""vqa-easy: the easy-VQA benchmark in English, Hindi and Marathi as ``vqa`` artifacts with gold tokens and
UPOS, plus switch lexicons (the templates and translations are in :mod:`cstool.vqa.easyvqa`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from cstool.base.errors import ConfigError, InputError
from cstool.base.fields import SEED, comma_list, option
from cstool.io import artifacts, atomic, paths
from cstool.text.keyed_random import keyed_rng
from cstool.vqa.easyvqa import (
    ANSWERS,
    LANGS,
    VQA,
    qtype,
    render,
    template_parser,
    write_lexicon,
)


@dataclass(frozen=True)
class EasyVqaConfig:
    langs: tuple[str, ...] = option(LANGS, "Comma-separated languages among en, hi, mr.", type=str, parse=comma_list)
    train_images: int = option(1000, "Training images per language (disjoint across languages; easy-vqa has 4000).")
    dev_images: int = option(250, "Held-out images per language (from easy-vqa's 1000 test images).")
    seed: int = option(1234, "Random seed of the image splits.", **SEED)

    def __post_init__(self) -> None:
        problems = []
        bad = [lang for lang in self.langs if lang not in LANGS]
        if bad or not self.langs:
            problems.append(f"--langs must be among {', '.join(LANGS)}, got {', '.join(self.langs) or '(none)'}")
        if len(set(self.langs)) != len(self.langs):
            problems.append(f"--langs repeats a language: {', '.join(self.langs)}")
        # Every language owns its own block of images (also when fewer languages are written), so 3 blocks fit.
        if self.train_images < 1 or self.train_images * len(LANGS) > 4000:
            problems.append(f"--train-images must lie in 1..{4000 // len(LANGS)}, got {self.train_images}")
        if self.dev_images < 1 or self.dev_images * len(LANGS) > 1000:
            problems.append(f"--dev-images must lie in 1..{1000 // len(LANGS)}, got {self.dev_images}")
        ConfigError.collect(problems, "see cstool vqa-easy --help")


def _package():
    try:
        import easy_vqa
    except ImportError:
        raise InputError("the easy-vqa package is not installed", "pip install easy-vqa") from None
    return easy_vqa


@dataclass(frozen=True)
class EasyVqaResult:
    output: Path  # the folder
    counts: dict[str, dict[str, int]]  # lang → split (train, dev) → questions

    def tables(self) -> list[tuple[str, list[str], list[list]]]:
        """(title, columns, rows) of the table people read: questions per language and split."""
        rows = [[lang, c["train"], c["dev"]] for lang, c in self.counts.items()]
        return [("vqa-easy", ["lang", "train questions", "dev questions"], rows)]


def run(config: EasyVqaConfig, *, output: str | os.PathLike) -> EasyVqaResult:
    """Write ``{lang}.train.parquet`` and ``{lang}.dev.parquet`` for every language into the folder ``output``,
    and a switch lexicon ``lexicon.{lang}-en.tsv`` for every language but English, all at once; the files of
    other languages that an earlier call wrote (by its manifest) are removed, and no other file."""
    out = Path(output)
    paths.check_outputs({"-o": out}, folders=["-o"])
    ev = _package()
    parse = template_parser()
    counts: dict[str, dict[str, int]] = {}
    prov = artifacts.make_provenance("vqa-easy", options=config, seed=config.seed)
    # the files appear all at once or not at all; stale ones of an earlier call (its manifest) are removed
    with atomic.folder_files(out, "vqa-easy") as place:
        for split, questions, images, per_task in (
            ("train", ev.get_train_questions(), ev.get_train_image_paths(), config.train_images),
            ("dev", ev.get_test_questions(), ev.get_test_image_paths(), config.dev_images),
        ):
            by_image: dict[int, list[tuple[str, str]]] = {}
            for q, a, image_id in zip(*questions, strict=True):
                by_image.setdefault(int(image_id), []).append((q, a))
            order = sorted(by_image)
            perm = keyed_rng(config.seed, "easy-vqa", split).permutation(len(order))
            for lang in config.langs:
                k = LANGS.index(lang)  # each language owns its block of images, whichever languages are written
                chosen = sorted(order[j] for j in perm[k * per_task : (k + 1) * per_task])
                cols: dict[str, list] = {f.name: [] for f in VQA}
                for image_id in chosen:
                    data = Path(images[image_id]).read_bytes()
                    for n, (q, a) in enumerate(by_image[image_id]):
                        if q not in parse:
                            raise InputError(
                                f"easy-vqa question {q!r} matches no known template",
                                "this easy-vqa release has templates cstool does not translate",
                            )
                        template, value = parse[q]
                        text, tokens, upos, lemmas = render(template, lang, value)
                        cols["id"].append(f"{split}-{image_id}-{n}")
                        cols["image"].append(data)
                        cols["image_path"].append(None)
                        cols["question"].append(q if lang == "en" else text)
                        cols["answers"].append([ANSWERS[lang][a]])
                        cols["lang"].append(lang)
                        cols["qtype"].append(qtype(template))
                        cols["tokens"].append(tokens)
                        cols["upos"].append(upos)
                        cols["lemmas"].append(lemmas)
                table = pa.table(cols, schema=VQA)
                artifacts.write_table(place(out / f"{lang}.{split}.parquet"), table, kind="vqa", provenance=prov)
                counts.setdefault(lang, {})[split] = table.num_rows
        for lang in config.langs:
            if lang != "en":
                write_lexicon(place(out / f"lexicon.{lang}-en.tsv"), lang)
    return EasyVqaResult(output=out, counts=counts)
