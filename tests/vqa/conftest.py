"""VQA fixtures built once per test run: a small trilingual easy-VQA set, a tiny Llava built on it, and one
naive en→hi→mr replay-train run of that model (LoRA + embeddings + projector, vision tower frozen)."""

from __future__ import annotations

import pytest

STEPS = 250  # per task; on one CPU core the whole run (3 tasks, 9 dev evaluations) takes about 35 s


@pytest.fixture(scope="session")
def easy(tmp_path_factory):
    from cstool.stages import vqa_easy
    from cstool.stages.vqa_easy import EasyVqaConfig

    out = tmp_path_factory.mktemp("easy")
    counts = vqa_easy.run(EasyVqaConfig(train_images=250, dev_images=40, seed=7), output=out).counts
    return {
        "dir": out,
        "counts": counts,
        **{f"{lang}.{s}": out / f"{lang}.{s}.parquet" for lang in ("en", "hi", "mr") for s in ("train", "dev")},
    }


@pytest.fixture(scope="session")
def vlm(easy, tmp_path_factory):
    from cstool.stages import build_vlm
    from cstool.stages.build_vlm import BuildVlmConfig

    out = tmp_path_factory.mktemp("vlm") / "model"
    build_vlm.run(BuildVlmConfig(seed=1), data=[str(easy[f"{lang}.train"]) for lang in ("en", "hi", "mr")], output=out)
    return out


@pytest.fixture(scope="session")
def naive_run(easy, vlm, tmp_path_factory):
    from cstool.stages import replay_train
    from cstool.stages.replay_train import ReplayConfig

    out = tmp_path_factory.mktemp("runs") / "naive"
    config = ReplayConfig(
        task_type="vqa",
        strategy="naive",
        train_first=True,
        steps_per_task=STEPS,
        batch_size=16,
        lr=5e-3,
        train_embeddings=True,
        buffer_per_task=50,
        max_new_tokens=3,
        eval_batch_size=64,
    )
    replay_train.run(
        base=str(vlm),
        tasks=[(lang, str(easy[f"{lang}.train"])) for lang in ("en", "hi", "mr")],
        devs=[(lang, str(easy[f"{lang}.dev"])) for lang in ("en", "hi", "mr")],
        output=out,
        config=config,
    )
    return out
