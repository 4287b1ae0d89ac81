"""POS against POS-blind code-switching, seen through the probes of `make bench-cs-probes` (docs/probes.md).

    python bench/cs_probes.py examples/ud/out/runs/small-probes [--markdown] [--after hi]

For each strategy and each probe metric (translation en→hi / hi→en: acc, mrr; cloze per language: acc_norm), the
value after task --after (default: the last task) per code-switching mode (none, pos, random, posu when present),
mean ± 95 % CI over seeds, and the paired difference pos − random (and pos − none) over the seeds both have, with
its 95 % CI (Student t); with posu runs (POS switching with the union lexicon, `make -C examples/ud cs-union`)
also posu − pos. Also each mode's bits per byte on the dev sets after the last task, for reference.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sequences import show  # the side-by-side table of bench/sequences.py

from cstool.continual import forgetting
from cstool.continual.rmatrix import load_runs


def strategy_and_cs(name: str) -> tuple[str, str]:
    stem = name.rsplit("-s", 1)[0]
    strategy, _, cs = stem.rpartition("-")
    return strategy, cs


def collect(folder: Path, after: str | None) -> tuple[dict, list[str]]:
    """(strategy, cs, probe, metric) → {seed: value}; and the probe names in order."""
    values: dict[tuple, dict[int, float]] = defaultdict(dict)
    probes: list[str] = []
    for run_dir in sorted(p for p in folder.iterdir() if (p / "done.json").exists()):
        (run,), _ = load_runs([run_dir])
        strategy, cs = strategy_and_cs(run_dir.name)
        row = run.tasks.index(after) if after else len(run.tasks) - 1
        for (probe, metric), column in run.probes.items():
            if metric in ("acc", "mrr", "acc_norm") and column[row] is not None:
                values[(strategy, cs, probe, metric)][run.seed] = column[row]
                if probe not in probes:
                    probes.append(probe)
        for j, task in enumerate(run.tasks):
            values[(strategy, cs, f"bpb {task}", "bpb")][run.seed] = run.matrices["bpb"][-1][j]
    return values, probes


def fmt(values: list[float], signed: bool = False) -> str:
    mean, ci, _ = forgetting.mean_ci95(values)
    if mean is None:
        return "-"
    digits = 4 if signed else 3
    text = f"{mean:+.{digits}f}" if signed else f"{mean:.{digits}f}"
    return text + (f" ± {ci:.{digits}f}" if ci is not None else "")


def paired(a: dict[int, float], b: dict[int, float]) -> str:
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return "-"
    return fmt([a[s] - b[s] for s in seeds], signed=True)


def main(argv: list[str]) -> None:
    folder = Path(argv[0]) if argv and not argv[0].startswith("--") else Path("examples/ud/out/runs/small-probes")
    markdown = "--markdown" in argv
    after = argv[argv.index("--after") + 1] if "--after" in argv else None
    values, probes = collect(folder, after)
    strategies = sorted({k[0] for k in values})
    modes = [m for m in ("none", "pos", "random", "posu") if any(k[1] == m for k in values)]
    keys = sorted({(k[2], k[3]) for k in values}, key=lambda pm: (pm[0].startswith("bpb"), pm))
    head = ["strategy", "probe", "metric", *modes, "pos − random", "pos − none"] + (
        ["posu − pos"] if "posu" in modes else []
    )
    rows = []
    for s in strategies:
        for probe, metric in keys:
            cells = [list(values.get((s, m, probe, metric), {}).values()) for m in modes]
            pos, rnd, none, posu = (values.get((s, m, probe, metric), {}) for m in ("pos", "random", "none", "posu"))
            diffs = [paired(pos, rnd), paired(pos, none)] + ([paired(posu, pos)] if "posu" in modes else [])
            rows.append([s, probe, metric, *(fmt(c) for c in cells), *diffs])
    print(f"after task: {after or 'the last'}; mean ± 95 % CI over seeds\n")
    show(head, rows, markdown)


if __name__ == "__main__":
    main(sys.argv[1:])
