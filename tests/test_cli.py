"""The CLI shell: help, version, start-up cost, error formatting, options generated from the stage configs,
``--config`` files and global options after the command."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from cstool import __version__
from cstool.base.fields import option_info
from cstool.cli import app
from cstool.cli.app import COMMANDS, command_app
from cstool.cli.options import read_config_file
from cstool.io.artifacts import describe

from .conftest import TINY_CONLLU

runner = CliRunner()
CSTOOL = str(Path(sys.executable).with_name("cstool"))
LEXICON = Path(__file__).parent / "data" / "switch_lexicon.tsv"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ALL_COMMANDS = [
    "info",
    "tag",
    "train-tagger",
    "switch",
    "lexicon",
    "train-tokenizer",
    "teacher-cache",
    "distill",
    "adapt-vocab",
    "import-model",
    "replay-train",
    "eval",
    "report",
    "vqa-import",
    "vqa-easy",
    "build-vlm",
]


def click_command(name: str):
    """The generated click command of ``cstool NAME``, with its parameters."""
    return get_command(command_app(name))


def test_help_lists_every_command():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for name in ALL_COMMANDS:
        assert re.search(rf"│ {re.escape(name)} +\S", r.output), name
    group = get_command(app)
    assert sorted(group.list_commands(typer.Context(group))) == sorted(ALL_COMMANDS)


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"cstool {__version__}"


def test_cli_import_does_not_load_torch_or_stanza():
    code = "import sys, cstool.cli; print(sorted(m for m in ('torch', 'stanza', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("argv", "loaded"),
    [(["--help"], []), (["switch", "--help"], ["cstool.stages.switch"])],
)
def test_help_imports_only_what_it_shows(argv, loaded):
    """``cstool --help`` imports no stage (nor torch); a command's help imports its own stage only."""
    code = (
        "import sys\nfrom cstool.cli import main\n"
        f"sys.argv = ['cstool', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ('torch', 'transformers', 'stanza')\n"
        "print(sorted(m for m in sys.modules if m in heavy or m.startswith('cstool.stages.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == repr(loaded)


def test_errors_print_one_line_and_hint_with_brackets_intact(tmp_path):
    bad = tmp_path / "data [1].parquet"
    bad.write_text("not parquet")
    r = runner.invoke(app, ["info", str(bad)])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert lines[0].startswith(f"error: {bad} is not a Parquet or Arrow artifact")
    assert lines[1].startswith("hint:")


def test_debug_shows_the_traceback(tmp_path):
    r = runner.invoke(app, ["--debug", "info", str(tmp_path / "missing.parquet")])
    assert r.exit_code != 0 and r.exception is not None


# ---------------------------------------------------------------------------------------------------------
# Options generated from the config dataclasses


def test_every_config_field_has_a_flag_with_the_fields_default_and_help():
    configs = {name: spec.config_class() for name, spec in COMMANDS.items() if spec.config}
    assert set(configs) == set(ALL_COMMANDS) - {"info"}
    not_flags = []
    for name, cls in configs.items():
        params = {p.name: p for p in click_command(name).params}
        assert params["config_file"].opts == ["--config"], name
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            info = option_info(f)
            assert info.help, f"{cls.__name__}.{f.name} has no help"
            if not info.cli:
                not_flags.append((name, f.name))
                continue
            assert f.name in params, f"cstool {name} has no flag for {cls.__name__}.{f.name}"
            p = params[f.name]
            dashed = "--" + f.name.replace("_", "-")
            assert p.opts == [dashed] and p.help.replace("\\[", "[") == info.help, (name, f.name)
            if f.default is dataclasses.MISSING:
                assert p.required, (name, f.name)
            elif isinstance(f.default, bool):
                assert p.secondary_opts == ["--no-" + dashed[2:]] and p.default is f.default, (name, f.name)
            elif isinstance(f.default, tuple):
                shown = info.parse(p.default) if info.parse else tuple(p.default or ())
                assert shown == f.default, (name, f.name)
            else:
                assert p.default == f.default and not p.required, (name, f.name)
    assert not_flags == [("eval", "has_model")]  # set from --model


def _config_fields(field: str) -> dict[str, dataclasses.Field]:
    """Command → its config's ``field``, for every command whose config has one."""
    found = {}
    for name, spec in COMMANDS.items():
        fields = {f.name: f for f in dataclasses.fields(spec.config_class())} if spec.config else {}
        if field in fields:
            found[name] = fields[field]
    return found


def test_device_means_one_thing_everywhere():
    from cstool.base.fields import DEVICE_HELP

    devices = _config_fields("device")
    assert set(devices) == {"tag", "train-tagger", "teacher-cache", "distill", "replay-train", "eval"}
    for name, f in devices.items():
        assert f.default == "auto" and option_info(f).help == DEVICE_HELP, name
        params = {p.name: p for p in click_command(name).params}
        assert params["device"].default == "auto" and params["device"].help == DEVICE_HELP, name


def test_every_command_that_loads_a_model_by_name_has_the_same_offline_flag():
    offline = _config_fields("offline")
    loaders = {"distill", "teacher-cache", "adapt-vocab", "eval", "replay-train", "import-model"}
    assert set(offline) == loaders | {"tag"}  # tag: Stanza's models
    helps = {option_info(f).help for name, f in offline.items() if name in loaders - {"eval"}}
    assert len(helps) == 1 and "Hub id (OWNER/NAME)" in next(iter(helps))
    for name, f in offline.items():
        info = option_info(f)
        assert f.default is False and not info.changes_result, name  # a resumed run may change it
        assert "$HF_HUB_OFFLINE" in info.help and "$CSTOOL_OFFLINE" in info.help, name
    assert not _config_fields("allow_download")


def test_options_that_had_no_flag_have_one_now():
    wanted = {
        "distill": ["--weight-decay", "--keep-checkpoints", "--offline"],
        "replay-train": [
            "--lora-dropout",
            "--kd-temperature",
            "--eval-batch-size",
            "--composition",
            "--replay-schedule",
            "--full-finetune",
        ],
        "train-tokenizer": ["--byte-fallback", "--max-sentences"],
        "teacher-cache": ["--offline"],
    }
    for name, flags in wanted.items():
        opts = {o for p in click_command(name).params for o in p.opts}
        assert set(flags) <= opts, (name, set(flags) - opts)


def _makefile_invocations():
    """(command, flags) of every ``$(CSTOOL) …`` recipe line in the example Makefiles."""
    for makefile in sorted(EXAMPLES.glob("*/Makefile")):
        text = makefile.read_text().replace("\\\n", " ")
        for m in re.finditer(r"\$\(CSTOOL\)((?: -q)?) ([a-z-]+)([^\n;|>&]*)", text):
            flags = [t for t in m.group(3).split() if re.fullmatch(r"--?[a-z][a-z-]*", t)]
            yield makefile.parent.name, m.group(2), flags


def _replay_option_variables():
    """(Makefile, flags) of the variables the example Makefiles hand to replay-train (``opts_…``, ``RA_OPTS``…)."""
    for makefile in sorted(EXAMPLES.glob("*/Makefile")):
        for m in re.finditer(r"^(?:opts_[\w-]+|RA_OPTS|NEW25)\s*[:?]?=(.*)$", makefile.read_text(), re.M):
            flags = [t for t in m.group(1).split("#")[0].split() if re.fullmatch(r"--?[a-z][a-z-]*", t)]
            yield makefile.parent.name, "replay-train", flags


def test_the_flags_the_example_makefiles_use_exist():
    seen = 0
    for where, name, flags in [*_makefile_invocations(), *_replay_option_variables()]:
        opts = {o for p in click_command(name).params for o in [*p.opts, *p.secondary_opts]}
        assert set(flags) <= opts, (where, name, set(flags) - opts)
        seen += len(flags)
    assert seen > 30


# ---------------------------------------------------------------------------------------------------------
# --config x.yaml


@pytest.fixture(scope="module")
def tagged(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "tagged.parquet"
    r = runner.invoke(app, ["tag", str(TINY_CONLLU), "--lang", "en", "-o", str(out)])
    assert r.exit_code == 0, r.output
    return out


def test_config_file_sets_options_and_a_flag_overrides_it(tagged, tmp_path):
    config = tmp_path / "switch.yaml"
    config.write_text(
        f"lexicon: {LEXICON}\n"  # a required option, from the file
        "ratio: 0.5\n"
        "pos: [NOUN, VERB]\n"  # a list for a comma-separated option
        "weights: {NOUN: 1, VERB: 0.5}\n"  # a mapping for a NAME=VALUE option
        "allow_empty: true\n"  # the _ spelling
        "target-lang: en\n"
        "seed: 7\n"
    )
    out = tmp_path / "s.parquet"
    r = runner.invoke(app, ["switch", str(tagged), "--config", str(config), "--ratio", "0.2", "-o", str(out)])
    assert r.exit_code == 0, r.output
    options = describe(str(out))["provenance"]["options"]
    assert options["ratio"] == 0.2  # the flag wins over the file's 0.5
    assert options["pos"] == ["NOUN", "VERB"]
    assert options["weights"] == {"NOUN": 1.0, "VERB": 0.5}
    assert options["seed"] == 7 and options["allow_empty"] is True
    assert options["strategy"] == "pos" and options["sentence_rate"] == 1.0  # neither given: the defaults


def test_config_file_keys_and_values_as_the_command_line_takes_them(tmp_path):
    config = tmp_path / "replay.yaml"
    config.write_text("lora-r: 16\nkd_temperature: 1.5\ntask: {hi: hi.parquet, mr: mr.parquet}\nfull-finetune: true\n")
    defaults = read_config_file(config, click_command("replay-train"))
    assert defaults == {
        "lora_r": 16,
        "kd_temperature": 1.5,
        "task": ["hi=hi.parquet", "mr=mr.parquet"],
        "full_finetune": True,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lang: en\nbogus: 1\nalso_bad: 2\n", "unknown options bogus, also_bad"),
        ("- lang\n- en\n", "must be a mapping of option names to values, not a YAML list"),
        ("lang: [en\n", "is not valid YAML"),
        ("batch-size: 3\nbatch_size: 4\n", "option batch_size is given twice"),
        ("input: x.txt\n", "unknown option input"),  # a positional argument is not a key
    ],
)
def test_a_bad_config_file_is_one_error_line_and_a_hint(tmp_path, text, message):
    config = tmp_path / "c.yaml"
    config.write_text(text)
    r = runner.invoke(app, ["tag", str(TINY_CONLLU), "--config", str(config), "-o", str(tmp_path / "t.parquet")])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 2, r.output
    assert lines[0].startswith(f"error: --config {config}") and message in lines[0]
    assert lines[1].startswith("hint:")
    assert not (tmp_path / "t.parquet").exists()


def test_an_unreadable_config_file_is_an_error(tmp_path):
    r = runner.invoke(app, ["report", "run", "-o", str(tmp_path / "r"), "--config", str(tmp_path / "missing.yaml")])
    assert r.exit_code == 2 and r.output.startswith(f"error: cannot read --config {tmp_path / 'missing.yaml'}")


def test_a_config_value_of_the_wrong_type_names_the_option(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("batch-size: many\n")
    r = runner.invoke(app, ["tag", str(TINY_CONLLU), "--lang", "en", "--config", str(config), "-o", "x.parquet"])
    assert r.exit_code == 2 and "--batch-size" in r.output


# ---------------------------------------------------------------------------------------------------------
# Global options after the command


def test_debug_and_threads_after_the_command(tmp_path):
    missing = str(tmp_path / "missing.parquet")
    plain = runner.invoke(app, ["info", missing])
    assert plain.exit_code == 2 and plain.output.startswith("error:")
    debug = runner.invoke(app, ["info", missing, "--debug"])
    assert debug.exit_code != 0 and debug.exception is not None and not isinstance(debug.exception, SystemExit)
    out = str(tmp_path / "t.parquet")
    for argv in (["--threads", "0", "tag", str(TINY_CONLLU)], ["tag", str(TINY_CONLLU), "--threads", "0"]):
        r = runner.invoke(app, [*argv, "--lang", "en", "-o", out])
        assert r.exit_code == 2 and "--threads must be at least 1" in r.output, argv


def test_quiet_after_the_command_as_a_real_process(tagged, tmp_path):
    def switch(before: list[str], after: list[str]) -> subprocess.CompletedProcess:
        out = tmp_path / f"s{len(list(tmp_path.iterdir()))}.parquet"
        args = ["switch", str(tagged), "--lexicon", str(LEXICON), "--allow-empty", "-o", str(out)]
        return subprocess.run([CSTOOL, *before, *args, *after], capture_output=True, text=True)

    loud = switch([], [])
    assert loud.returncode == 0 and "switched 60 rows" in loud.stderr
    for before, after in (([], ["--quiet"]), ([], ["-q"]), (["-q"], []), (["--debug"], ["-q", "--threads", "1"])):
        r = switch(before, after)
        assert r.returncode == 0 and r.stderr == "", (before, after, r.stderr)
