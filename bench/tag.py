"""Benchmark `cstool tag` against calling stanza.Pipeline directly, its memory growth with input size, and
`tag --workers 2` against `--workers 1`.

    OMP_NUM_THREADS=1 .venv/bin/python bench/tag.py [--sentences 2000] [--repeats 3]
        [--part all|direct|workers] [--worker-sentences 40000]

Both sides use the same Stanza tagger (trained here on UD English EWT dev when ../shared/data is present,
else on the project's tiny fixture) and the same sentences. The direct side hands Stanza the whitespace
tokens of every sentence in one bulk call; cstool reads the .txt, tokenises, tags in batches and writes
Parquet. Timings alternate between the two, best of --repeats each. Peak RSS is measured in a fresh
process per input size (1x and 8x).

Workers: the whole command (`python -m cstool tag FILE --workers W`, process start, imports and pipeline
loads included) on --worker-sentences sentences, 1 and 2 workers alternating, best of --repeats each, with
the CPU time of all its processes; the two outputs are compared byte for byte. Peak RSS (VmHWM) of the
parent and of each worker with 2 workers, in a fresh process per input size (1x and 4x of a quarter of
--worker-sentences).
"""

from __future__ import annotations

import argparse
import os
import resource
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
from cstool.base.devices import set_threads
from cstool.stages.tag import TagConfig, run
set_threads(1)
run(TagConfig(lang=sys.argv[3], pos_model=sys.argv[4]), input=sys.argv[1], output=sys.argv[2])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

