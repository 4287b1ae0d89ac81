"""Atomic writes: a target appears only complete, and a failed write leaves neither a temp file nor a target."""

from __future__ import annotations

import json

import pytest

from cstool.io import atomic


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_file_is_renamed_into_place_on_success(tmp_path):
    target = tmp_path / "out.txt"
    with atomic.atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.txt.tmp-")
        tmp.write_text("done")
        assert not target.exists()  # nothing under the real name until the block ends
    assert target.read_text() == "done"
    assert _listing(tmp_path) == ["out.txt"]


def test_a_failed_write_leaves_neither_temp_nor_target(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert _listing(tmp_path) == []


def test_a_failed_write_keeps_the_old_target(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic.atomic_path(target) as tmp:
        tmp.write_text("new")
        raise KeyboardInterrupt
    assert target.read_text() == "old" and _listing(tmp_path) == ["out.txt"]


def test_write_text_and_json_replace_the_target(tmp_path):
    atomic.write_text(tmp_path / "a.md", "first")
    atomic.write_text(tmp_path / "a.md", "second ✓")
    assert (tmp_path / "a.md").read_text(encoding="utf-8") == "second ✓"
    path = atomic.write_json(tmp_path / "s.json", {"b": 1, "a": "ह"}, sort_keys=True, ensure_ascii=False)
    assert path.read_text(encoding="utf-8") == '{"a": "ह", "b": 1}\n'
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": "ह", "b": 1}
    assert _listing(tmp_path) == ["a.md", "s.json"]


def test_a_folder_replaces_the_old_one_whole(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "stale.bin").write_text("old")
    with atomic.atomic_dir(target) as tmp:
        assert tmp.is_dir() and not any(tmp.iterdir())
        (tmp / "weights.bin").write_text("new")
        assert (target / "stale.bin").exists()  # the old folder stays until the new one is complete
    assert _listing(target) == ["weights.bin"]
    assert _listing(tmp_path) == ["model"]


def test_a_failed_folder_leaves_nothing_new(tmp_path):
    with pytest.raises(ValueError), atomic.atomic_dir(tmp_path / "model") as tmp:
        (tmp / "weights.bin").write_text("half")
        raise ValueError("bad")
    assert _listing(tmp_path) == []
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "keep.bin").write_text("old")
    with pytest.raises(ValueError), atomic.atomic_dir(tmp_path / "model") as tmp:
        raise ValueError("bad")
    assert _listing(tmp_path) == ["model"] and _listing(tmp_path / "model") == ["keep.bin"]


def test_a_folder_can_be_taken_from_a_subfolder(tmp_path):
    """peft saves a named adapter as DIR/NAME/: that subfolder becomes the target, the rest is dropped."""
    with atomic.atomic_dir(tmp_path / "adapter", subdir="main") as tmp:
        (tmp / "README.md").write_text("card")
        (tmp / "main").mkdir()
        (tmp / "main" / "adapter_config.json").write_text("{}")
    assert _listing(tmp_path / "adapter") == ["adapter_config.json"]
    assert _listing(tmp_path) == ["adapter"]
    with atomic.atomic_dir(tmp_path / "plain", subdir="main") as tmp:  # no such subfolder: the folder itself
        (tmp / "config.json").write_text("{}")
    assert _listing(tmp_path / "plain") == ["config.json"]


def test_a_group_commits_all_of_its_outputs_or_none(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old a")
    with pytest.raises(RuntimeError), atomic.group():
        atomic.write_text(a, "new a")
        assert a.read_text() == "old a"  # held back until the group ends
        with atomic.atomic_path(b) as tmp:
            tmp.write_text("new b")
        raise RuntimeError("the second output's work failed")
    assert a.read_text() == "old a" and _listing(tmp_path) == ["a.txt"]
    with atomic.group():
        atomic.write_text(a, "new a")
        with atomic.group():  # nested: part of the outer group
            atomic.write_text(b, "new b")
        assert not b.exists()
    assert a.read_text() == "new a" and b.read_text() == "new b" and _listing(tmp_path) == ["a.txt", "b.txt"]


def test_folder_files_remove_only_what_their_manifest_lists(tmp_path):
    (tmp_path / "theirs.txt").write_text("someone else's")
    with atomic.folder_files(tmp_path, "cmd") as place:
        place(tmp_path / "x.txt").write_text("1")
        place(tmp_path / "y.txt").write_text("1")
    with pytest.raises(RuntimeError), atomic.folder_files(tmp_path, "cmd") as place:
        place(tmp_path / "x.txt").write_text("2")
        raise RuntimeError
    assert (tmp_path / "y.txt").exists() and (tmp_path / "x.txt").read_text() == "1"  # a failed call changes nothing
    with atomic.folder_files(tmp_path, "cmd") as place:
        place(tmp_path / "x.txt").write_text("3")
    assert _listing(tmp_path) == [".cstool-cmd.files.json", "theirs.txt", "x.txt"]
    assert json.loads((tmp_path / ".cstool-cmd.files.json").read_text())["files"] == ["x.txt"]
    with pytest.raises(ValueError), atomic.folder_files(tmp_path, "cmd") as place:
        place(tmp_path / "sub" / "z.txt")


def test_folder_files_remove_a_folder_they_made_when_they_fail(tmp_path):
    with pytest.raises(RuntimeError), atomic.folder_files(tmp_path / "new" / "out", "cmd") as place:
        place(tmp_path / "new" / "out" / "x.txt").write_text("1")
        raise RuntimeError
    assert _listing(tmp_path) == ["new"] and _listing(tmp_path / "new") == []
