"""The one device check and resolution: every config with a device accepts the same specs and says the same."""

from __future__ import annotations

import pytest
import torch

from cstool.base import devices
from cstool.base.errors import ConfigError
from cstool.continual.config import ReplayConfig
from cstool.stages.distill import DistillConfig
from cstool.stages.evaluate import EvalConfig
from cstool.stages.tag import TagConfig
from cstool.stages.teacher_cache import TeacherCacheConfig
from cstool.stages.train_tagger import TrainTaggerConfig

CONFIGS = {
    "tag": lambda device: TagConfig(lang="hi", device=device),
    "train-tagger": lambda device: TrainTaggerConfig(lang="hi", device=device),
    "distill": lambda device: DistillConfig(student="S", device=device),
    "eval": lambda device: EvalConfig(device=device),
    "teacher-cache": lambda device: TeacherCacheConfig(teacher="T", device=device),
    "replay-train": lambda device: ReplayConfig(device=device),
}


@pytest.mark.parametrize("spec", ["auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"])
def test_device_specs_that_are_accepted(spec):
    assert devices.device_problem(spec) is None


@pytest.mark.parametrize("spec", ["gpu", "CUDA", "cuda:", "cuda:x", "cuda:-1", "", "cpu "])
def test_device_specs_that_are_refused(spec):
    assert devices.device_problem(spec, "--teacher-device") == (
        f"--teacher-device must be auto, cpu, cuda, cuda:N or mps, got {spec!r}"
    )


def test_auto_resolves_to_cuda_only_when_torch_sees_a_gpu():
    assert devices.resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert devices.resolve_device("cpu") == "cpu"
    assert devices.resolve_device("mps") == "mps"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_gpu_that_is_not_there_is_a_clear_error():
    with pytest.raises(ConfigError) as e:
        devices.resolve_device("cuda:1")
    assert e.value.message == "--device cuda:1: torch sees 0 CUDA device(s)"


@pytest.mark.parametrize("stage", sorted(CONFIGS))
def test_every_config_with_a_device_checks_it_the_same_way(stage):
    for spec in ("auto", "cpu", "cuda:1", "mps"):
        assert CONFIGS[stage](spec).device == spec
    with pytest.raises(ConfigError) as e:
        CONFIGS[stage]("gpu")
    assert "--device must be auto, cpu, cuda, cuda:N or mps, got 'gpu'" in e.value.message
