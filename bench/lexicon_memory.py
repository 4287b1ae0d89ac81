"""Peak memory of `cstool lexicon` on parallel text of growing size: does it stay flat in the number of pairs?

    OMP_NUM_THREADS=1 .venv/bin/python bench/lexicon_memory.py [--pairs 10000 40000 160000]
        [--before DIR] [--common "--model ibm1 --iterations 1"] [--options "--align-train-pairs 10000"]

Synthetic parallel tagged corpora (the toy language pair of tests/stages/test_lexicon_stage.py: six nouns,
four verbs, four adjectives and a proper noun, random sentences of 4-5 tokens, the target verb-final), the
sides in the same id order, written as Parquet. Each size is induced in a fresh process
(`python -m cstool lexicon --source S --target T -o LEX.tsv`), and its peak RSS read from `/usr/bin/time -v`
(ru_maxrss). With `--before DIR` (a folder holding another version's `cstool` package) the
same commands run with that version too, and the lexicons of both are compared byte for byte.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from cstool.io.artifacts import TAGGED  # noqa: E402

NOUNS = {"kato": "cat", "hundo": "dog", "domo": "house", "libro": "book", "akvo": "water", "pano": "bread"}
VERBS = {"vidas": "sees", "mangas": "eats", "havas": "has", "amas": "loves"}
ADJS = {"granda": "big", "ruga": "red", "nova": "new", "bona": "good"}
PROPER = {"Petro": "Peter"}


def write_corpus(n: int, root: Path, seed: int = 0, chunk: int = 10_000) -> tuple[Path, Path]:
    """n sentence pairs, source ``noun verb [adj] noun .``, target ``noun [adj] noun verb .``."""
    rng = random.Random(seed)
    tr = {**NOUNS, **VERBS, **ADJS, **PROPER}
    paths = root / f"src{n}.parquet", root / f"tgt{n}.parquet"
    writers = [pq.ParquetWriter(p, TAGGED) for p in paths]
    for start in range(0, n, chunk):
        src, tgt = [], []
        for i in range(start, min(n, start + chunk)):
            subj = rng.choice(list(NOUNS) + list(PROPER))
            verb, obj = rng.choice(list(VERBS)), rng.choice(list(NOUNS))
            adj = [rng.choice(list(ADJS))] if rng.random() < 0.7 else []
            s_tok = [subj, verb, *adj, obj, "."]
            sp = "PROPN" if subj in PROPER else "NOUN"
            s_pos = [sp, "VERB", *["ADJ"] * len(adj), "NOUN", "PUNCT"]
            t_tok = [tr[subj], *[tr[a] for a in adj], tr[obj], tr[verb], "."]
            t_pos = [sp, *["ADJ"] * len(adj), "NOUN", "VERB", "PUNCT"]
            for rows, toks, pos, lang in ((src, s_tok, s_pos, "eo"), (tgt, t_tok, t_pos, "en")):
                rows.append(
                    {"id": f"s{i}", "text": " ".join(toks), "tokens": toks, "upos": pos, "lemmas": None, "lang": lang}
                )
        for w, rows in zip(writers, (src, tgt)):
            w.write_table(pa.Table.from_pylist(rows, schema=TAGGED))
    for w in writers:
        w.close()
    return paths


def run_lexicon(code: Path, src: Path, tgt: Path, out: Path, options: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of one `cstool lexicon` process run from the package at ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code), "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "cstool", "lexicon", "--source", str(src)]
    cmd += ["--target", str(tgt), "-o", str(out), *options]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=code)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    return kib / 1024, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, nargs="+", default=[10_000, 40_000, 160_000])
    ap.add_argument("--before", type=Path, help="folder holding another version's cstool package")
    ap.add_argument("--common", default="--model ibm1 --iterations 1", help="options for both versions")
    ap.add_argument("--options", default="--align-train-pairs 10000", help="options for this version only")
    args = ap.parse_args()
    versions = [("after", REPO, args.common.split() + args.options.split())]
    if args.before:
        versions.insert(0, ("before", args.before.resolve(), args.common.split()))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("| pairs | " + " | ".join(f"{v} peak RSS MiB | {v} s" for v, _, _ in versions) + " | same lexicon |")
        print("|---:|" + "---:|---:|" * len(versions) + "---|")
        for n in args.pairs:
            src, tgt = write_corpus(n, tmp)
            cells, outs = [], []
            for name, code, options in versions:
                out = tmp / f"{name}{n}.tsv"
                mib, seconds = run_lexicon(code, src, tgt, out, options)
                cells += [f"{mib:.0f}", f"{seconds:.0f}"]
                outs.append(out.read_bytes())
            same = "yes" if len(outs) > 1 and outs[0] == outs[1] else ("-" if len(outs) == 1 else "no")
            print(f"| {n:,} | " + " | ".join(cells) + f" | {same} |", flush=True)


if __name__ == "__main__":
    main()
