"""report: R matrices from metrics files, the seed summary, plots, Markdown, and bad input."""

from __future__ import annotations

import hashlib
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from cstool.cli import app
from cstool.continual import forgetting
from cstool.continual.rmatrix import load_runs
from cstool.io import artifacts
from cstool.stages import report
from cstool.stages.report import ReportConfig

from .conftest import write_metrics

TASKS = ["en", "hi", "mr"]


def bpb_matrix(drop: float, learn: float = 1.0) -> list[list[float]]:
    """English-anchored bpb: diagonal `learn`, unseen tasks 3.0, seen tasks rise by `drop` per later task."""
    R = [[3.0] * 3 for _ in range(3)]
    for i in range(3):
        for j in range(i + 1):
            R[i][j] = learn + drop * (i - j)
    return R


def write_run(run_dir, name, strategy, cs, seed, R, tasks=TASKS, metric="bpb", schema=None, options=None):
    rows = {k: [] for k in artifacts.METRICS.names}
    for i, after in enumerate(tasks):
        for j, ev in enumerate(tasks):
            if R[i][j] is None:
                continue
            for k, v in (
                ("run", name),
                ("strategy", strategy),
                ("cs", cs),
                ("seed", seed),
                ("after_task", after),
                ("eval_task", ev),
                ("metric", metric),
                ("value", R[i][j]),
            ):
                rows[k].append(v)
            rows["run"].append(name), rows["strategy"].append(strategy), rows["cs"].append(cs)
            rows["seed"].append(seed), rows["after_task"].append(after), rows["eval_task"].append(ev)
            rows["metric"].append("tokens"), rows["value"].append(1000.0)  # counts are not scores
    rows["phase"] = [None] * len(rows["run"])  # R-matrix rows, not rows of a phase within a task
    table = pa.table(rows, schema=schema or artifacts.METRICS)
    run_dir.mkdir(parents=True, exist_ok=True)
    artifacts.write_table(
        run_dir / "metrics.parquet",
        table,
        kind="metrics",
        provenance=artifacts.make_provenance("replay-train", options=options or {}),
    )
    return run_dir


@pytest.fixture
def runs(tmp_path):
    dirs = []
    for strategy, drops in (("naive", (0.5, 0.6, 0.7)), ("replay", (0.1, 0.05, 0.15))):
        for seed, drop in zip((1, 2, 3), drops):
            name = f"{strategy}-s{seed}"
            dirs.append(write_run(tmp_path / name, name, strategy, "none", seed, bpb_matrix(drop)))
    return dirs


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_summary_matches_hand_computation(runs, tmp_path):
    result = report.run(runs=runs, output=tmp_path / "rep", config=ReportConfig())
    rows = {(r["strategy"], r["metric"]): r for r in result.summary.to_pylist()}
    # Forgetting on -bpb with drop d: task en: (1) - (1+2d) → 2d; task hi: d. Mean 1.5 d.
    naive = rows[("naive", "Forgetting")]
    per_seed = [1.5 * d for d in (0.5, 0.6, 0.7)]
    assert naive["mean"] == pytest.approx(sum(per_seed) / 3)
    sd = math.sqrt(sum((v - 0.9) ** 2 for v in per_seed) / 2)
    assert naive["ci95"] == pytest.approx(4.302653 * sd / math.sqrt(3), rel=1e-5)
    assert naive["n"] == 3 and naive["runs"] == ["naive-s1", "naive-s2", "naive-s3"]
    assert naive["score"] == "-bpb" and naive["tasks"] == "en→hi→mr"
    assert rows[("replay", "Forgetting")]["mean"] == pytest.approx(1.5 * 0.1)
    assert rows[("naive", "BWT")]["mean"] == pytest.approx(-rows[("naive", "Forgetting")]["mean"])
    # Last = -mean bpb after mr: (1+2d + 1+d + 1)/3
    assert rows[("replay", "Last")]["mean"] == pytest.approx(-(3 + 3 * 0.1) / 3)
    assert rows[("naive", "FWT")]["mean"] == pytest.approx(0.0)
    assert {r["score"] for r in result.summary.to_pylist()} == {"-bpb"}  # tokens rows are skipped


def test_summary_md_shows_each_metric_in_its_natural_direction(runs, tmp_path):
    md = report.run(runs=runs, output=tmp_path / "rep", config=ReportConfig()).markdown
    row = next(line for line in md.splitlines() if line.startswith("| naive | none |")).split(" | ")
    assert row[2] == "bpb (lower is better)"
    # bits per byte after mr: 1 + d (mean over seeds 1.6); BWT = bpb rise on en and hi = 1.5 d = Forgetting
    last, avg, bwt, fwt, forgot = (float(cell.split(" ± ")[0]) for cell in row[3:8])
    assert last == pytest.approx(1.6, abs=5e-4) and bwt == pytest.approx(0.9, abs=5e-4) == forgot
    assert avg > 0 and fwt == 0.0 and "-0.000" not in md and "lower is better, 0 is nothing forgotten" in md
    assert all(not cell.startswith("-") for cell in row[3:8])


