"""Progress on long work: tag and eval know their totals before they start (Parquet its row count, text files
their lines), the bar shows done/total and the time left, and -q silences it."""

from __future__ import annotations

import io
import json
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cstool.base import console
from cstool.stages import tag
from cstool.stages.tag import TagConfig
from cstool.text.corpus import count_rows, read_input
from tests.conftest import TINY_CONLLU

LINES = [f"line {i} of the corpus ." for i in range(23)]


@pytest.fixture
def inputs(tmp_path) -> dict[str, str]:
    txt = tmp_path / "c.txt"
    txt.write_text("\n".join(x if i % 5 else f"{x}\n  " for i, x in enumerate(LINES)) + "\n", encoding="utf-8")
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text(
        "".join(json.dumps({"text": x}) + "\n" + ("\n" if i % 4 == 0 else "") for i, x in enumerate(LINES))
    )
    parquet = tmp_path / "c.parquet"
    pq.write_table(pa.table({"id": [str(i) for i in range(len(LINES))], "text": LINES}), parquet, row_group_size=5)
    return {"txt": str(txt), "jsonl": str(jsonl), "parquet": str(parquet), "conllu": str(TINY_CONLLU)}


@pytest.mark.parametrize("kind", ["txt", "jsonl", "parquet", "conllu"])
@pytest.mark.parametrize("shard", ["0/1", "1/3"])
def test_the_total_is_the_rows_read(inputs, kind, shard):
    config = TagConfig(lang="en", shard=shard, batch_size=4)
    batches, _ = read_input(inputs[kind], config)
    rows = sum(b.num_rows for b in batches)
    assert rows > 0 and count_rows(inputs[kind], config) == rows


def test_stdin_has_no_total():
    assert count_rows("-", TagConfig(lang="en")) is None


def test_tag_reports_its_total_before_the_rows(inputs, tmp_path):
    seen: list[tuple[str, int]] = []
    rows = tag.run(
        TagConfig(lang="en", batch_size=4),
        input=inputs["conllu"],
        output=str(tmp_path / "t.parquet"),
        on_rows=lambda n: seen.append(("rows", n)),
        on_total=lambda n: seen.append(("total", n)),
    ).rows
    assert seen[0] == ("total", rows) and sum(n for k, n in seen[1:] if k == "rows") == rows


def test_eval_counts_texts_even_when_a_text_spans_several_windows(tiny_lm, tmp_path):
    from cstool.stages import evaluate
    from cstool.stages.evaluate import EvalConfig

    texts = ["the cat sits on the mat . " * 30, "a dog", "", "मैं घर जाता हूँ ।"]  # the first: several windows
    pq.write_table(pa.table({"id": list("abcd"), "text": texts}), tmp_path / "d.parquet")
    totals, done = [], []
    evaluate.run(
        EvalConfig(batch_size=2),
        model=str(tiny_lm),
        data={"d": str(tmp_path / "d.parquet")},
        output=str(tmp_path / "s.parquet"),
        on_progress=done.append,
        on_total=totals.append,
    )
    assert totals == [4] and sum(done) == pytest.approx(4) and len(done) > 2


def _render(monkeypatch, quiet: bool) -> str:
    out = io.StringIO()
    out.isatty = lambda: True  # a terminal, as far as progress() asks
    monkeypatch.setattr(sys, "stderr", out)  # where cstool's console writes (it follows sys.stderr)
    console.set_quiet(quiet)
    try:
        with console.progress("tag") as bar:
            console.set_total(bar, 40)
            bar.advance(bar.task_ids[0], 10)
    finally:
        console.set_quiet(False)
    return out.getvalue()


def test_the_bar_shows_done_of_total_and_the_time_left(monkeypatch):
    shown = _render(monkeypatch, quiet=False)
    assert "10/40" in shown and "eta" in shown
    assert _render(monkeypatch, quiet=True) == ""


def test_train_tagger_shows_stanzas_steps_as_a_bar(monkeypatch, tmp_path):
    from cstool.stages import train_tagger
    from cstool.stages.train_tagger import TrainTaggerConfig

    out = io.StringIO()
    out.isatty = lambda: True
    monkeypatch.setattr(sys, "stderr", out)
    train_tagger.run(
        TrainTaggerConfig(lang="en", max_steps=40, eval_interval=40),
        train=TINY_CONLLU,
        dev=None,
        output=tmp_path / "t.pt",
    )
    shown = out.getvalue()
    assert "train-tagger" in shown and "40/40" in shown and "eta" in shown
    assert "Finished STEP" not in shown  # Stanza's own lines became the bar
