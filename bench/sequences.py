"""The rule of docs/results/ud.md ("Sequences") over the runs of `make bench-sequences`, side by side.

    python bench/sequences.py examples/ud/out/seq [--markdown]

For every sequence × budget under the folder (``<seq>/<budget>/<strategy>-none-s<seed>/``), per strategy over its
seeds (mean ± 95 % CI, Student t): forgetting (Chaudhry et al. 2018, bits per byte, lower is better) and its ratio
to plain replay's; each new language's dev bits per byte right after its task (R[j][j], j ≥ 1) and its gap to
naive's. A strategy meets the rule when its mean forgetting is at most replay's and every new language is within
5 % of naive's. The last table says where each strategy meets it.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cstool.continual import forgetting
from cstool.continual.rmatrix import load_runs

METRIC = "bpb"
MARGIN = 0.05


def strategy_of(run_dir: Path) -> str:
    return run_dir.name.rsplit("-none-s", 1)[0]


def group(folder: Path) -> dict[str, dict[str, list]]:
    """strategy → {'forgetting': [...], 'new': [[R[j][j] per j ≥ 1] per seed], 'tasks': (...)}"""
    out: dict[str, dict[str, list]] = defaultdict(lambda: {"forgetting": [], "new": [], "tasks": []})
    for run_dir in sorted(p for p in folder.iterdir() if (p / "done.json").exists()):
        (run,), _ = load_runs([run_dir])
        raw = run.matrices[METRIC]
        g = out[strategy_of(run_dir)]
        g["forgetting"].append(forgetting.forgetting(run.scores(METRIC)))
        g["new"].append([raw[j][j] for j in range(1, len(run.tasks))])
        g["tasks"] = run.tasks
    return out


def fmt(mean: float | None, ci: float | None) -> str:
    if mean is None:
        return "-"
    return f"{mean:.3f}" + (f" ± {ci:.3f}" if ci is not None else "")


def table(folder: Path) -> tuple[list[str], list[list[str]], dict[str, bool]]:
    groups = group(folder)
    if "naive" not in groups or "replay" not in groups:
        raise SystemExit(f"{folder}: needs naive and replay runs beside the others")
    tasks = groups["naive"]["tasks"]
    mean = lambda xs: forgetting.mean_ci95(xs)[0]
    replay_f = mean(groups["replay"]["forgetting"])
    naive_new = [mean([seed[j] for seed in groups["naive"]["new"]]) for j in range(len(tasks) - 1)]
    head = ["strategy", "seeds", "forgetting", "vs replay"] + [f"{t} (vs naive)" for t in tasks[1:]] + ["rule"]
    rows, holds = [], {}
    for name, g in groups.items():
        f_mean, f_ci, n = forgetting.mean_ci95(g["forgetting"])
        cells = [name, str(n), fmt(f_mean, f_ci), f"{f_mean / replay_f:.2f}×"]
        ok = f_mean <= replay_f
        for j in range(len(tasks) - 1):
            m = mean([seed[j] for seed in g["new"]])
            gap = m / naive_new[j] - 1
            ok = ok and gap <= MARGIN
            cells.append(f"{m:.3f} ({gap:+.1%})")
        holds[name] = ok
        rows.append([*cells, "holds" if ok else "fails"])
    return head, rows, holds


def show(head: list[str], rows: list[list[str]], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(x) for x in col) for col in zip(head, *rows)]
        for r in [head, *rows]:
            print("  ".join(x.ljust(w) for x, w in zip(r, widths)))
    print()


def main(argv: list[str]) -> None:
    root = Path(argv[0]) if argv and not argv[0].startswith("--") else Path("examples/ud/out/seq")
    markdown = "--markdown" in argv
    verdicts: dict[str, dict[str, bool]] = defaultdict(dict)
    cases = []
    for seq in sorted(p for p in root.iterdir() if p.is_dir()):
        for budget in sorted(p for p in seq.iterdir() if p.is_dir()):
            case = f"{seq.name}/{budget.name}"
            print(f"{'### ' if markdown else ''}{case}\n")
            head, rows, holds = table(budget)
            show(head, rows, markdown)
            cases.append(case)
            for name, ok in holds.items():
                verdicts[name][case] = ok
    print(f"{'### ' if markdown else ''}where each strategy meets the rule\n")
    rows = [
        [name, *("yes" if v.get(c) else ("-" if c not in v else "no") for c in cases), f"{sum(v.values())}/{len(v)}"]
        for name, v in verdicts.items()
    ]
    show(["strategy", *cases, "holds"], rows, markdown)


if __name__ == "__main__":
    main(sys.argv[1:])
