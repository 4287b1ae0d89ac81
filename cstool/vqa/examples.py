"""VQA examples as replay-train and eval read them from a ``vqa`` artifact: question (or its code-switched
variant), reference answers, language and image (bytes or a path, checked to decode before any training)."""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cstool.base.errors import InputError, SchemaError
from cstool.io import artifacts


@dataclass(frozen=True)
class VqaExample:
    id: str
    question: str
    answers: tuple[str, ...]
    lang: str | None
    image: bytes | None = None
    image_path: str | None = None

    @property
    def answer(self) -> str:
        """The training target: the most frequent reference (first on ties)."""
        return Counter(self.answers).most_common(1)[0][0]

    @property
    def image_key(self) -> str:
        if self.image is not None:
            return hashlib.blake2b(self.image, digest_size=12).hexdigest()
        return f"path:{self.image_path}"

    def __str__(self) -> str:  # what the replay buffer artifact records in its text column
        return self.question


def _image_ok(ex: VqaExample) -> bool:
    """Whether the example's image exists and its header decodes (cheap: no pixel decoding)."""
    from PIL import Image, UnidentifiedImageError

    if ex.image is None and not ex.image_path:
        return False
    try:
        with Image.open(io.BytesIO(ex.image) if ex.image is not None else ex.image_path) as im:
            im.verify()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        return False
    return True


def read_examples(
    name: str, path: str, column: str = "question", *, what: str = "task"
) -> tuple[list[VqaExample], list[int], artifacts.Source]:
    """VQA rows of an artifact as examples (question from ``column``), their ``cs_epoch`` (0 without), and
    the opened source. Empty questions or answer lists are errors naming the rows."""
    src = artifacts.open_source(path)
    names = src.schema.names
    image_col = "image" if "image" in names else "image_path"
    missing = [c for c in (column, "answers", image_col) if c not in names]
    if missing:
        hint = (
            "make code-switched questions with: cstool switch VQA.parquet --lexicon LEX -o SWITCHED.parquet"
            if column == "text_cs"
            else "produce VQA artifacts with cstool vqa-import or cstool vqa-easy"
        )
        raise SchemaError(
            f"{what} {name}: {path} has no column {', '.join(map(repr, missing))} needed for "
            f"--task-type vqa; columns there: [{', '.join(names)}]",
            hint,
        )
    artifacts.require_text_column(
        src.schema, column, where=f"{what} {name}: {path}", hint="choose the question column with --text-column NAME"
    )
    table = src.read_all()
    base = Path(path).parent
    cols = {
        c: table.column(c).to_pylist() if c in names else [None] * table.num_rows
        for c in ("id", column, "answers", "lang", "image", "image_path", "cs_epoch")
    }
    examples, epochs, empty_q, empty_a = [], [], [], []
    for i in range(table.num_rows):
        rid = str(cols["id"][i] if cols["id"][i] is not None else i)
        q = (cols[column][i] or "").strip()
        answers = cols["answers"][i]
        answers = [answers] if isinstance(answers, str) else [a for a in (answers or []) if a and a.strip()]
        if not q:
            empty_q.append(rid)
        if not answers:
            empty_a.append(rid)
        image = cols["image"][i]
        image = image.get("bytes") if isinstance(image, dict) else image
        ipath = cols["image_path"][i]
        if ipath and not Path(ipath).is_absolute():
            ipath = str(base / ipath)
        examples.append(VqaExample(rid, q, tuple(answers), cols["lang"][i] or name, image, ipath))
        epochs.append(int(cols["cs_epoch"][i] or 0))
    bad_images = [f"{ex.id} ({ex.image_path or 'embedded'})" for ex in examples if not _image_ok(ex)]
    if bad_images:  # found now, before any task trains, not when this task's turn comes
        raise InputError(
            f"{what} {name} ({path}): {len(bad_images)} images are missing or unreadable: {', '.join(bad_images[:5])}",
            "fix or remove those rows (cstool vqa-import --skip-bad-images)",
        )
    for ids, what_is in ((empty_q, "questions are empty"), (empty_a, "rows have no answers")):
        if ids:
            raise InputError(
                f"{what} {name} ({path}): {len(ids)} {what_is} (ids {', '.join(ids[:5])})",
                "drop those rows, or fix them with cstool vqa-import",
            )
    if not examples:
        raise InputError(f"{what} {name}: {path} is empty", "give a non-empty VQA artifact")
    return examples, epochs, src
