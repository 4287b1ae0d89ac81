"""replay-train's continual-learning strategies: one module each, behind one small protocol.

A strategy decides what the model holds before a task, how the task trains, what it saves after the task and
how a resumed run gets back to that point. Everything else (the base model, peft adapters, the replay buffer,
the Trainer runs, dev scores, the run's progress) belongs to :class:`cstool.continual.learner.Learner`, which a
strategy drives through a few methods: ``add_adapter``, ``activate``, ``train``, ``merge``, ``keep``, ``has``,
``load``, ``save_adapter``, ``save_full`` and ``unfreeze_base``.

Adding a strategy is one module here, one line in :data:`REGISTRY` and its test; :func:`register` adds one at
run time (a plug-in, or a test's toy strategy) without touching this file.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol

# Names the strategies give adapters and snapshot folders under RUN_DIR/adapters
MAIN = "main"  # the single adapter of naive / replay / joint
REPLAY = "replay"  # the replay adapter of replay-adapter
FULL = "full"  # adapters/full-after-<task>: the whole model, with --full-finetune

ReplayConfig = Any  # cstool.continual.config.ReplayConfig (not imported: config imports this module)
Learner = Any  # cstool.continual.learner.Learner (not imported: the learner imports this module)

# name → "module:Class", imported only when the strategy is used (no module here imports torch at load time)
REGISTRY: dict[str, str] = {
    "naive": "cstool.continual.strategies.naive:Naive",
    "replay": "cstool.continual.strategies.replay:Replay",
    "replay-adapter": "cstool.continual.strategies.replay_adapter:ReplayAdapter",
    "joint": "cstool.continual.strategies.joint:Joint",
    "replay-rewarm": "cstool.continual.strategies.replay_rewarm:ReplayRewarm",
    "ema-replay": "cstool.continual.strategies.ema_replay:EmaReplay",
    "o-lora": "cstool.continual.strategies.o_lora:OLora",
    "osf": "cstool.continual.strategies.osf:Osf",
}
_ADDED: dict[str, type] = {}


class Strategy(Protocol):
    """What replay-train asks of a strategy. One instance lives for one run (it may hold state, such as the name
    of the current task adapter)."""

    #: config fields only this strategy reads; another strategy given a non-default value of one is an error
    OWN_OPTIONS: tuple[str, ...]

    def __init__(self, config: ReplayConfig) -> None: ...

    @classmethod
    def problems(cls, config: ReplayConfig) -> list[str]:
        """What in ``config`` this strategy cannot run (each a sentence naming the flags)."""
        ...

    @classmethod
    def label(cls, config: ReplayConfig) -> str:
        """The strategy with its variant, as metrics and reports name it (``replay-adapter/merge+replay+new0.6``)."""
        ...

    def learn(self, learner: Learner, i: int) -> None:
        """Prepare the model for task ``i`` and train it (the same optimizer steps and examples for every
        strategy: ``config.steps_per_task`` × ``config.batch_size``)."""
        ...

    def save(self, learner: Learner, task: str, adapters_dir: Path) -> None:
        """After task ``task`` is scored (process 0 only): what a resume needs, under ``adapters_dir``."""
        ...

    def restore(self, learner: Learner, trained: list[str], adapters_dir: Path) -> None:
        """Rebuild the model as it was after the tasks ``trained`` (non-empty), from what :meth:`save` wrote."""
        ...


def names() -> tuple[str, ...]:
    return (*REGISTRY, *(n for n in _ADDED if n not in REGISTRY))


def strategy_class(name: str) -> Any:
    if name in _ADDED:
        return _ADDED[name]
    module, _, cls = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def register(name: str, cls: type) -> None:
    """Make ``cls`` available as ``--strategy name`` (it replaces an earlier registration of the same name)."""
    _ADDED[name] = cls


def unregister(name: str) -> None:
    _ADDED.pop(name, None)


def create(config: ReplayConfig) -> Strategy:
    return strategy_class(config.strategy)(config)


def option_problems(config: ReplayConfig) -> list[str]:
    """Options owned by another strategy than ``config.strategy`` but set to a non-default value."""
    chosen = strategy_class(config.strategy)
    problems = []
    for name in names():
        other = strategy_class(name)
        if other is chosen:
            continue
        wrong = [
            f for f in other.OWN_OPTIONS if f not in chosen.OWN_OPTIONS and getattr(config, f) != _default(config, f)
        ]
        if wrong:
            flags = ", ".join("--" + f.replace("_", "-") for f in other.OWN_OPTIONS)
            problems.append(f"{flags} shape {name}: use them with --strategy {name}, not {config.strategy}")
    return problems


def _default(config: Any, field: str) -> Any:
    import dataclasses

    f = next(f for f in dataclasses.fields(config) if f.name == field)
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()
