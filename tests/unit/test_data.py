"""data.py: checksum verification, the mirror folder, the cache, the split and normalisation.
Only tiny fake datasets are used; the real ones are never loaded."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from minarch import data, registry
from minarch.data import ARRAYS, MIRROR_ENV, DataError
from minarch.registry import Dataset


def entry(name, title, shape, checksums, torchvision_class, unlisted=False):
    """A tiny registry entry of 20 training and 10 test images."""
    return Dataset(name, title, shape, checksums, torchvision_class, unlisted, train_images=20, test_images=10)


def tiny_arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, size=(20, 4, 4), dtype=np.uint8),
        "y_train": rng.integers(0, 10, size=20, dtype=np.uint8),
        "x_test": rng.integers(0, 256, size=(10, 4, 4), dtype=np.uint8),
        "y_test": rng.integers(0, 10, size=10, dtype=np.uint8),
    }


def sha256s(arrays):
    return {name: hashlib.sha256(arrays[name].tobytes()).hexdigest() for name in ARRAYS}


@pytest.fixture
def tiny(monkeypatch):
    """Register a tiny dataset 'tiny' whose accepted checksums are those of ``tiny_arrays()``."""
    arrays = tiny_arrays()
    monkeypatch.setitem(registry.datasets(), "tiny", entry("tiny", "Tiny", (1, 4, 4), (sha256s(arrays),), "MNIST"))
    return arrays


@pytest.fixture
def mirror(tmp_path, tiny):
    folder = tmp_path / "mirror"
    folder.mkdir()
    np.savez(folder / "tiny.npz", **tiny)
    return folder


def test_real_dataset_tables_are_consistent():
    assert list(registry.datasets())[:3] == ["mnist", "fashion_mnist", "cifar10"]
    for meta in registry.datasets().values():
        c, h, w = meta.image_shape
        shape = meta.expected_shapes["x_train"]
        assert shape[1:3] == (h, w) and (len(shape) == 3 if c == 1 else shape[3] == c)
        for checksums in meta.checksums:
            assert set(checksums) == set(ARRAYS)
            assert all(len(v) == 64 and int(v, 16) >= 0 for v in checksums.values())


def test_content_checksums_are_sha256_of_array_bytes(tiny):
    assert data.content_checksums(tiny) == sha256s(tiny)


def test_verify_accepts_matching_arrays(tiny):
    data.verify("tiny", {k: v.copy() for k, v in tiny.items()}, "test")


def test_verify_accepts_any_listed_checksum_set(tiny, monkeypatch):
    other = sha256s(tiny_arrays(seed=1))
    meta = registry.datasets()["tiny"]
    monkeypatch.setitem(
        registry.datasets(), "tiny", entry("tiny", "Tiny", (1, 4, 4), (other, meta.checksums[0]), "MNIST")
    )
    data.verify("tiny", tiny, "test")
    data.verify("tiny", tiny_arrays(seed=1), "test")


@pytest.mark.parametrize("name", ARRAYS)
def test_verify_rejects_a_flipped_byte(tiny, name):
    arrays = {k: v.copy() for k, v in tiny.items()}
    arrays[name].reshape(-1)[3] ^= 0x01
    with pytest.raises(DataError, match="checksum") as info:
        data.verify("tiny", arrays, "somewhere.npz")
    message = str(info.value)
    assert name in message and "somewhere.npz" in message and "\n" not in message
    others = [n for n in ARRAYS if n != name]
    assert not any(f"({n}" in message or f" {n})" in message for n in others)


def test_verify_rejects_wrong_dtype_shape_and_missing_array(tiny):
    arrays = dict(tiny, y_train=tiny["y_train"].astype(np.int64))
    with pytest.raises(DataError, match="dtype"):
        data.verify("tiny", arrays, "src")
    arrays = dict(tiny, x_train=tiny["x_train"][:19])
    with pytest.raises(DataError, match="shape"):
        data.verify("tiny", arrays, "src")
    arrays = {k: v for k, v in tiny.items() if k != "y_test"}
    with pytest.raises(DataError, match="y_test"):
        data.verify("tiny", arrays, "src")


def test_unknown_dataset():
    with pytest.raises(DataError, match="svhn"):
        data.info("svhn")


def test_prepare_from_mirror_writes_verified_cache(mirror, tiny, tmp_path):
    destination = tmp_path / "resources" / "datasets" / "tiny.npz"
    line = data.prepare("tiny", destination, mirror=str(mirror))
    assert str(mirror / "tiny.npz") in line
    assert sorted(os.listdir(destination.parent)) == ["tiny.npz"]
    with np.load(destination) as cache:
        assert sorted(cache.files) == sorted([*ARRAYS, data.CHECKSUMS_KEY, data.NAME_KEY])
        for name in ARRAYS:
            assert cache[name].dtype == np.uint8
            np.testing.assert_array_equal(cache[name], tiny[name])


def _assert_no_cache(destination: Path):
    assert not destination.exists()
    if destination.parent.exists():
        assert os.listdir(destination.parent) == []  # no temporary file either


def test_prepare_with_wrong_checksum_leaves_no_cache(mirror, tiny, tmp_path):
    bad = dict(tiny)
    bad["x_train"] = tiny["x_train"].copy()
    bad["x_train"][0, 0, 0] ^= 0xFF
    np.savez(mirror / "tiny.npz", **bad)
    destination = tmp_path / "cache" / "tiny.npz"
    destination.parent.mkdir()
    with pytest.raises(DataError, match="checksum"):
        data.prepare("tiny", destination, mirror=str(mirror))
    _assert_no_cache(destination)


def test_prepare_with_wrong_checksum_keeps_an_existing_cache_untouched(mirror, tiny, tmp_path):
    destination = tmp_path / "cache" / "tiny.npz"
    data.prepare("tiny", destination, mirror=str(mirror))
    before = destination.read_bytes()
    bad = dict(tiny, y_test=(tiny["y_test"] + 1).astype(np.uint8))
    np.savez(mirror / "tiny.npz", **bad)
    with pytest.raises(DataError, match="checksum"):
        data.prepare("tiny", destination, mirror=str(mirror))
    assert destination.read_bytes() == before
    assert os.listdir(destination.parent) == ["tiny.npz"]


def test_missing_mirror_file(tmp_path, tiny):
    empty = tmp_path / "empty"
    empty.mkdir()
    destination = tmp_path / "cache" / "tiny.npz"
    with pytest.raises(DataError) as info:
        data.prepare("tiny", destination, mirror=str(empty))
    message = str(info.value)
    assert MIRROR_ENV in message and "data.mirror" in message and "tiny.npz" in message
    assert "\n" not in message
    _assert_no_cache(destination)


def test_nonexistent_mirror_folder(tmp_path, tiny):
    destination = tmp_path / "cache" / "tiny.npz"
    with pytest.raises(DataError) as info:
        data.prepare("tiny", destination, mirror=str(tmp_path / "nowhere"))
    message = str(info.value)
    assert MIRROR_ENV in message and "data.mirror" in message and "nowhere" in message
    _assert_no_cache(destination)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.0])
def test_truncated_npz(mirror, tmp_path, keep):
    path = mirror / "tiny.npz"
    content = path.read_bytes()
    path.write_bytes(content[: int(len(content) * keep)])
    destination = tmp_path / "cache" / "tiny.npz"
    with pytest.raises(DataError, match="corrupt"):
        data.prepare("tiny", destination, mirror=str(mirror))
    _assert_no_cache(destination)


def test_environment_variable_overrides_configured_mirror(monkeypatch, tmp_path):
    assert data.mirror_folder(None) is None
    assert data.mirror_folder(str(tmp_path / "configured")) == tmp_path / "configured"
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "from_env"))
    assert data.mirror_folder(str(tmp_path / "configured")) == tmp_path / "from_env"
    assert data.mirror_folder(None) == tmp_path / "from_env"


def test_mirror_folder_expands_user(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data.mirror_folder("~/mirror") == tmp_path / "mirror"


def test_prepare_uses_environment_mirror(monkeypatch, mirror, tmp_path):
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    destination = tmp_path / "cache" / "tiny.npz"
    line = data.prepare("tiny", destination, mirror=str(tmp_path / "configured_but_absent"))
    assert destination.is_file() and str(mirror) in line


def test_validation_indices():
    train, val = data.validation_indices(1000, 0.1, split_seed=0)
    assert len(val) == 100 and len(train) == 900
    assert not set(train) & set(val)
    assert sorted(np.concatenate([train, val])) == list(range(1000))
    assert list(train) == sorted(train) and list(val) == sorted(val)
    again_train, again_val = data.validation_indices(1000, 0.1, split_seed=0)
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(val, again_val)
    _, other_val = data.validation_indices(1000, 0.1, split_seed=1)
    assert set(other_val) != set(val)
    assert len(data.validation_indices(60000, 0.1, 0)[1]) == 6000


def test_normalise_values_and_layouts():
    images = np.array([[[0, 255], [128, 64]]], dtype=np.uint8)  # N=1, H=2, W=2
    out = data.normalise(images)
    assert out.dtype == torch.float32 and out.shape == (1, 1, 2, 2)
    assert out[0, 0, 0, 0] == -1.0 and out[0, 0, 0, 1] == 1.0
    assert out[0, 0, 1, 0].item() == pytest.approx((128 / 255 - 0.5) / 0.5, abs=1e-6)

    rng = np.random.default_rng(0)
    nhwc = rng.integers(0, 256, size=(2, 4, 5, 3), dtype=np.uint8)
    out = data.normalise(nhwc)
    assert out.shape == (2, 3, 4, 5)
    for n, h, w, c in [(0, 0, 0, 0), (1, 3, 4, 2), (0, 2, 1, 1)]:
        assert out[n, c, h, w].item() == pytest.approx(nhwc[n, h, w, c] / 127.5 - 1.0, abs=1e-6)
    assert out.min() >= -1.0 and out.max() <= 1.0


def test_normalise_gives_the_papers_float_ops_for_every_byte():
    """normalise computes x / 127.5 - 1 in one pass; the paper's (x / 255 - 0.5) / 0.5 in
    float32, op by op, gives the same floats for all 256 byte values (so for any image)."""
    every = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    papers = torch.from_numpy(every).float().div_(255.0).sub_(0.5).div_(0.5)
    assert torch.equal(data.normalise(every)[:, 0], papers)
    assert torch.equal(data.normalise(every.reshape(1, 16, 16, 1)), papers[:, None])


def test_load_splits(tmp_path, tiny):
    path = tmp_path / "tiny.npz"
    np.savez(path, **tiny)
    splits = data.load_splits(path, validation_fraction=0.1, split_seed=0)
    train_idx, val_idx = data.validation_indices(20, 0.1, 0)
    assert splits.x_train.shape == (18, 1, 4, 4) and splits.x_val.shape == (2, 1, 4, 4)
    assert splits.x_test.shape == (10, 1, 4, 4) and splits.image_shape == (1, 4, 4)
    assert splits.y_train.dtype == torch.int64
    full = data.normalise(tiny["x_train"])
    assert torch.equal(splits.x_val, full[torch.from_numpy(val_idx)])
    assert torch.equal(splits.y_train, torch.from_numpy(tiny["y_train"][train_idx].astype(np.int64)))
    assert torch.equal(splits.x_test, data.normalise(tiny["x_test"]))


def test_load_splits_of_some_parts(tmp_path, tiny):
    """Only the named splits are made, equal to those of a full load; the others are None (a
    use fails loudly instead of finding no images), and the shape comes from what is there."""
    path = tmp_path / "tiny.npz"
    np.savez(path, **tiny)
    full = data.load_splits(path, validation_fraction=0.1, split_seed=0)
    test = data.load_splits(path, validation_fraction=0.1, split_seed=0, parts=("test",))
    assert (test.x_train, test.y_train, test.x_val, test.y_val) == (None, None, None, None)
    assert torch.equal(test.x_test, full.x_test) and torch.equal(test.y_test, full.y_test)
    assert test.image_shape == full.image_shape and test.loaded is test.x_test
    val = data.load_splits(path, validation_fraction=0.1, split_seed=0, parts=("val",))
    assert torch.equal(val.x_val, full.x_val) and val.x_test is None
    for bad in (("tset",), ()):
        with pytest.raises(ValueError, match="splits are some of"):
            data.load_splits(path, parts=bad)


def test_load_splits_missing_or_corrupt_cache(tmp_path):
    with pytest.raises(DataError, match="missing"):
        data.load_splits(tmp_path / "absent.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    with pytest.raises(DataError, match="unreadable"):
        data.load_splits(garbage)


# --------------------------------------------------------------------------- the cache is checked where it is read
def _prepared_cache(mirror, tmp_path) -> Path:
    destination = tmp_path / "resources" / "datasets" / "tiny.npz"
    data.prepare("tiny", destination, mirror=str(mirror))
    return destination


def test_prepare_records_the_content_checksums_in_the_cache(mirror, tiny, tmp_path):
    with np.load(_prepared_cache(mirror, tmp_path), allow_pickle=False) as cache:
        recorded = cache[data.CHECKSUMS_KEY].tolist()
    assert recorded == [sha256s(tiny)[name] for name in ARRAYS]


@pytest.mark.parametrize("change", ["permuted labels", "one pixel", "swapped test set"])
def test_load_splits_rejects_a_cache_changed_after_it_was_made(mirror, tiny, tmp_path, change):
    """The cache stays a valid file with its recorded checksums; only its content changed."""
    path = _prepared_cache(mirror, tmp_path)
    with np.load(path, allow_pickle=False) as cache:
        arrays = {name: cache[name].copy() for name in cache.files}
    if change == "permuted labels":
        arrays["y_train"] = arrays["y_train"][::-1].copy()
        changed = "y_train"
    elif change == "one pixel":
        arrays["x_train"][0, 0, 0] ^= 0x01
        changed = "x_train"
    else:
        arrays["x_test"], arrays["y_test"] = arrays["x_test"][::-1].copy(), arrays["y_test"][::-1].copy()
        changed = "x_test, y_test"
    np.savez(path, **arrays)
    data.load_splits(_prepared_cache(mirror, tmp_path / "fresh"))  # the same data, freshly made, loads
    with pytest.raises(DataError) as info:
        data.load_splits(path)
    message = str(info.value)
    assert str(path) in message and f"({changed} changed)" in message and "delete it and rerun" in message
    assert "\n" not in message


def test_load_splits_accepts_an_old_cache_only_with_known_content(tiny, tmp_path):
    """A cache written before checksums were recorded: its content must be a known one of the
    dataset it is named after (checked once more, not trusted blindly)."""
    old = tmp_path / "tiny.npz"
    np.savez(old, **tiny)
    assert data.load_splits(old).x_train.shape[0] == 18
    np.savez(old, **dict(tiny, y_train=tiny["y_train"][::-1].copy()))
    with pytest.raises(DataError, match="records no content checksums .* delete it and rerun"):
        data.load_splits(old)
    unknown = tmp_path / "svhn.npz"
    np.savez(unknown, **tiny_arrays(seed=5))
    with pytest.raises(DataError, match="svhn.npz records no content checksums"):
        data.load_splits(unknown)
    np.savez(unknown, **tiny)  # a known dataset's content under another name
    with pytest.raises(DataError, match="svhn.npz holds the tiny data, not the svhn its name says"):
        data.load_splits(unknown)


# --------------------------------------------------------------------------- a cache is the dataset its path names
@pytest.fixture
def two_datasets(monkeypatch, tiny, tmp_path):
    """A second tiny dataset 'other', with its own known content, and a mirror with both."""
    other = tiny_arrays(seed=1)
    monkeypatch.setitem(registry.datasets(), "other", entry("other", "Other", (1, 4, 4), (sha256s(other),), "MNIST"))
    folder = tmp_path / "mirror2"
    folder.mkdir()
    np.savez(folder / "tiny.npz", **tiny)
    np.savez(folder / "other.npz", **other)
    caches = tmp_path / "resources" / "datasets"
    for name in ("tiny", "other"):
        data.prepare(name, caches / f"{name}.npz", mirror=str(folder))
    return caches


def test_prepare_records_the_dataset_name(two_datasets):
    with np.load(two_datasets / "tiny.npz", allow_pickle=False) as cache:
        assert str(cache[data.NAME_KEY]) == "tiny"
    assert data.cache_record(two_datasets / "other.npz") == ("other", [sha256s(tiny_arrays(1))[n] for n in ARRAYS])


def test_another_datasets_cache_copied_onto_the_name_is_one_line(two_datasets):
    """The issue's case: fashion_mnist.npz copied onto mnist.npz trained 'MNIST' at 77%."""
    swapped = two_datasets / "tiny.npz"
    swapped.write_bytes((two_datasets / "other.npz").read_bytes())
    with pytest.raises(DataError) as info:
        data.load_splits(swapped)
    message = str(info.value)
    assert "\n" not in message and str(swapped) in message
    assert "holds other, not the tiny its name says" in message and "delete it and rerun" in message


