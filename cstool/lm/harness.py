"""lm-evaluation-harness on a model cstool has loaded (``cstool eval --lm-eval TASK[,TASK...]``).

The harness scores the model object itself, adapters included: :func:`harness_scores` wraps it in the
harness's ``HFLM(pretrained=<model>, tokenizer=..., batch_size=..., device=...)`` and calls
``lm_eval.evaluator.simple_evaluate``. Its tokenisation and conditioning are the harness's own: BOS only where
the tokenizer adds one (a tokenizer without a BOS template conditions on the context alone, as
``score_probe(..., bos=False)``).

Tasks are the harness's registered names, or task YAMLs in a folder (``--lm-eval-include``, the harness's
``TaskManager(include_path=...)``); :func:`load_tasks` finds and builds them (their datasets loaded) before
any model is, so an unknown name or an unreachable dataset stops eval early. In offline mode
(``HF_HUB_OFFLINE=1``, ``HF_DATASETS_OFFLINE=1``, ``CSTOOL_OFFLINE=1``) a task naming a Hub dataset that is
not in the datasets cache is one line; a task over local files (``dataset_path: json`` with
``dataset_kwargs: {data_files: ...}``) needs nothing from outside.

Each (task, metric) of the harness's results is one row, the metric named as the harness names it, its
filter dropped when it is ``none`` (``acc,none`` → ``acc``; ``exact_match,strict-match`` stays whole);
standard errors are rows of their own (``acc_stderr``), left out where the harness gives none (``N/A``), and
``examples`` counts the documents scored. Groups' aggregates are rows under the group's name.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cstool.base.errors import ConfigError, InputError, first_line

INSTALL_HINT = "pip install 'cstool[lm-eval]'"
BOOTSTRAP_ITERS = 1000  # resamples for the stderr of metrics without a closed form (bleu, chrf, f1, ...)


def import_harness() -> Any:
    """The ``lm_eval`` package with what :func:`harness_scores` uses, or a one-line error with the install hint."""
    try:
        import lm_eval
        import lm_eval.evaluator
        import lm_eval.models.huggingface
        import lm_eval.tasks
    except ImportError as e:
        raise ConfigError(
            f"--lm-eval needs lm-evaluation-harness, which does not import ({first_line(e)})", INSTALL_HINT
        ) from None
    return lm_eval


@dataclass(frozen=True)
class HarnessTasks:
    """Tasks built by the harness: the objects to evaluate, every task and group name they hold, and the
    harness's TaskManager that found them (``simple_evaluate`` would index every built-in task again)."""

    objects: tuple[Any, ...]
    names: frozenset[str]
    version: str
    manager: Any


def _manager(names: Sequence[str], include: str | None) -> Any:
    from lm_eval.tasks import TaskManager

    if include is not None:  # the folder alone is indexed in milliseconds, the built-in tasks take seconds
        own = TaskManager(include_path=include, include_defaults=False)
        if all(n in own.all_tasks for n in names):
            return own
    return TaskManager(include_path=include)


def load_tasks(names: Sequence[str], include: str | None = None, *, taken: Sequence[str] = ()) -> HarnessTasks:
    """Find and build the harness's tasks (their datasets loaded), ``include`` a folder of task YAMLs; none of
    their task or group names may be one of ``taken`` (the other sets' names)."""
    lm_eval = import_harness()
    if include is not None and not Path(include).is_dir():
        raise InputError(f"--lm-eval-include {include} is not a folder", "give a folder of task YAML files")
    manager = _manager(names, include)
    where = f" nor under --lm-eval-include {include}" if include else ""
    for name in names:
        if name not in manager.all_tasks:
            close = difflib.get_close_matches(name, manager.all_tasks, n=3)
            raise ConfigError(
                f"--lm-eval: {name!r} is not a task of lm-evaluation-harness {lm_eval.__version__}{where}",
                f"did you mean {', '.join(close)}?"
                if close
                else "lm-eval ls tasks lists them; --lm-eval-include DIR adds yours",
            )
    objects, held = [], set()
    for name in names:
        loaded = _load(manager, name)
        group = loaded["groups"].get(name)
        objects += [group] if group is not None else list(loaded["tasks"].values())  # a tag: its tasks
        held |= set(loaded["tasks"]) | set(loaded["groups"])
    if clash := sorted(held & set(taken)):
        raise ConfigError(f"--lm-eval tasks and --data/--probe names repeat: {clash}", "rename the set or probe")
    return HarnessTasks(tuple(objects), frozenset(held), lm_eval.__version__, manager)


def _load(manager: Any, name: str) -> dict:
    import datasets

    from cstool.base.offline import offline_reason
    from cstool.io import hfdata

    offline = offline_reason() or ("HF_HUB_OFFLINE=1" if datasets.config.HF_HUB_OFFLINE else None)
    try:
        with hfdata.offline_mode(datasets, offline is not None):
            return manager.load([name])
    except ConnectionError as e:
        why = f"offline mode is on ({offline})" if offline else "the Hub cannot be reached"
        raise InputError(
            f"lm-eval task {name}: {why} and its dataset is not in the datasets cache ({first_line(e)})",
            "run once with HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 to cache it, or write a task YAML over local "
            "files (dataset_path: json, dataset_kwargs: {data_files: ...}) for --lm-eval-include",
        ) from None
    except Exception as e:  # a task YAML is user input: any failure to build it is one line
        raise InputError(
            f"lm-eval task {name} cannot be built ({type(e).__name__}: {first_line(e)})",
            "check the task's YAML (dataset_path, splits, doc_to_text, doc_to_choice, doc_to_target)",
        ) from None


def harness_scores(
    model, tokenizer, tasks: HarnessTasks, *, batch_size: int, limit: int | None = None, fewshot: int = 0
) -> list[tuple[str, str, float]]:
    """(task, metric, value) rows of the harness's ``simple_evaluate`` on ``model`` (a causal LM or a peft model)."""
    from lm_eval import evaluator
    from lm_eval.models.huggingface import HFLM

    was_training, device = model.training, str(next(model.parameters()).device)
    try:
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=device)
        results = evaluator.simple_evaluate(
            model=lm,
            tasks=list(tasks.objects),
            task_manager=tasks.manager,
            num_fewshot=fewshot,
            limit=limit,
            log_samples=False,
            bootstrap_iters=BOOTSTRAP_ITERS,
        )
    finally:
        model.train(was_training)
    return result_rows(results)


def result_rows(results: dict) -> list[tuple[str, str, float]]:
    """The harness's results dict as rows: ``metric,filter`` keys with a number (see the module docstring)."""
    rows = []
    samples = results.get("n-samples", {})
    for task, metrics in results["results"].items():
        for key, value in metrics.items():
            metric, comma, filt = key.partition(",")
            if not comma or isinstance(value, (str, bool)) or value is None:  # alias, name, "N/A"
                continue
            rows.append((task, metric if filt == "none" else key, float(value)))
        if (n := samples.get(task, {}).get("effective")) is not None:
            rows.append((task, "examples", float(n)))
    return rows
