"""Continual-learning metrics over an R matrix (docs/method.md, section eval). Plain Python, no CLI.

``R[i][j]`` is the score on task ``j`` after training through task ``i`` of the sequence
``task 0 (the anchor), task 1, …, task N``; row 0 is the model before continual training. Scores are
oriented so that higher is better (accuracy; −NLL or −bits-per-byte for language modelling, see
:func:`orient`). A missing entry is ``None`` (or NaN).

* Last       = mean_j R[N][j]
* Avg        = mean_k mean_{j≤k} R[k][j]          (k = 0..N)
* BWT        = mean_{j<N} (R[N][j] − R[j][j])       (negative: the model forgot)
* FWT        = mean_{j≥1} (R[j−1][j] − b[j])        (positive: earlier tasks helped the next one)
* Forgetting = mean_{j<N} max_{k<N} (R[k][j] − R[N][j])   (positive: the model forgot)

FWT's reference b is GEM's (Lopez-Paz & Ranzato 2017) when given: b[j] = the score on task j of the model
before any training (or of a random init; ``report --fwt-baseline``). Without it b[j] = R[0][j], the model
after the anchor task, so the first term (j = 1) measures only what the anchor did for task 1.
Forgetting is Chaudhry et al.'s (2018): the drop from each task's best earlier score (k < N, any row, not
only the diagonal); Avalanche's "forgetting" is R[j][j] − R[N][j], the negative of a BWT term.

Missing entries: a term that needs a missing entry is left out of its mean (a max skips missing ``k``),
and a metric with no terms left is ``None``. So a 1-task run (N = 0) has Last and Avg = R[0][0] and no
BWT, FWT or Forgetting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Matrix = Sequence[Sequence[float | None]]

CL_METRICS = ("Last", "Avg", "BWT", "FWT", "Forgetting")
# Perplexity is exp(NLL): a difference of perplexities means something else at 3 than at 300, so the transfer
# measures (BWT, FWT: means of differences across tasks) are not computed over it; NLL and bits per byte have them.
NOT_OVER = {"ppl": ("BWT", "FWT")}


def cl_metrics(metric: str) -> tuple[str, ...]:
    """The CL_METRICS reported over the raw ``metric`` (all but BWT and FWT for perplexity)."""
    return tuple(m for m in CL_METRICS if m not in NOT_OVER.get(metric, ()))


# How each raw metric becomes a higher-is-better score, and the score's name.
_ORIENTATION = {"accuracy": (1.0, "accuracy"), "nll": (-1.0, "-nll"), "bpb": (-1.0, "-bpb"), "ppl": (-1.0, "-ppl")}


def orient(metric: str) -> tuple[float, str]:
    """(sign, score name) that turn raw ``metric`` values into higher-is-better scores."""
    if metric not in _ORIENTATION:
        raise KeyError(metric)
    return _ORIENTATION[metric]


def natural(score: str, cl_metric: str) -> tuple[str, float, str]:
    """(raw metric, sign, which way is better) to show ``cl_metric`` of a higher-is-better ``score`` (e.g.
    ``-bpb``) in the raw metric's own direction: Last, Avg, BWT and FWT of a lower-is-better metric change
    sign (bits per byte, not negative bits per byte; BWT > 0: the final model is worse on earlier tasks);
    Forgetting is already a loss of score in the metric's units (lower is better, 0: nothing forgotten)."""
    metric = next((m for m, (_, name) in _ORIENTATION.items() if name == score), None)
    if metric is None:  # a probe's score (PROBE:acc, …): higher is better as it is
        return score, 1.0, "lower" if cl_metric == "Forgetting" else "higher"
    sign = _ORIENTATION[metric][0]
    if cl_metric == "Forgetting":
        return metric, 1.0, "lower"
    return metric, sign, "higher" if sign > 0 else "lower"


def _get(R: Matrix, i: int, j: int) -> float | None:
    try:
        v = R[i][j]
    except IndexError:
        return None
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return float(v)


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _check_square(R: Matrix) -> int:
    n = len(R)
    if n == 0:
        raise ValueError("empty R matrix")
    for i, row in enumerate(R):
        if len(row) != n:
            raise ValueError(f"R matrix must be square (tasks × tasks); row {i} has {len(row)} entries, expected {n}")
    return n - 1


def last(R: Matrix) -> float | None:
    """Last = mean_j R[N][j]: mean score on every task after the final one."""
    N = _check_square(R)
    return _mean([_get(R, N, j) for j in range(N + 1)])