def test_summary_md_has_per_language_numbers(runs, tmp_path):
    md = report.run(runs=runs, output=tmp_path / "rep", config=ReportConfig()).markdown
    assert "| strategy | cs | task | final bpb (lower is better) | Forgetting | seeds |" in md
    rows = {
        tuple(cells[1:4]): cells[4:7]
        for line in md.splitlines()
        if (cells := [c.strip() for c in line.split("|")])[1:2] in (["naive"], ["replay"]) and len(cells) == 8
    }
    mean = lambda cell: float(cell.split(" ± ")[0])
    # naive, drops d = 0.5, 0.6, 0.7: after mr, en's bpb is 1 + 2d (forgot 2d), hi's 1 + d (forgot d), mr's 1
    en, hi, mr = (rows[("naive", "none", t)] for t in TASKS)
    assert mean(en[0]) == pytest.approx(2.2, abs=5e-4) and mean(en[1]) == pytest.approx(1.2, abs=5e-4)
    assert mean(hi[0]) == pytest.approx(1.6, abs=5e-4) and mean(hi[1]) == pytest.approx(0.6, abs=5e-4)
    assert mr[0] == "1.000 ± 0.000" and mr[1] == "—" and en[2] == "3"
    assert mean(rows[("replay", "none", "en")][1]) == pytest.approx(2 * 0.1, abs=5e-4)


def test_pngs_are_valid_and_follow_the_data(runs, tmp_path):
    out = tmp_path / "rep"
    result = report.run(runs=runs, output=out, config=ReportConfig())
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == sorted(["forgetting.png", *(f"rmatrix_{d.name}.png" for d in runs)])
    for p in out.glob("*.png"):
        with Image.open(p) as im:
            assert im.format == "PNG" and im.size[0] > 100 and im.size[1] > 100
            im.verify()
    assert result.metric == "bpb"
    before = {p.name: sha(p) for p in out.glob("*.png")}
    again = report.run(runs=runs, output=out, config=ReportConfig())  # same data → same bytes
    assert {p.name: sha(p) for p in out.glob("*.png")} == before and again.metric == "bpb"
    write_run(runs[0], "naive-s1", "naive", "none", 1, bpb_matrix(0.55))  # within the shared range 1..3
    report.run(runs=runs, output=out, config=ReportConfig())
    after = {p.name: sha(p) for p in out.glob("*.png")}
    assert after["forgetting.png"] != before["forgetting.png"]
    assert after["rmatrix_naive-s1.png"] != before["rmatrix_naive-s1.png"]
    assert after["rmatrix_replay-s1.png"] == before["rmatrix_replay-s1.png"]


def test_heatmaps_of_one_report_share_one_colour_scale(tmp_path):
    low = write_run(tmp_path / "low", "low", "replay", "none", 1, bpb_matrix(0.1, learn=1.0))
    high = write_run(tmp_path / "high", "high", "naive", "none", 1, bpb_matrix(2.0, learn=1.0))
    alone = report.run(runs=[low], output=tmp_path / "alone", config=ReportConfig())
    both = report.run(runs=[low, high], output=tmp_path / "both", config=ReportConfig())
    assert alone.heatmap_scale == (1.0, 3.0) and both.heatmap_scale == (1.0, 5.0)  # 1 + 2 × 2.0
    # the same run's picture is drawn on the wider scale when reported with a run of higher values
    assert sha(tmp_path / "alone" / "rmatrix_low.png") != sha(tmp_path / "both" / "rmatrix_low.png")


def test_one_task_run_and_missing_entries(tmp_path):
    one = write_run(tmp_path / "one", "one", "naive", "pos", 1, [[0.4]], tasks=["en"], metric="accuracy")
    result = report.run(runs=[one], output=tmp_path / "rep1", config=ReportConfig())
    rows = {r["metric"]: r for r in result.summary.to_pylist()}
    assert rows["Last"]["mean"] == pytest.approx(0.4) and rows["Last"]["ci95"] is None
    assert rows["Forgetting"]["mean"] is None and rows["Forgetting"]["n"] == 0
    assert (tmp_path / "rep1" / "forgetting.png").is_file()
    R = [[0.9, 0.1, 0.2], [None, 0.8, 0.3], [0.5, None, 0.9]]
    gap = write_run(tmp_path / "gap", "gap", "replay", "pos", 1, R, metric="accuracy")
    result = report.run(runs=[gap], output=tmp_path / "rep2", config=ReportConfig())
    rows = {r["metric"]: r["mean"] for r in result.summary.to_pylist()}
    assert rows["BWT"] == pytest.approx(0.5 - 0.9) and rows["Forgetting"] == pytest.approx(0.4)
    assert rows == pytest.approx(forgetting.all_metrics(R))