def test_another_datasets_content_is_caught_without_a_recorded_name(two_datasets):
    """A cache that records no name (made by an older minarch) is known by its content."""
    with np.load(two_datasets / "other.npz", allow_pickle=False) as cache:
        arrays = {name: cache[name] for name in (*ARRAYS, data.CHECKSUMS_KEY)}
    np.savez(two_datasets / "tiny.npz", **arrays)
    with pytest.raises(DataError, match="tiny.npz holds the other data, not the tiny its name says"):
        data.load_splits(two_datasets / "tiny.npz")


def test_unlisted_content_is_accepted_only_under_its_recorded_name(monkeypatch, tiny, tmp_path):
    """CIFAR-10's official download: content checksums not listed, so its cache is known by
    the name it recorded when torchvision's MD5 check passed."""
    monkeypatch.setitem(
        registry.datasets(), "tiny", entry("tiny", "Tiny", (1, 4, 4), ({n: "0" * 64 for n in ARRAYS},), "MNIST", True)
    )
    recorded = np.array([sha256s(tiny)[n] for n in ARRAYS])
    named, unnamed = tmp_path / "a" / "tiny.npz", tmp_path / "b" / "tiny.npz"
    for path in (named, unnamed):
        path.parent.mkdir()
    np.savez(named, **tiny, sha256=recorded, dataset=np.array("tiny"))
    np.savez(unnamed, **tiny, sha256=recorded)
    assert data.load_splits(named).x_test.shape[0] == 10
    with pytest.raises(DataError, match="is not a known tiny content"):
        data.load_splits(unnamed)


