"""io.py: atomic outputs and provenance columns."""

from __future__ import annotations

import os
import re
import shutil
import stat
from pathlib import Path

import pandas as pd
import pytest

import minarch
from minarch import io


def test_atomic_path_renames_on_success(tmp_path):
    destination = tmp_path / "deep" / "out.txt"
    with io.atomic_path(destination) as tmp:
        assert tmp.parent == destination.parent and tmp != destination
        tmp.write_text("done")
        assert not destination.exists()  # nothing looks finished before the end
    assert destination.read_text() == "done"
    assert os.listdir(destination.parent) == ["out.txt"]


def test_atomic_path_failure_leaves_nothing_and_keeps_old_file(tmp_path):
    destination = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with io.atomic_path(destination) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert os.listdir(tmp_path) == []
    destination.write_text("old")
    with pytest.raises(RuntimeError):
        with io.atomic_path(destination) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert destination.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]


def test_atomic_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        io.write_text("x", tmp_path / "a.txt")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode) == 0o644


def test_write_and_read_parquets(tmp_path):
    a = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
    b = pd.DataFrame({"x": [3], "y": ["c"]})
    io.write_parquet(a, tmp_path / "a.parquet")
    io.write_parquet(b, tmp_path / "b.parquet")
    both = io.read_parquets([tmp_path / "a.parquet", tmp_path / "b.parquet"])
    pd.testing.assert_frame_equal(both, pd.concat([a, b], ignore_index=True))
    assert io.read_parquets([]).empty


def test_versions():
    import torch

    assert io.versions() == {
        "minarch_version": minarch.__version__,
        "minarch_source_hash": io.source_hash(),
        "torch_version": torch.__version__,
    }


def _copy_package(destination):
    package = Path(minarch.__file__).resolve().parent
    shutil.copytree(package, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def test_source_hash_names_the_code_not_its_place(tmp_path):
    installed = Path(minarch.__file__).resolve().parent
    assert re.fullmatch(r"[0-9a-f]{12}", io.source_hash())
    assert io.source_hash() == io.source_hash(installed)
    copy = _copy_package(tmp_path / "elsewhere" / "minarch")
    assert io.source_hash(copy) == io.source_hash(installed)  # same sources, another installation
    (copy / "__pycache__").mkdir()
    (copy / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"compiled")
    (copy / "notes.txt").write_text("not code")
    io.source_hash.cache_clear()
    assert io.source_hash(copy) == io.source_hash(installed)  # only .py sources count


@pytest.mark.parametrize("edit", ["append", "new module", "rename"])
def test_source_hash_changes_with_any_source_edit(tmp_path, edit):
    copy = _copy_package(tmp_path / "minarch")
    before = io.source_hash(copy)
    io.source_hash.cache_clear()
    if edit == "append":
        with open(copy / "regimes.py", "a") as handle:
            handle.write("\n# changed\n")
    elif edit == "new module":
        (copy / "extra.py").write_text("X = 1\n")
    else:
        (copy / "regimes.py").rename(copy / "regimes2.py")
    assert io.source_hash(copy) != before


@pytest.mark.parametrize("damage", ["truncated", "junk", "empty"])
def test_read_parquet_names_a_damaged_file_in_one_line(tmp_path, damage):
    path = tmp_path / "run" / "train.parquet"
    io.write_parquet(pd.DataFrame({"x": range(100)}), path)
    content = path.read_bytes()
    path.write_bytes({"truncated": content[: len(content) // 2], "junk": b"\x00junk" * 64, "empty": b""}[damage])
    with pytest.raises(io.CheckpointError) as info:
        io.read_parquet(path)
    message = str(info.value)
    assert str(path) in message and "corrupt" in message and "delete it and rerun" in message
    assert "\n" not in message
    io.write_parquet(pd.DataFrame({"x": [1]}), tmp_path / "ok.parquet")
    with pytest.raises(io.CheckpointError, match="train.parquet is corrupt"):  # and among many files
        io.read_parquets([tmp_path / "ok.parquet", path])


def test_read_parquet_missing_file(tmp_path):
    with pytest.raises(io.CheckpointError, match="absent.parquet is missing"):
        io.read_parquet(tmp_path / "absent.parquet")


def _rows(code, n):
    return pd.DataFrame({"x": range(n), "minarch_source_hash": code})


def test_mixed_code_warning_names_each_code_and_its_rows():
    assert io.mixed_code_warning(_rows("aaaaaaaaaaaa", 3), _rows("aaaaaaaaaaaa", 2)) is None
    assert io.mixed_code_warning(pd.DataFrame(), None, _rows("aaaaaaaaaaaa", 1)) is None
    line = io.mixed_code_warning(_rows("aaaaaaaaaaaa", 3), _rows("bbbbbbbbbbbb", 1))
    assert "2 different versions" in line and "aaaaaaaaaaaa: 3 rows" in line and "bbbbbbbbbbbb: 1 row" in line
    assert "\n" not in line
    # rows written before the hash was recorded are code of their own
    line = io.mixed_code_warning(_rows("aaaaaaaaaaaa", 2), pd.DataFrame({"x": [1, 2]}))
    assert "2 different versions" in line and "unrecorded: 2 rows" in line
    assert io.mixed_code_warning(pd.DataFrame({"x": [1]})) is None


def test_atomic_path_removes_leftovers_of_a_killed_write(tmp_path):
    destination = tmp_path / "train.parquet"
    leftover = tmp_path / ".train.parquet.k1ll3d.tmp"
    leftover.write_text("half")
    unrelated = tmp_path / ".prune.parquet.abc.tmp"
    unrelated.write_text("another file's")
    with io.atomic_path(destination) as tmp:
        tmp.write_text("done")
    assert destination.read_text() == "done"
    assert not leftover.exists() and unrelated.exists()