def test_report_records_the_vqa_normalization(runs, tmp_path):
    R = [[0.9, 0.1, 0.2], [0.6, 0.8, 0.3], [0.5, 0.4, 0.9]]
    official = {"task_type": "vqa", "vqa_normalization": "official"}
    a = write_run(tmp_path / "a", "a", "naive", "none", 1, R, metric="accuracy", options=official)
    b = write_run(tmp_path / "b", "b", "naive", "none", 2, R, metric="accuracy", options=official)
    out = tmp_path / "rep"
    result = CliRunner().invoke(app, ["report", str(a), str(b), "-o", str(out), "--markdown"])
    assert result.exit_code == 0, result.output
    md = (out / "summary.md").read_text()
    assert md.endswith("\nVQA accuracy with answer normalisation: official (--vqa-normalization).\n")
    assert artifacts.read_provenance(out / "summary.parquet")["options"]["vqa_normalization"] == "official"
    # LM runs say nothing about it; runs scored with different normalisations are refused.
    assert "normalisation" not in report.run(runs=runs, output=tmp_path / "lm", config=ReportConfig()).markdown
    c = write_run(tmp_path / "c", "c", "naive", "none", 3, R, metric="accuracy", options={"task_type": "vqa"})
    result = CliRunner().invoke(app, ["report", str(a), str(c), "-o", str(tmp_path / "mixed")])
    assert result.exit_code == 2 and "official: a" in result.output and "not recorded: c" in result.output
    assert not (tmp_path / "mixed").exists()


def test_cli_report_and_markdown(runs, tmp_path):
    out = tmp_path / "rep"
    result = CliRunner().invoke(app, ["report", *map(str, runs), "-o", str(out), "--markdown"])
    assert result.exit_code == 0, result.output
    assert "| strategy | cs | metric | Last | Avg | BWT | FWT | Forgetting | seeds |" in result.stdout
    assert "| naive | none | bpb (lower is better) |" in result.stdout
    assert (out / "summary.md").read_text() in result.stdout
    summary = pq.read_table(out / "summary.parquet")
    assert summary.schema.remove_metadata().equals(artifacts.SUMMARY)
    assert len(artifacts.read_provenance(out / "summary.parquet")["inputs"]) == len(runs)


def test_cli_report_refuses_different_task_sequences(runs, tmp_path):
    other = write_run(tmp_path / "other", "other", "naive", "none", 9, bpb_matrix(0.5), tasks=["en", "mr", "hi"])
    out = tmp_path / "rep"
    result = CliRunner().invoke(app, ["report", *map(str, runs), str(other), "-o", str(out)])
    assert result.exit_code == 2
    assert "different task sequences" in result.output and "en→mr→hi: other" in result.output
    assert not out.exists()


def test_cli_report_refuses_another_schema_version(tmp_path):
    old = pa.schema([f if f.name != "seed" else pa.field("seed", pa.string()) for f in artifacts.METRICS])
    run = write_run(tmp_path / "old", "old", "naive", "none", "1", bpb_matrix(0.5), schema=old)
    out = tmp_path / "rep"
    result = CliRunner().invoke(app, ["report", str(run), "-o", str(out)])
    assert result.exit_code == 2 and "does not match the metrics schema" in result.output
    assert "seed is string" in result.output and not out.exists()
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    pq.write_table(
        pa.table(
            {"run": ["a"], "model": ["m"], "after_task": ["en"], "eval_task": ["en"], "metric": ["bpb"], "value": [1.0]}
        ),
        legacy / "metrics.parquet",
    )
    result = CliRunner().invoke(app, ["report", str(legacy), "-o", str(out)])
    assert result.exit_code == 2 and "strategy" in result.output and not out.exists()


def test_cli_report_bad_inputs(runs, tmp_path):
    out = tmp_path / "rep"
    result = CliRunner().invoke(app, ["report", str(runs[0]), str(runs[0]), "-o", str(out)])
    assert result.exit_code == 2 and "appears in both" in result.output
    result = CliRunner().invoke(app, ["report", str(tmp_path / "nope"), "-o", str(out)])
    assert result.exit_code == 2 and "no metrics file" in result.output
    result = CliRunner().invoke(app, ["report", str(runs[0]), "-o", str(out), "--metric", "accuracy"])
    assert result.exit_code == 2 and "have only bpb" in result.output
    assert not out.exists()
    load_runs(runs)  # the good runs still load


