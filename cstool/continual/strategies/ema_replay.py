"""``ema-replay``: interpolated LoRA with replay, after I-LoRA (Ren et al. 2024, "Analyzing and reducing
catastrophic forgetting in parameter efficient tuning"). A fast adapter trains exactly as ``replay`` does (a
share ρ of every batch from the buffer); a slow adapter follows it, after every optimizer step
``slow ← λ·slow + (1 − λ)·fast`` with λ = ``--ema-decay``, and is the model that is scored, saved and kept.
I-LoRA also adds a consistency loss between the two on replayed examples; that term is not implemented here.

RUN_DIR/adapters/<task> is the slow adapter (the model after the task), <task>.fast the fast one, which the
next task continues from."""

from __future__ import annotations

from pathlib import Path

from cstool.continual.strategies import MAIN, single


class EmaReplay:
    OWN_OPTIONS: tuple[str, ...] = ("ema_decay",)

    def __init__(self, config) -> None:
        self.config = config
        self.slow: dict | None = None  # parameter name → tensor, the slow weights of the main adapter
        self.fast: dict | None = None  # the fast weights, while the slow ones are in the model (between tasks)

    @classmethod
    def problems(cls, config) -> list[str]:
        if config.full_finetune:
            return ["--full-finetune is a reference for naive, replay and joint, not ema-replay"]
        return []

    @classmethod
    def label(cls, config) -> str:
        return "ema-replay" + (f"/decay{config.ema_decay:g}" if config.ema_decay != 0.99 else "")

    def learn(self, learner, i: int) -> None:
        """The main adapter trains as replay's does (the fast weights); the slow copy lives outside peft, so
        training is exactly replay's, step for step."""
        c, task = self.config, learner.tasks[i]
        single.prepare(learner)
        if self.fast is not None:
            load_into(learner.model, self.fast)
        if self.slow is None:
            self.slow = snapshot(learner.model)
        callback = EmaCallback(learner.model, self.slow, c.ema_decay)
        learner.train(
            task.name,
            "replay",  # the phase name keys the batch plan: exactly replay's batches
            c.steps_per_task,
            task.train,
            learner.buffer_texts(),
            c.replay_ratio,
            callbacks=(callback,),
        )
        self.fast = snapshot(learner.model)
        load_into(learner.model, self.slow)  # the model after the task is the slow one

    def save(self, learner, task: str, adapters_dir: Path) -> None:
        learner.save_adapter(MAIN, adapters_dir / task)
        load_into(learner.model, self.fast)
        learner.save_adapter(MAIN, adapters_dir / f"{task}.fast")
        load_into(learner.model, self.slow)

    def restore(self, learner, trained: list[str], adapters_dir: Path) -> None:
        from safetensors.torch import load_file

        learner.load(MAIN, adapters_dir / trained[-1])
        self.slow = snapshot(learner.model)
        fast = load_file(str(adapters_dir / f"{trained[-1]}.fast" / "adapter_model.safetensors"))
        self.fast = _peft_names(learner.model, fast)
        learner.activate([MAIN], [])


def snapshot(model) -> dict:
    """Copies of the main adapter's parameters (LoRA matrices and modules_to_save copies), by name."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if f".{MAIN}." in n}


def load_into(model, weights: dict) -> None:
    import torch

    params = dict(model.named_parameters())
    with torch.no_grad():
        for n, w in weights.items():
            params[n].copy_(w)


def interpolate(current: dict, slow: dict, decay: float) -> None:
    """``slow ← decay·slow + (1 − decay)·current``, tensor by tensor (``current``: name → parameter)."""
    import torch

    with torch.no_grad():
        for n, s in slow.items():
            s.mul_(decay).add_(current[n].detach(), alpha=1.0 - decay)


def _peft_names(model, saved: dict) -> dict:
    """A saved adapter's tensors (peft's file names, without the adapter name) under the model's parameter
    names of the main adapter."""
    out = {}
    for n in snapshot(model):
        key = n.replace(f".{MAIN}.", ".").replace(".modules_to_save.", ".")
        out[n] = saved[key].to(dict(model.named_parameters())[n].device)
    return out


def EmaCallback(model, slow: dict, decay: float):
    """A TrainerCallback that interpolates after every optimizer step (transformers imported when used)."""
    from transformers import TrainerCallback

    params = {n: p for n, p in model.named_parameters() if n in slow}

    class _Ema(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            interpolate(params, slow, decay)

    return _Ema()
