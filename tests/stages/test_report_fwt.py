"""report --fwt-baseline: GEM's FWT against the scores of the untrained model; refused when it has gaps."""

from __future__ import annotations

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from cstool.base.errors import CstoolError
from cstool.cli import app
from cstool.continual import forgetting as F
from cstool.io import artifacts
from cstool.stages import report
from cstool.stages.report import ReportConfig

from .test_report import bpb_matrix, write_run


def write_scores(path, values: dict[tuple[str, str], float]):
    rows = [("base", "base", None, task, metric, v) for (task, metric), v in values.items()]
    cols = list(zip(*rows, strict=True))
    table = pa.table(dict(zip(artifacts.SCORES.names, map(list, cols), strict=True)), schema=artifacts.SCORES)
    artifacts.write_table(path, table, kind="scores", provenance=artifacts.make_provenance("eval", options={}))
    return path


def test_fwt_with_a_baseline_by_hand():
    R = [[0.9, 0.1, 0.2], [0.6, 0.8, 0.3], [0.5, 0.7, 0.9]]
    assert F.fwt(R) == pytest.approx(((0.1 - 0.1) + (0.3 - 0.2)) / 2)
    assert F.fwt(R, [None, 0.05, 0.25]) == pytest.approx(((0.1 - 0.05) + (0.3 - 0.25)) / 2)
    assert F.all_metrics(R, [None, 0.05, None])["FWT"] == pytest.approx(0.1 - 0.05)  # a missing b[j] drops its term


@pytest.fixture
def runs(tmp_path):
    return [
        write_run(tmp_path / f"naive-s{s}", f"naive-s{s}", "naive", "none", s, bpb_matrix(d))
        for s, d in ((1, 0.5), (2, 0.6))
    ]


def test_report_fwt_baseline_is_gems(runs, tmp_path):
    base = write_scores(tmp_path / "base.parquet", {("hi", "bpb"): 4.0, ("mr", "bpb"): 3.5, ("hi", "tokens"): 9.0})
    plain = report.run(runs=runs, output=tmp_path / "a", config=ReportConfig())
    gem = report.run(runs=runs, output=tmp_path / "b", config=ReportConfig(fwt_baseline=str(base)))
    fwt = {
        name: next(r["mean"] for r in out.summary.to_pylist() if r["metric"] == "FWT")
        for name, out in (("plain", plain), ("gem", gem))
    }
    # unseen tasks have bpb 3.0 in every row: row 0 as reference gives 0; the baseline gives (4-3 + 3.5-3)/2
    assert fwt == {"plain": pytest.approx(0.0), "gem": pytest.approx(0.75)}
    assert "FWT is GEM's" in gem.markdown and "not GEM's" in plain.markdown
    assert len(artifacts.read_provenance(tmp_path / "b" / "summary.parquet")["inputs"]) == len(runs) + 1


def test_cli_fwt_baseline_with_gaps_is_refused(runs, tmp_path):
    base = write_scores(tmp_path / "base.parquet", {("hi", "bpb"): 4.0})
    out = tmp_path / "rep"
    result = CliRunner().invoke(app, ["report", *map(str, runs), "-o", str(out), "--fwt-baseline", str(base)])
    assert result.exit_code == 2 and "has no bpb of mr" in result.output and not out.exists()
    result = CliRunner().invoke(app, ["report", *map(str, runs), "-o", str(out), "--fwt-baseline", str(runs[0])])
    assert result.exit_code == 2 and not out.exists()


def test_per_probe_last_bwt_and_forgetting(tmp_path):
    runs = []
    for seed, probe in ((1, [0.6, 0.7, 0.4]), (2, [0.5, 0.8, 0.6])):
        d = write_run(tmp_path / f"r{seed}", f"r{seed}", "naive", "none", seed, bpb_matrix(0.5))
        table = artifacts.open_source(d / "metrics.parquet").read_all()
        extra = pa.table(
            {
                "run": [f"r{seed}"] * 6,
                "strategy": ["naive"] * 6,
                "cs": ["none"] * 6,
                "seed": [seed] * 6,
                "after_task": ["en", "hi", "mr"] * 2,
                "eval_task": ["en-hi"] * 6,
                "metric": ["acc"] * 3 + ["examples"] * 3,
                "value": [*probe, 100.0, 100.0, 100.0],
                "phase": pa.nulls(6, pa.string()),
            },
            schema=artifacts.METRICS,
        )
        artifacts.write_table(
            d / "metrics.parquet",
            pa.concat_tables([table.select(artifacts.METRICS.names).cast(artifacts.METRICS), extra]),
            kind="metrics",
            provenance=artifacts.make_provenance("replay-train", options={}),
        )
        runs.append(d)
    out = report.run(runs=runs, output=tmp_path / "rep", config=ReportConfig())
    rows = {r["metric"]: r for r in out.summary.to_pylist() if r["score"] == "en-hi:acc"}
    assert rows["Last"]["mean"] == pytest.approx((0.4 + 0.6) / 2)
    assert rows["BWT"]["mean"] == pytest.approx(((0.4 - 0.6) + (0.6 - 0.5)) / 2)
    assert rows["Forgetting"]["mean"] == pytest.approx(((0.7 - 0.4) + (0.8 - 0.6)) / 2)
    assert rows["Avg"]["mean"] == pytest.approx((1.7 / 3 + 1.9 / 3) / 2)
    assert "FWT" not in rows and rows["Last"]["n"] == 2
    assert "| naive | none | en-hi:acc (higher is better) |" in out.markdown


def test_probe_metrics_of_one_row_and_missing_entries():
    assert F.probe_metrics([0.5]) == {"Last": 0.5, "Avg": 0.5, "BWT": None, "Forgetting": None}
    m = F.probe_metrics([None, 0.9, 0.7])
    assert m["BWT"] is None and m["Forgetting"] == pytest.approx(0.2) and m["Avg"] == pytest.approx(0.8)


def test_an_extra_eval_task_without_probe_metrics_is_refused(tmp_path):
    from cstool.continual.rmatrix import build_runs

    table = pa.table(
        {
            "run": ["r", "r"],
            "strategy": ["naive"] * 2,
            "cs": ["none"] * 2,
            "seed": [1, 1],
            "after_task": ["en", "en"],
            "eval_task": ["en", "xx"],
            "metric": ["bpb", "bpb"],
            "value": [1.0, 2.0],
            "phase": pa.nulls(2, pa.string()),
        },
        schema=artifacts.METRICS,
    )
    with pytest.raises(CstoolError, match=r"evaluates tasks \['xx'\]"):
        build_runs(table, "m.parquet")
    probe = table.set_column(6, "metric", pa.array(["bpb", "mrr"]))
    assert build_runs(probe, "m.parquet")[0].probes == {("xx", "mrr"): [2.0]}
