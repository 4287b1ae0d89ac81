"""Memory of reading a Hugging Face dataset input: a save_to_disk folder and a folder of JSON Lines files,
read through ``artifacts.open_source`` batch by batch (every text decoded), against the same rows as Parquet
(read the same way, and read whole with ``pq.read_table`` for reference).

Prints, per input, the peak anonymous (heap) memory of the reading process above what it had before opening
the input (``RssAnon`` of /proc/self/status, sampled every 5 ms, conversion of the JSON Lines folder into the
datasets cache included). Memory-mapped file pages are not counted: they are the page cache, which the
kernel drops when memory is needed.

    OMP_NUM_THREADS=1 .venv/bin/python bench/hf_inputs.py [--mb 400]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

READ = r"""
import json, sys, threading, time
import datasets, pyarrow.parquet as pq  # imported before the baseline: their own import is not reading
from cstool.io import artifacts

def anon_kb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])

peak, done = [0], threading.Event()
def sample():  # every 5 ms, also while a folder of data files is converted into the cache
    while not done.is_set():
        peak[0] = max(peak[0], anon_kb())
        time.sleep(0.005)

spec, mode = sys.argv[1], sys.argv[2]
base = anon_kb()
threading.Thread(target=sample, daemon=True).start()
rows = 0
if mode == "pq.read_table":  # the reference: the same rows materialised in memory
    table = pq.read_table(spec)
    rows = table.num_rows
else:
    src = artifacts.open_source(spec)
    for batch in src.iter_batches(1024):
        rows += batch.num_rows
        sum(len(t) for t in batch.column("text").to_pylist())  # touch every text
done.set()
time.sleep(0.02)
print(json.dumps({"rows": rows, "peak_anon_mb": round((max(peak[0], anon_kb()) - base) / 1024, 1)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=400, help="approximate size of the dataset")
    args = parser.parse_args()
    import datasets

    datasets.disable_progress_bars()
    rows = args.mb * 1024  # rows of ~1 KB
    line = "नमस्ते दुनिया hello world " * 40  # ~1 KB of UTF-8
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "jsonl"
        folder.mkdir()
        with open(folder / "train.jsonl", "w", encoding="utf-8") as f:
            for i in range(rows):
                f.write(json.dumps({"id": str(i), "text": f"{i} {line}"}, ensure_ascii=False) + "\n")
        datasets.Dataset.from_json(str(folder / "train.jsonl"), cache_dir=str(root / "c0")).save_to_disk(
            root / "saved", num_shards=4
        )
        size = sum(f.stat().st_size for f in (root / "saved").glob("*.arrow")) / 2**20
        env_cache = {"HF_DATASETS_CACHE": str(root / "cache")}
        print(f"dataset: {rows:,} rows, {size:.0f} MB of Arrow")
        print(f"{'input':<36} {'read':<14} {'rows':>10} {'peak heap above start':>22}")
        datasets.Dataset.load_from_disk(str(root / "saved")).to_parquet(str(root / "rows.parquet"))
        runs = (
            ("save_to_disk folder", root / "saved", "batches"),
            ("folder of JSON Lines (+ conversion)", folder, "batches"),
            ("folder of JSON Lines (cached)", folder, "batches"),
            ("Parquet file", root / "rows.parquet", "batches"),
            ("Parquet file", root / "rows.parquet", "pq.read_table"),
        )
        for label, spec, mode in runs:
            r = subprocess.run(
                [sys.executable, "-c", READ, str(spec), mode],
                capture_output=True,
                text=True,
                env={**os.environ, **env_cache},
                check=True,
            )
            out = json.loads(r.stdout.strip().splitlines()[-1])
            print(f"{label:<36} {mode:<14} {out['rows']:>10,} {out['peak_anon_mb']:>19.1f} MB")


if __name__ == "__main__":
    main()