def test_report_as_a_subprocess(runs, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    cstool = Path(sys.executable).with_name("cstool")
    out = tmp_path / "rep"
    done = subprocess.run(
        [str(cstool), "report", *map(str, runs), "-o", str(out), "--markdown"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (out / "summary.md").read_text()  # stdout holds only the Markdown table
    assert "Forgetting" in done.stderr  # the rich table goes to stderr
    bad = subprocess.run(
        [str(cstool), "report", str(tmp_path / "nope"), "-o", str(tmp_path / "r2")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "hint:" in bad.stderr and not bad.stdout


def lm_run(run_dir, name, strategy, seed, drop):
    """A run scored as language-model runs are: nll, ppl and bpb for every (after, eval) pair."""
    rows = []
    R = bpb_matrix(drop)
    for i, after in enumerate(TASKS):
        for j, ev in enumerate(TASKS):
            nll = R[i][j] * math.log(2) * 3.5  # 3.5 bytes per token
            for metric, value in (("nll", nll), ("ppl", math.exp(nll)), ("bpb", R[i][j])):
                rows.append(dict(run=name, strategy=strategy, cs="none", seed=seed, after_task=after, eval_task=ev))
                rows[-1].update(metric=metric, value=value)
    return write_metrics(run_dir, rows)


def _titles(output: str) -> list[str]:
    metrics = {"-bpb": "bpb", "-nll": "nll", "-ppl": "ppl", "accuracy": "accuracy"}
    return [score for score, metric in metrics.items() if f"· {metric} (" in output]


def test_terminal_shows_bits_per_byte_by_default_and_other_metrics_on_request(tmp_path):
    runs = [lm_run(tmp_path / f"r{s}", f"r{s}", st, s, d) for s, st, d in ((1, "naive", 0.5), (2, "replay", 0.1))]
    wide = {"COLUMNS": "200"}
    result = CliRunner().invoke(app, ["report", *map(str, runs), "-o", str(tmp_path / "a")], env=wide)
    assert result.exit_code == 0, result.output
    assert _titles(result.output) == ["-bpb"]  # what people read, and only that
    assert "BWT" in result.output and "FWT" in result.output

    result = CliRunner().invoke(
        app, ["report", *map(str, runs), "-o", str(tmp_path / "b"), "--metric", "nll"], env=wide
    )
    assert result.exit_code == 0 and _titles(result.output) == ["-nll"], result.output

    result = CliRunner().invoke(
        app, ["report", *map(str, runs), "-o", str(tmp_path / "c"), "--metric", "ppl"], env=wide
    )
    assert result.exit_code == 0 and _titles(result.output) == ["-ppl"], result.output
    assert "BWT" not in result.output and "FWT" not in result.output and "Forgetting" in result.output

    result = CliRunner().invoke(app, ["report", *map(str, runs), "-o", str(tmp_path / "d"), "--all-metrics"], env=wide)
    assert result.exit_code == 0 and sorted(_titles(result.output)) == ["-bpb", "-nll", "-ppl"], result.output
    # No BWT or FWT over perplexity anywhere: not in the summary artifact, "—" in the Markdown table.
    summary = pq.read_table(tmp_path / "d" / "summary.parquet").to_pylist()
    assert {r["metric"] for r in summary if r["score"] == "-ppl"} == {"Last", "Avg", "Forgetting"}
    assert {r["metric"] for r in summary if r["score"] == "-bpb"} == set(forgetting.CL_METRICS)
    md = (tmp_path / "d" / "summary.md").read_text()
    ppl_row = next(line for line in md.splitlines() if "| naive | none | ppl (lower is better) |" in line)
    assert ppl_row.split(" | ")[5:7] == ["—", "—"]  # BWT, FWT


def test_terminal_shows_accuracy_for_vqa_runs(tmp_path):
    R = [[0.2, 0.1, 0.1], [0.5, 0.6, 0.2], [0.4, 0.5, 0.7]]
    run = write_run(tmp_path / "v", "v", "naive", "none", 1, R, metric="accuracy")
    result = CliRunner().invoke(app, ["report", str(run), "-o", str(tmp_path / "rep")], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and _titles(result.output) == ["accuracy"], result.output


def test_terminal_table_keeps_long_strategy_labels_and_natural_values_at_80_columns(tmp_path):
    runs = [
        str(write_run(tmp_path / f"{s}{seed}", f"{s}-s{seed}", s, "random", seed, bpb_matrix(drop + seed / 100)))
        for s, drop in (("replay-adapter-rewarm", 0.1), ("naive", 0.5))
        for seed in (1, 2)
    ]
    result = CliRunner().invoke(app, ["report", *runs, "-o", str(tmp_path / "rep")], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "│ replay-adapter-rewarm │" in result.output and "…" not in result.output
    assert "bpb (lower is better)" in result.output and "cs=random" in result.output
    assert "│ 1.515" in result.output and "-1.5" not in result.output  # naive's Last: bits per byte, not −bpb
    assert max(len(line) for line in result.output.splitlines() if line[:1] in "┏┃┡│└") <= 80
