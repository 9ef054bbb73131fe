"""io.py: atomic outputs and provenance columns."""

from __future__ import annotations

import os
import stat

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

    assert io.versions() == {"minarch_version": minarch.__version__, "torch_version": torch.__version__}


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
