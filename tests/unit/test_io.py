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


def test_versions_record_the_stages_code_version_not_the_source_hash():
    import torch

    from minarch import provenance

    assert io.versions("prune") == {
        "minarch_version": minarch.__version__,
        "code_version": provenance.code_version("prune"),
        "torch_version": torch.__version__,
    }
    # without a stage: every per-seed stage's code together, today each one's own
    assert io.versions()["code_version"] == provenance.run_code_version() == provenance.code_version("train")
    assert "minarch_source_hash" not in io.versions()


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


def test_a_full_disk_is_one_line_naming_the_file_and_leaves_nothing(tmp_path):
    """/dev/full answers every write with ENOSPC, as a full disk does."""
    destination = tmp_path / "runs" / "train.parquet"
    with pytest.raises(io.OutputError) as info:
        with io.atomic_path(destination) as tmp, open("/dev/full", "wb") as full:
            tmp.write_bytes(b"half")
            full.write(b"x" * (1 << 20))
            full.flush()
    message = str(info.value)
    assert message.startswith(f"disk full while writing {destination}") and "\n" not in message
    assert os.listdir(destination.parent) == []  # no partial file, no temporary file


def test_disk_full_sees_enospc_behind_torchs_runtime_error():
    try:
        try:
            raise OSError(28, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598") from None
    except RuntimeError as error:  # raised from None: the OSError stays its context
        assert io.disk_full(error)
    assert io.disk_full(OSError(122, "Disk quota exceeded"))
    assert not io.disk_full(RuntimeError("unexpected pos 704 vs 598"))
    assert not io.disk_full(OSError(13, "Permission denied"))


def test_read_parquet_says_permission_not_corrupt(tmp_path, monkeypatch):
    path = tmp_path / "train.parquet"
    io.write_parquet(pd.DataFrame({"x": [1]}), path)

    def denied(target, *args, **kwargs):  # what the OS raises for a file this user may not read
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr(pd, "read_parquet", denied)
    with pytest.raises(io.CheckpointError) as info:
        io.read_parquet(path)
    message = str(info.value)
    assert f"permission denied reading {path}" in message and "corrupt" not in message and "\n" not in message


def test_html_table_shows_its_notes(tmp_path):
    io.write_html_table(pd.DataFrame({"x": [1]}), tmp_path / "t.html", "Title", ["WARNING: a <note>"])
    page = (tmp_path / "t.html").read_text()
    assert "<p>WARNING: a &lt;note&gt;</p>" in page and "<table" in page