def test_load_splits_reads_the_cache_beside_its_version_file(two_datasets):
    version = two_datasets / "tiny.version"
    line = data.write_version(two_datasets / "tiny.npz", version, data.dataset_version("tiny"))
    assert line == f"tiny: content version {data.dataset_version('tiny')}"
    assert version.read_text().splitlines()[:2] == ["dataset: tiny", f"version: {data.dataset_version('tiny')}"]
    assert data.cache_path(version) == two_datasets / "tiny.npz"
    assert torch.equal(data.load_splits(version).x_test, data.load_splits(two_datasets / "tiny.npz").x_test)


def test_dataset_version_names_the_content_not_the_source(monkeypatch, tmp_path):
    """No path in it: every mirror folder and the official download give the listed MNIST,
    so one version; CIFAR-10's mirror and its official download differ, so two."""
    assert (
        data.dataset_version("mnist", "/a/mirror")
        == data.dataset_version("mnist", "/b")
        == data.dataset_version("mnist")
    )
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path))
    assert data.dataset_version("mnist", None) == data.dataset_version("mnist", "/elsewhere")
    assert data.dataset_version("cifar10") == data.dataset_version("cifar10", "/b")  # both the mirror's
    monkeypatch.delenv(MIRROR_ENV)
    assert data.dataset_version("cifar10") != data.dataset_version("cifar10", "/b")  # download vs mirror
    assert len({data.dataset_version(d, "/m") for d in registry.datasets()}) == 3
    assert str(tmp_path) not in data.dataset_version("mnist") and len(data.dataset_version("mnist")) == 12


