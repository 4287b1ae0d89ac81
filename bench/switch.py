"""Benchmark cstool switch against a bare Python loop doing one dict lookup per token.

Hindi PUD (gold tags) replicated to >= 2 M tokens (distinct row ids), the Wiktionary lexicon. Prints, side
by side from one run: tokens/s of the bare loop (over a ready Python list, and including reading the tokens
out of Arrow), of the switch stage over in-memory batches (as many rows as the command reads at a time), and
of the whole command (read Parquet, switch, write Parquet, with provenance hashing and lexicon loading; each
run in a fresh process, module imports excluded); then the peak resident memory of the command at 1x and 2x
the input size. Best of 3 throughout; everything runs pinned to one CPU (Arrow's threads included).

    OMP_NUM_THREADS=1 .venv/bin/python bench/switch.py [--tokens 2000000] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]


def replicated(conllu: Path, min_tokens: int) -> pa.Table:
    from cstool.stages.tag import TagConfig, tag_batches
    from cstool.text.corpus import read_input

    cfg = TagConfig(lang="hi")
    batches, _ = read_input(str(conllu), cfg)
    base = pa.Table.from_batches(list(tag_batches(batches, config=cfg)))
    per_copy = sum(len(t) for t in base.column("tokens").to_pylist())
    copies = -(-min_tokens // per_copy)
    parts = []
    for k in range(copies):
        ids = pa.array([f"{i}#{k}" for i in base.column("id").to_pylist()], pa.string())
        parts.append(base.set_column(0, base.schema.field("id"), ids))
    return pa.concat_tables(parts).combine_chunks()


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def one_core() -> str:
    """Pin this process (and the threads Arrow starts) to one CPU, so "one core" is what is measured."""
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def child_peak(input_path: str, lexicon: str, out: str) -> None:
    one_core()
    from cstool.stages import switch
    from cstool.stages.switch import SwitchConfig

    start = time.perf_counter()
    switch.run(SwitchConfig(ratio=0.3), input=input_path, output=out, lexicon=lexicon)
    elapsed = time.perf_counter() - start
    print(json.dumps({"seconds": elapsed, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=2_000_000)
    ap.add_argument("--data", default=os.environ.get("CSTOOL_SHARED_DATA", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child_peak(*args.child)
    pinned = one_core()
    from cstool.base.console import set_quiet
    from cstool.stages.switch import SwitchConfig, switch_batches
    from cstool.text.lexicon import load_lexicon

    set_quiet(True)
    data = Path(args.data)
    lexicon_path = str(data / "lexicons" / "hi-en.wiktionary.tsv")
    table = replicated(data / "ud" / "hi_pud-ud-test.conllu", args.tokens)
    n_tokens = sum(pa.compute.list_value_length(table.column("tokens")).to_pylist())
    lex = load_lexicon(lexicon_path)
    lookup = {}
    for line in Path(lexicon_path).read_text().splitlines()[1:]:
        src, tgt = line.split("\t")[:2]
        lookup.setdefault(src, tgt)
    tokens_list = table.column("tokens").combine_chunks().flatten().to_pylist()
    import cstool.stages.switch as switch_stage

    batch_rows = getattr(switch_stage, "BATCH_ROWS", 1024)  # what switch's run reads at a time
    batches = table.to_batches(max_chunksize=batch_rows)

    def bare_list() -> None:
        get = lookup.get
        for tok in tokens_list:
            get(tok)

    def bare_arrow() -> None:
        get = lookup.get
        for b in batches:
            for tok in b.column("tokens").flatten().to_pylist():
                get(tok)

    config = SwitchConfig(ratio=0.3)

    def stage() -> None:
        for _ in switch_batches(iter(batches), lexicon=lex, config=config):
            pass

    results = {
        "bare loop (python list)": best_of(bare_list),
        "bare loop (incl. reading Arrow)": best_of(bare_arrow),
        f"switch stage (in memory, {batch_rows}-row batches)": best_of(stage),
    }
    with tempfile.TemporaryDirectory() as tmp:
        one, two = Path(tmp) / "x1.parquet", Path(tmp) / "x2.parquet"
        pq.write_table(table, one, row_group_size=8192, compression="zstd")
        pq.write_table(pa.concat_tables([table, table]), two, row_group_size=8192, compression="zstd")
        runs = {}
        for name, path, repeat in (("1x", one, 3), ("2x", two, 1)):
            runs[name] = []
            for _ in range(repeat):
                res = subprocess.run(
                    [sys.executable, __file__, "--child", str(path), lexicon_path, str(Path(tmp) / f"o{name}.parquet")],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs[name].append(json.loads(res.stdout.strip().splitlines()[-1]))
        peaks = {name: {"maxrss_mb": max(r["maxrss_mb"] for r in rs)} for name, rs in runs.items()}
        results["switch command (Parquet in and out)"] = min(r["seconds"] for r in runs["1x"])
    bare = results["bare loop (python list)"]
    print(
        f"input: Hindi PUD x{n_tokens // 23829}, {table.num_rows} rows, {n_tokens} tokens; "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; {pinned}"
    )
    print(f"{'what':46s} {'seconds':>8s} {'tokens/s':>12s} {'vs bare loop':>13s}")
    for name, sec in results.items():
        print(f"{name:46s} {sec:8.3f} {n_tokens / sec:12,.0f} {bare / sec:12.2f}x")
    print(
        f"peak RSS of the switch command: {peaks['1x']['maxrss_mb']:.0f} MB at {n_tokens} tokens, "
        f"{peaks['2x']['maxrss_mb']:.0f} MB at {2 * n_tokens} tokens"
    )


if __name__ == "__main__":
    main()
