"""Benchmark the VQA path of replay-train and eval on the tiny Llava (cstool build-vlm) and easy-VQA.

    OMP_NUM_THREADS=1 .venv/bin/python bench/vqa.py [--steps 40] [--batch-size 16] [--questions 256] [--device cpu|cuda]

* Training: the same Trainer steps (VqaTrainer, LoRA on the language model + projector, as replay-train
  --task-type vqa --train-embeddings runs them) over the same encoded examples, with the image
  preprocessing cache (pixel values made once per image) and without it (every batch decodes its PNGs and
  runs the image processor again). Throughput in samples/s; ratio = cached / uncached.
* Eval: greedy answers (``generate_answers``, at most 3 new tokens) to the same questions with batches of
  --eval-batch-size vs one by one; throughput in questions/s; ratio = batched / one-by-one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def train_throughput(model, codec, encoded, *, steps: int, batch_size: int, device: str, work: Path) -> float:
    import warnings

    from transformers import PrinterCallback, ProgressCallback, TrainingArguments

    from cstool.continual.tasks import Examples as _Examples
    from cstool.vqa.codec import VqaTrainer

    items = [(encoded[i % len(encoded)], False) for i in range(steps * batch_size)]
    args = TrainingArguments(
        output_dir=str(work),
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        learning_rate=5e-3,
        save_strategy="no",
        report_to=[],
        use_cpu=device == "cpu",
        remove_unused_columns=False,
        disable_tqdm=True,
        dataloader_num_workers=0,
        train_sampling_strategy="sequential",
        logging_steps=steps,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        trainer = VqaTrainer(model=model, args=args, train_dataset=_Examples(items), data_collator=codec.collate)
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        start = time.perf_counter()
        trainer.train()
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--questions", type=int, default=256)
    parser.add_argument("--eval-batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    a = parser.parse_args()

    from peft import get_peft_model

    from cstool.base import devices
    from cstool.base.console import set_quiet
    from cstool.continual import adapters
    from cstool.models import hf
    from cstool.stages import build_vlm, vqa_easy
    from cstool.stages.build_vlm import BuildVlmConfig
    from cstool.stages.vqa_easy import EasyVqaConfig
    from cstool.vqa.codec import VqaCodec
    from cstool.vqa.examples import read_examples
    from cstool.vqa.generate import generate_answers
    from cstool.vqa.vlm import projector_modules, text_only_targets

    devices.set_threads(None)
    set_quiet(True)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        vqa_easy.run(EasyVqaConfig(langs=("en",), train_images=200, dev_images=60), output=d / "data")
        build_vlm.run(BuildVlmConfig(seed=1), data=[str(d / "data" / "en.train.parquet")], output=d / "vlm")
        train = read_examples("en", str(d / "data" / "en.train.parquet"))[0]
        dev = read_examples("en", str(d / "data" / "en.dev.parquet"))[0][: a.questions]
        base, processor = hf.load_vlm(d / "vlm", device=a.device)
        targets = adapters.resolve_target_modules(base, "auto")
        model = get_peft_model(
            base,
            adapters.lora_config(
                r=8,
                alpha=16,
                dropout=0.0,
                targets=text_only_targets(targets),
                modules_to_save=adapters.embedding_modules(base) + projector_modules(base),
            ),
        )
        rates = {}
        for cached in (True, False, True, False):  # alternate, keep the best of two
            codec = VqaCodec(processor, cache_images=cached)
            encoded = codec.encode(train)
            rate = train_throughput(
                model, codec, encoded, steps=a.steps, batch_size=a.batch_size, device=a.device, work=d / "work"
            )
            rates[cached] = max(rates.get(cached, 0.0), rate)
        codec = VqaCodec(processor)
        qs = [ex.question for ex in dev]
        speed = {}
        for bs in (a.eval_batch_size, 1, a.eval_batch_size, 1):
            start = time.perf_counter()
            answers = generate_answers(
                model, processor, qs, lambda i: codec.image(dev[i]), batch_size=bs, max_new_tokens=3
            )
            speed[bs] = max(speed.get(bs, 0.0), len(qs) / (time.perf_counter() - start))
            speed.setdefault(f"answers{bs}", answers)
    same = speed[f"answers{a.eval_batch_size}"] == speed["answers1"]
    print(
        f"device {a.device}, {len(train)} training questions, {a.steps} steps × {a.batch_size}, "
        f"{len(qs)} eval questions"
    )
    print(f"train  cached images   {rates[True]:8.1f} samples/s")
    print(
        f"train  uncached        {rates[False]:8.1f} samples/s   ratio cached/uncached {rates[True] / rates[False]:.2f}"
    )
    print(f"eval   batched ({a.eval_batch_size:>3})   {speed[a.eval_batch_size]:8.1f} questions/s")
    print(
        f"eval   one by one      {speed[1]:8.1f} questions/s   ratio batched/one-by-one "
        f"{speed[a.eval_batch_size] / speed[1]:.2f}   (same answers: {same})"
    )


if __name__ == "__main__":
    main()