def _denied(target, *args, **kwargs):
    raise PermissionError(13, "Permission denied", str(target))  # what the OS raises


def test_an_unreadable_mirror_file_says_permission_not_corrupt(mirror, tmp_path, monkeypatch):
    monkeypatch.setattr(data.np, "load", _denied)
    with pytest.raises(DataError) as info:
        data.prepare("tiny", tmp_path / "out" / "tiny.npz", mirror=str(mirror))
    message = str(info.value)
    assert f"permission denied reading the data mirror {mirror / 'tiny.npz'}" in message
    assert "corrupt" not in message and "\n" not in message and MIRROR_ENV in message


def test_an_unsearchable_mirror_folder_says_permission(mirror, tmp_path, monkeypatch):
    real_is_file = Path.is_file
    monkeypatch.setattr(Path, "is_file", lambda p: _denied(p) if p.parent == mirror else real_is_file(p))
    with pytest.raises(DataError) as info:
        data.prepare("tiny", tmp_path / "out" / "tiny.npz", mirror=str(mirror))
    assert f"permission denied reading the data mirror {mirror}:" in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
@pytest.mark.parametrize("target", ["folder", "file"])
def test_unreadable_mirror_by_mode(mirror, tmp_path, target):
    path = mirror if target == "folder" else mirror / "tiny.npz"
    path.chmod(0)
    try:
        with pytest.raises(DataError, match="permission denied reading the data mirror"):
            data.prepare("tiny", tmp_path / "out" / "tiny.npz", mirror=str(mirror))
    finally:
        path.chmod(0o755)


