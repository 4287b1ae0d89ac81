"""``--config`` files are read with bounds: a file over 1 MiB (or endless, such as /dev/zero), a "billion
laughs" of nested aliases, or nesting deeper than Python's stack is one error line, read in bounded memory
and time; a file that shares values through a few aliases still works."""

from __future__ import annotations

import os

import pytest

from cstool.cli.options import MAX_CONFIG_NODES, _TooManyValues

from .stages.conftest import assert_user_error, invoke

LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + k)}: &{chr(98 + k)} [{','.join(['*' + chr(97 + k)] * 9)}]" for k in range(8)]
    + ["langs: *i"]
)


def _report(tmp_path, config):
    return invoke("report", tmp_path / "no-such-run", "-o", tmp_path / "r", "--config", config)


@pytest.mark.parametrize(
    "text, message",
    [
        (LAUGHS, f"more than {MAX_CONFIG_NODES} values once its aliases"),
        ("metric: " + "[" * 200_000 + "]" * 200_000 + "\n", "nests too deeply"),
        ("# " + "x" * (1024 * 1024) + "\n", "is larger than 1024 KiB"),
    ],
)
def test_a_hostile_config_file_is_one_line(tmp_path, text, message):
    config = tmp_path / "c.yaml"
    config.write_text(text)
    code, output = _report(tmp_path, config)
    assert_user_error(code, output, message)
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_an_endless_config_file_is_refused_after_1_mib(tmp_path):
    code, output = _report(tmp_path, "/dev/zero")
    assert_user_error(code, output, "--config /dev/zero is larger than 1024 KiB")


def test_a_few_aliases_still_work():
    import yaml

    from cstool.cli.options import _bounded_loader

    assert yaml.load("a: &x [1, 2]\nb: *x\n", Loader=_bounded_loader()) == {"a": [1, 2], "b": [1, 2]}
    with pytest.raises(_TooManyValues):
        yaml.load(LAUGHS, Loader=_bounded_loader())
