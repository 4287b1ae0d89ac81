"""Benchmark `cstool tag` against calling stanza.Pipeline directly, and its memory growth with input size.

    OMP_NUM_THREADS=1 .venv/bin/python bench/tag.py [--sentences 2000] [--repeats 3]

Both sides use the same Stanza tagger (trained here on UD English EWT dev when ../shared/data is present,
else on the project's tiny fixture) and the same sentences. The direct side hands Stanza the whitespace
tokens of every sentence in one bulk call; cstool reads the .txt, tokenises, tags in batches and writes
Parquet. Timings alternate between the two, best of --repeats each. Peak RSS is measured in a fresh
process per input size (1x and 8x).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "ud"

RSS_CHILD = """
import resource, sys
from cstool.models import set_threads
from cstool.stages.tag import TagConfig, tag_file
set_threads(1)
tag_file(sys.argv[1], sys.argv[2], config=TagConfig(lang=sys.argv[3], pos_model=sys.argv[4]))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sentences", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import stanza  # noqa: F401

    from cstool import models
    from cstool.conllu import read_conllu
    from cstool.stages.tag import TagConfig, tag_file
    from cstool.stages.train_tagger import TrainTaggerConfig, train_tagger

    models.set_threads(1)
    work = Path(tempfile.mkdtemp(prefix="cstool-bench-tag-"))
    treebank = SHARED / "en_ewt-ud-dev.conllu"
    if not treebank.is_file():
        treebank = REPO / "tests" / "data" / "tiny_en.conllu"
    tagger = work / "tagger.pt"
    t0 = time.perf_counter()
    acc = train_tagger(treebank, None, tagger, config=TrainTaggerConfig(lang="en", max_steps=300))["dev_upos_accuracy"]
    print(f"tagger: {treebank.name}, 300 steps in {time.perf_counter() - t0:.0f}s, held-out UPOS {100 * acc:.1f}%")

    sents = [" ".join(s.forms) for s in read_conllu(treebank)]
    lines = (sents * (args.sentences // len(sents) + 1))[: args.sentences]
    txt = work / "in.txt"
    txt.write_text("\n".join(lines) + "\n", encoding="utf-8")
    n_tokens = sum(len(line.split()) for line in lines)
    print(f"input: {len(lines)} sentences, {n_tokens} tokens")

    nlp = models.load_stanza_pipeline("en", pos_model=tagger, pretokenized=True)
    cfg = TagConfig(lang="en", pos_model=str(tagger))

    def direct() -> None:
        nlp([line.split() for line in lines])

    def cstool() -> None:
        tag_file(str(txt), str(work / "out.parquet"), config=cfg)

    best = {"direct": float("inf"), "cstool": float("inf")}
    for _ in range(args.repeats):
        for name, fn in (("direct", direct), ("cstool", cstool)):
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    ratio = best["direct"] / best["cstool"]
    print(f"direct stanza.Pipeline bulk : {len(lines) / best['direct']:8.0f} sentences/s")
    print(f"cstool tag (read+tag+write) : {len(lines) / best['cstool']:8.0f} sentences/s  (includes pipeline load)")
    print(f"throughput ratio cstool/direct: {ratio:.3f}  (goal >= 0.95)")

    rss = {}
    for factor in (1, 8):
        big = work / f"in{factor}.txt"
        big.write_text("\n".join(lines * factor) + "\n", encoding="utf-8")
        out = subprocess.run(
            [sys.executable, "-c", RSS_CHILD, str(big), str(work / f"o{factor}.parquet"), "en", str(tagger)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rss[factor] = int(out.strip().splitlines()[-1]) / 1024
        print(f"peak RSS at {factor}x input ({factor * len(lines)} sentences): {rss[factor]:.0f} MiB")
    print(f"peak RSS growth 8x/1x: {rss[8] / rss[1]:.3f}  (goal <= 1.2)")


if __name__ == "__main__":
    main()