def test_an_unreadable_cache_says_permission(two_datasets, monkeypatch):
    monkeypatch.setattr(data.np, "load", _denied)
    with pytest.raises(DataError, match="permission denied reading the dataset cache .*tiny.npz"):
        data.load_splits(two_datasets / "tiny.npz")


def test_the_version_file_is_not_written_for_another_datasets_cache(two_datasets):
    swapped = two_datasets / "tiny.npz"
    swapped.write_bytes((two_datasets / "other.npz").read_bytes())
    with pytest.raises(DataError, match="tiny.npz holds other, not the tiny its name says; delete it"):
        data.write_version(swapped, two_datasets / "tiny.version", data.dataset_version("tiny"))
    assert not (two_datasets / "tiny.version").exists()


# --------------------------------------------------------------------------- splits held by the warm worker server
@pytest.fixture
def held(monkeypatch):
    """This process as the warm worker server: its own (empty) table of held splits, and
    files old enough to hold as soon as they are written (see the racy test)."""
    monkeypatch.setattr(data, "_HELD", {})
    monkeypatch.setattr(data, "_NOT_HELD", {})
    monkeypatch.setattr(data, "RACY_NS", -(10**12))
    return data._HELD


def _reads(monkeypatch) -> list:
    """The caches read from disk from now on (``_read_verified`` calls)."""
    calls, read = [], data._read_verified

    def counting(path):
        calls.append(path)
        return read(path)

    monkeypatch.setattr(data, "_read_verified", counting)
    return calls


