"""The one builder of ``transformers.TrainingArguments`` for every stage that trains (distill, replay-train):
the settings cstool always uses (its own logging and progress, no Trainer reports, seeded data order, CPU or
accelerator, mixed precision and activation checkpointing from the shared options) in one place; a stage
passes what is its own (steps, schedule, checkpoints)."""

from __future__ import annotations

from typing import Any


def training_arguments(
    *,
    output_dir: str,
    batch_size: int,
    lr: float,
    seed: int,
    device: str,
    dtype: str,
    gradient_checkpointing: bool,
    **own: Any,
) -> Any:
    """``batch_size`` is per device; ``own``: any further TrainingArguments field (max_steps, warmup_steps,
    save_strategy, …), which replaces cstool's setting of the same name."""
    import torch
    from transformers import TrainingArguments

    settings: dict[str, Any] = dict(
        output_dir=output_dir,
        per_device_train_batch_size=batch_size,
        learning_rate=lr,
        report_to=[],
        seed=seed,
        data_seed=seed,
        use_cpu=device == "cpu",
        remove_unused_columns=False,
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataloader_pin_memory=device != "cpu" and torch.cuda.is_available(),
        bf16=dtype == "bfloat16",
        fp16=dtype == "float16",
        activation_checkpointing=gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if gradient_checkpointing else None,
    )
    return TrainingArguments(**{**settings, **own})