def average(R: Matrix) -> float | None:
    """Avg = mean_k mean_{j≤k} R[k][j]: mean over rows of the mean score on the tasks seen so far."""
    N = _check_square(R)
    return _mean([_mean([_get(R, k, j) for j in range(k + 1)]) for k in range(N + 1)])


def bwt(R: Matrix) -> float | None:
    """BWT = mean_{j<N} (R[N][j] − R[j][j]): change on earlier tasks since each was learnt."""
    N = _check_square(R)
    return _mean([_diff(_get(R, N, j), _get(R, j, j)) for j in range(N)])


def fwt(R: Matrix, baseline: Sequence[float | None] | None = None) -> float | None:
    """FWT = mean_{j≥1} (R[j−1][j] − b[j]): what training up to j−1 did for task j before it is trained;
    b = ``baseline`` (oriented scores of the untrained model per task, GEM's FWT), else row 0 of R."""
    N = _check_square(R)
    if baseline is not None and len(baseline) != N + 1:
        raise ValueError(f"FWT baseline has {len(baseline)} entries for {N + 1} tasks")
    ref = (
        [_get([baseline], 0, j) for j in range(N + 1)]
        if baseline is not None
        else [_get(R, 0, j) for j in range(N + 1)]
    )
    return _mean([_diff(_get(R, j - 1, j), ref[j]) for j in range(1, N + 1)])


def forgetting(R: Matrix) -> float | None:
    """Forgetting = mean_{j<N} max_{k<N} (R[k][j] − R[N][j]): drop from each task's best earlier score."""
    return _mean([forgot for _, forgot in per_task(R)[:-1]])


def per_task(R: Matrix) -> list[tuple[float | None, float | None]]:
    """(final score R[N][j], its forgetting max_{k<N} R[k][j] − R[N][j]) per task j; the last task's forgetting
    is None (nothing trained after it)."""
    N = _check_square(R)
    out: list[tuple[float | None, float | None]] = []
    for j in range(N + 1):
        final = _get(R, N, j)
        best = [v for v in (_get(R, k, j) for k in range(N)) if v is not None]
        out.append((final, None if j == N or final is None or not best else max(best) - final))
    return out


# Probe metrics (cstool.lm.probes), higher is better: a probe is scored after every task but never trained on,
# so it is one column v[0..N] of the R matrix rather than a task of its own.
PROBE_METRICS = ("acc", "acc_norm", "mrr")
PROBE_CL_METRICS = ("Last", "Avg", "BWT", "Forgetting")


def probe_metrics(v: Sequence[float | None]) -> dict[str, float | None]:
    """Over a probe's scores v[i] after task i (i = 0..N):

    * Last = v[N];  Avg = mean_i v[i]
    * BWT = v[N] − v[0]  (change since the anchor task; negative: the model lost the probe)
    * Forgetting = max_{k<N} v[k] − v[N]  (drop from the best earlier score; None when N = 0)
    """
    N = len(v) - 1
    vals = [_get([v], 0, i) for i in range(N + 1)]
    earlier = [x for x in vals[:N] if x is not None]
    return {
        "Last": vals[N] if N >= 0 else None,
        "Avg": _mean(vals),
        "BWT": _diff(vals[N], vals[0]) if N >= 1 else None,
        "Forgetting": _diff(max(earlier), vals[N]) if earlier and N >= 1 else None,
    }


def all_metrics(R: Matrix, baseline: Sequence[float | None] | None = None) -> dict[str, float | None]:
    """Every metric of CL_METRICS for one R matrix (``baseline``: FWT's reference, see :func:`fwt`)."""
    return {
        "Last": last(R),
        "Avg": average(R),
        "BWT": bwt(R),
        "FWT": fwt(R, baseline),
        "Forgetting": forgetting(R),
    }


# ---------------------------------------------------------------------------------------------------------
# Mean and 95 % confidence interval over seeds (Student t, from SciPy)


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t distribution with ``df`` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(p, df))


def mean_ci95(values: Sequence[float]) -> tuple[float | None, float | None, int]:
    """(mean, half-width of the 95 % CI with the t distribution, n). No CI with fewer than 2 values."""
    vals = [float(v) for v in values if v is not None and not math.isnan(v)]
    n = len(vals)
    if n == 0:
        return None, None, 0
    mean = sum(vals) / n
    if n < 2:
        return mean, None, n
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    return mean, t_quantile(0.975, n - 1) * sd / math.sqrt(n), n