def test_held_splits_equal_a_load_from_disk_without_reading_it(mirror, tmp_path, held, monkeypatch):
    path = _prepared_cache(mirror, tmp_path)
    version = path.with_suffix(data.VERSION_SUFFIX)  # what the stage rules name
    from_disk = data.load_splits(version, validation_fraction=0.2, split_seed=3)
    assert data.hold_splits(version, validation_fraction=0.2, split_seed=3)
    reads = _reads(monkeypatch)
    assert data.hold_splits(path, validation_fraction=0.2, split_seed=3) and not reads  # held already
    for parts in (data.SPLITS, ("test",), ("train", "val")):
        loaded = data.load_splits(version, validation_fraction=0.2, split_seed=3, parts=parts)
        for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
            mine, disk = getattr(loaded, name), getattr(from_disk, name)
            if name.split("_")[1] in parts:
                assert mine.dtype == disk.dtype and torch.equal(mine, disk), name
            else:
                assert mine is None
    assert not reads
    data.load_splits(path, validation_fraction=0.1, split_seed=3)  # another split: read from disk
    assert reads == [path]


@pytest.mark.parametrize("change", ["rewritten alike", "replaced by another file", "deleted"])
def test_held_splits_are_not_used_once_the_file_changed(mirror, tmp_path, held, monkeypatch, change):
    """Any write, replacement or removal of the cache since it was verified sends its jobs to
    the file itself, which they verify (a changed content stops them)."""
    path = _prepared_cache(mirror, tmp_path)
    hour_ago = time.time_ns() - 3600 * 10**9
    os.utime(path, ns=(hour_ago, hour_ago))  # a write now cannot leave its mtime as it was
    assert data.hold_splits(path)
    reads = _reads(monkeypatch)
    if change == "rewritten alike":
        path.write_bytes(path.read_bytes())
    elif change == "replaced by another file":
        _prepared_cache(mirror, tmp_path / "other").replace(path)
    else:
        path.unlink()
        with pytest.raises(DataError, match="missing"):
            data.load_splits(path)
        assert not data.hold_splits(path) and not held
        return
    assert data.load_splits(path).x_train.shape[0] == 18
    assert reads == [path]
    assert data.hold_splits(path)  # the server holds the new file's splits
    assert reads == [path, Path(os.path.realpath(path))]


def test_a_bad_cache_is_not_held_and_stops_its_jobs(mirror, tmp_path, held, monkeypatch):
    path = _prepared_cache(mirror, tmp_path)
    with np.load(path, allow_pickle=False) as cache:
        arrays = {name: cache[name].copy() for name in cache.files}
    arrays["x_test"][0, 0, 0] ^= 0x01
    np.savez(path, **arrays)
    assert not data.hold_splits(path) and not held
    reads = _reads(monkeypatch)
    assert not data.hold_splits(path) and not reads  # not read again while it is the same file
    with pytest.raises(DataError, match=r"\(x_test changed\)"):
        data.load_splits(path)
    assert not data.hold_splits(tmp_path / "absent.npz")


def test_a_cache_written_in_the_last_clock_tick_is_not_held_yet(mirror, tmp_path, held, monkeypatch):
    """A write within the filesystem's timestamp resolution of the verification could leave
    the file's identity unchanged: such a file is held only once it is older."""
    monkeypatch.setattr(data, "RACY_NS", 2_000_000_000)
    path = _prepared_cache(mirror, tmp_path)
    assert not data.hold_splits(path) and not held
    monkeypatch.setattr(data, "RACY_NS", 0)
    assert data.hold_splits(path) and held