# Peak RSS (VmHWM) of this process and of each worker, sampled every 0.1 s while they run (Linux /proc).
# Not ru_maxrss: on Linux it survives exec, so a child of a big process would report its parent's size.
WORKERS_RSS_CHILD = """
import os, re, sys, threading, time
from pathlib import Path
from cstool.stages.tag import TagConfig, run

def hwm(pid):
    return int(re.search(r"VmHWM:\\s+(\\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))

peaks, done, me = {}, threading.Event(), os.getpid()

def watch():
    while not done.is_set():
        for child in Path(f"/proc/{me}/task/{me}/children").read_text().split():
            try:
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    peaks[child] = max(peaks.get(child, 0), hwm(child))
            except (OSError, AttributeError):
                pass
        time.sleep(0.1)

threading.Thread(target=watch, daemon=True).start()
run(TagConfig(lang=sys.argv[3], pos_model=sys.argv[4], workers=2), input=sys.argv[1], output=sys.argv[2])
done.set()
print(hwm(me), *sorted(peaks.values()))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sentences", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--part", choices=("all", "direct", "workers"), default="all")
    ap.add_argument("--worker-sentences", type=int, default=40000)
    ap.add_argument("--tagger", type=Path, help="Use this tagger file instead of training one.")
    ap.add_argument("--device", default="cpu", help="cpu or cuda: where both sides of the direct part tag.")
    args = ap.parse_args()

    import stanza  # noqa: F401

    from cstool.base import devices
    from cstool.io.conllu import read_conllu
    from cstool.stages import train_tagger
    from cstool.stages.train_tagger import TrainTaggerConfig

    devices.set_threads(1)
    work = Path(tempfile.mkdtemp(prefix="cstool-bench-tag-"))
    treebank = SHARED / "en_ewt-ud-dev.conllu"
    if not treebank.is_file():
        treebank = REPO / "tests" / "data" / "tiny_en.conllu"
    tagger = args.tagger or work / "tagger.pt"
    if args.tagger is None:
        t0 = time.perf_counter()
        config = TrainTaggerConfig(lang="en", max_steps=300)
        acc = train_tagger.run(config, train=treebank, dev=None, output=tagger).dev_upos_accuracy
        print(f"tagger: {treebank.name}, 300 steps in {time.perf_counter() - t0:.0f}s, held-out UPOS {100 * acc:.1f}%")

    sents = [" ".join(s.forms) for s in read_conllu(treebank)]
    lines = (sents * (args.sentences // len(sents) + 1))[: args.sentences]
    if args.part in ("all", "workers"):
        bench_workers(work, tagger, sents, args)
    if args.part in ("all", "direct"):
        bench_direct(work, tagger, lines, args)


def bench_direct(work: Path, tagger: Path, lines: list[str], args: argparse.Namespace) -> None:
    from cstool.models import stanza_pipelines
    from cstool.stages import tag
    from cstool.stages.tag import TagConfig

    txt = work / "in.txt"
    txt.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"input: {len(lines)} sentences, {sum(len(line.split()) for line in lines)} tokens")
    nlp = stanza_pipelines.load_stanza_pipeline("en", pos_model=tagger, pretokenized=True, device=args.device)
    cfg = TagConfig(lang="en", pos_model=str(tagger), device=args.device)
    words = sum(len(line.split()) for line in lines)

    def direct() -> None:
        nlp([line.split() for line in lines])

    def cstool() -> None:
        tag.run(cfg, input=str(txt), output=str(work / "out.parquet"))

    best = {"direct": float("inf"), "cstool": float("inf")}
    for _ in range(args.repeats):
        for name, fn in (("direct", direct), ("cstool", cstool)):
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    ratio = best["direct"] / best["cstool"]
    print(f"device: {args.device}")
    print(
        f"direct stanza.Pipeline bulk : {len(lines) / best['direct']:8.0f} sentences/s, "
        f"{words / best['direct']:8.0f} words/s"
    )
    print(
        f"cstool tag (read+tag+write) : {len(lines) / best['cstool']:8.0f} sentences/s, "
        f"{words / best['cstool']:8.0f} words/s  (includes pipeline load)"
    )
    print(f"throughput ratio cstool/direct: {ratio:.3f}  (goal >= 0.95)")

    rss = {}
    for factor in (1, 8):
        (rss[factor],) = _peak_rss_mib(RSS_CHILD, lines * factor, work / f"in{factor}", tagger)
        print(f"peak RSS at {factor}x input ({factor * len(lines)} sentences): {rss[factor]:.0f} MiB")
    print(f"peak RSS growth 8x/1x: {rss[8] / rss[1]:.3f}  (goal <= 1.2)")


def _peak_rss_mib(child: str, lines: list[str], stem: Path, tagger: Path, env: dict | None = None) -> list[float]:
    """Tag ``lines`` (written to STEM.txt, tagged into STEM.parquet) in a fresh process running ``child``; the
    peak RSS figures (KiB) it prints on its last line, in MiB."""
    stem.with_suffix(".txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = [str(stem.with_suffix(".txt")), str(stem.with_suffix(".parquet")), "en", str(tagger)]
    out = subprocess.run(
        [sys.executable, "-c", child, *args], capture_output=True, text=True, check=True, env=env
    ).stdout
    return [int(x) / 1024 for x in out.strip().splitlines()[-1].split()]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_workers(work: Path, tagger: Path, sents: list[str], args: argparse.Namespace) -> None:
    n = args.worker_sentences
    lines = (sents * (n // len(sents) + 1))[:n]
    txt = work / "workers.txt"
    txt.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"workers: {n} sentences, {sum(len(s.split()) for s in lines)} tokens, {os.cpu_count()} CPUs")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    best = {1: float("inf"), 2: float("inf")}
    cpu = {1: float("inf"), 2: float("inf")}
    for _ in range(args.repeats):
        for w in (1, 2):
            cmd = [sys.executable, "-m", "cstool", "-q", "tag", str(txt), "--lang", "en", "--pos-model", str(tagger)]
            t, c = time.perf_counter(), _children_cpu()
            subprocess.run(cmd + ["-o", str(work / f"w{w}.parquet"), "--workers", str(w)], env=env, check=True)
            wall, used = time.perf_counter() - t, _children_cpu() - c
            best[w], cpu[w] = min(best[w], wall), min(cpu[w], used)
            print(f"  --workers {w}: {wall:6.1f} s wall, {used:6.1f} s CPU (all processes)", flush=True)
    same = (work / "w1.parquet").read_bytes() == (work / "w2.parquet").read_bytes()
    for w in (1, 2):
        print(
            f"cstool tag --workers {w}: {n / best[w]:8.0f} sentences/s  (whole command, best of {args.repeats}); "
            f"CPU {cpu[w]:.1f} s"
        )
    print(f"speed-up 2 workers / 1: {best[1] / best[2]:.2f}x  (goal >= 1.7)   outputs byte-identical: {same}")

    rss = {}
    for factor in (1, 4):
        parent, *workers = _peak_rss_mib(
            WORKERS_RSS_CHILD, lines[: n // 4] * factor, work / f"wrss{factor}", tagger, env
        )
        rss[factor] = max(workers)
        print(
            f"--workers 2 at {factor}x ({factor * (n // 4)} sentences): peak RSS parent {parent:.0f} MiB, "
            f"workers {', '.join(f'{w:.0f}' for w in workers)} MiB"
        )
    print(f"worker peak RSS growth 4x/1x: {rss[4] / rss[1]:.3f}  (flat: <= 1.2)")


if __name__ == "__main__":
    main()
