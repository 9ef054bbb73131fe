"""Datasets: a verified uint8 cache per dataset, and normalised in-memory tensors for training.

The cache (``resources/datasets/{dataset}.npz``) holds ``x_train, y_train, x_test, y_test`` as
uint8 arrays (images NHWC for CIFAR-10, NHW for the 28x28 sets). It is made from a local mirror
folder when one is configured, else downloaded from the official sources with torchvision (a
dataset registered with a ``loader``, ``minarch.registry.Dataset``, is made by it instead), and
its content checksums are verified either way. The cache records them (array ``sha256``) and
the dataset it holds (array ``dataset``), and every job that loads it checks its arrays against
them and the cache against the dataset its file is named after, so a cache changed after it
was made, or another dataset's cache copied onto its name, stops the job instead of training
on it. In a run with warm workers (``local.warm_workers``) the server does this once per cache
for the jobs it forks (``hold_splits``), which use its verified splits only while the file is
unchanged.

Beside the cache, ``{dataset}.version`` (rule dataset_version) names the content version of
the cache (``dataset_version``). The stage jobs take that small file as their (ancient) input
and the version as a parameter: a cache rebuilt with the same content, after it was deleted
say, reruns nothing, while another content (CIFAR-10 from the mirror instead of the official
download) reruns every job that read it.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from minarch import registry
from minarch.io import atomic_path, permission_message, write_text
from minarch.registry import ARRAYS, Dataset

if TYPE_CHECKING:  # torch is imported where tensors are made: the Snakefile imports this module
    import torch

MIRROR_ENV = "MINARCH_DATA_MIRROR"
CHECKSUMS_KEY = "sha256"  # the cache's recorded content checksums, one per array in ARRAYS order
NAME_KEY = "dataset"  # the dataset the cache holds, recorded when it was made
VERSION_SUFFIX = ".version"  # resources/datasets/{dataset}.version beside the cache
# seconds a download may wait for the network to answer (torchvision's urllib calls have no
# timeout, so a network that accepts connections but never answers would hang the job forever)
DOWNLOAD_TIMEOUT_S = 30


class DataError(RuntimeError):
    """A dataset problem, reported in one line that says what to do."""


_MNIST = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
_FASHION_MNIST = {
    "x_train": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
    "y_train": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
    "x_test": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
    "y_test": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
}
# The offline mirror's CIFAR-10 holds the official images in a partly different order (see
# shared/data/README.md), so its checksums differ from an official download's. The official
# download's archive is verified by torchvision's own MD5 check; its content checksums are
# added here once measured on a machine with internet.
_CIFAR10_MIRROR = {
    "x_train": "c178a2cd7bf7f3c5ea91040132dfb7cace63c35966228003558d40570b45dbe1",
    "y_train": "2b7cd2f24487317614016b72ffd53071c3062f592f0eb300c18a770d41ae1253",
    "x_test": "d1246028f2cd1339d882924011f41ff5058e70f2c72cfc4b7ae5f00ba1f8a6ec",
    "y_test": "bcb0228c70fcd46ed2fcaa2447a1b21141f48d8054ea92b602596e678bf60b99",
}

# The built-in datasets, one registry entry each (``minarch.registry``, which imports this
# module on its first lookup). MNIST and Fashion-MNIST stand in for each other in the cost
# model (``similar``).
_SPLITS = {"train_images": 60000, "test_images": 10000}
registry.register_dataset(
    Dataset("mnist", "MNIST", (1, 28, 28), (_MNIST,), "MNIST", similar="fashion_mnist", **_SPLITS)
)
registry.register_dataset(
    Dataset("fashion_mnist", "F-MNIST", (1, 28, 28), (_FASHION_MNIST,), "FashionMNIST", similar="mnist", **_SPLITS)
)
registry.register_dataset(
    Dataset(
        "cifar10",
        "CIFAR-10",
        (3, 32, 32),
        (_CIFAR10_MIRROR,),
        "CIFAR10",
        unlisted_download=True,
        train_images=50000,
        test_images=10000,
    )
)


def info(dataset: str) -> Dataset:
    try:
        return registry.datasets()[dataset]
    except KeyError:
        raise DataError(f"unknown dataset {dataset!r}; known: {', '.join(registry.datasets())}") from None


def content_checksums(arrays: dict[str, np.ndarray]) -> dict[str, str]:
    # hashed through the buffer protocol: tobytes() would copy each array first (0.08 s for CIFAR-10)
    return {name: hashlib.sha256(np.ascontiguousarray(arrays[name]).data).hexdigest() for name in ARRAYS}


def verify(dataset: str, arrays: dict[str, np.ndarray], source: str, official_download: bool = False) -> dict[str, str]:
    """Check shapes, dtypes and content checksums; raise DataError naming the first mismatch.
    Returns the arrays' content checksums (recorded in the cache)."""
    meta = info(dataset)
    for name in ARRAYS:
        if name not in arrays:
            raise DataError(f"{source}: array {name!r} missing from {dataset}")
        if arrays[name].dtype != np.uint8:
            raise DataError(f"{source}: {dataset} {name} has dtype {arrays[name].dtype}, expected uint8")
    for name, shape in meta.expected_shapes.items():
        if arrays[name].shape != shape:
            raise DataError(f"{source}: {dataset} {name} has shape {arrays[name].shape}, expected {shape}")
    found = content_checksums(arrays)
    if official_download and meta.unlisted_download:
        return found  # archive MD5 already checked by torchvision; see _CIFAR10_MIRROR
    for expected in meta.checksums:
        if found == expected:
            return found
    bad = [name for name in ARRAYS if all(found[name] != e[name] for e in meta.checksums)]
    raise DataError(
        f"{source}: checksum mismatch for {dataset} ({', '.join(bad)}): the file is corrupt or not the "
        "official data; delete it and fetch it again"
    )


def mirror_folder(configured: str | None) -> Path | None:
    """The mirror folder: the environment variable wins over the config key ``data.mirror``."""
    value = os.environ.get(MIRROR_ENV) or configured
    return Path(value).expanduser() if value else None


def dataset_version(dataset: str, mirror: str | None = None) -> str:
    """The content a cache of ``dataset`` made from the configured source holds, as a short
    hash, known before the cache is made and without reading it: what the stage jobs take as
    a parameter. It names no path: every mirror folder, and the official download, give the
    same version where they give the listed content (MNIST, Fashion-MNIST; verified when the
    cache is made), and different ones where they do not (CIFAR-10: the mirror holds another
    image order than the official download)."""
    meta = info(dataset)
    if mirror_folder(mirror) is None and meta.unlisted_download:
        token = f"{dataset}: the official download, its archive MD5 checked by torchvision"
    else:
        token = json.dumps([dataset, sorted(sorted(checksums.items()) for checksums in meta.checksums)])
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def cache_path(path: str | os.PathLike) -> Path:
    """The dataset cache a path names: the cache itself, or the ``.version`` file beside it
    (the stage rules' input)."""
    path = Path(path)
    return path.with_suffix(".npz") if path.suffix == VERSION_SUFFIX else path


def _mirror_permission(path: Path) -> DataError:
    return DataError(permission_message(path, "the data mirror") + f" (data.mirror or {MIRROR_ENV})")


def _one_line(error: Exception) -> str:
    """An exception as one line: torchvision's download error lists every URL tried on its own line."""
    return " ".join(f"{type(error).__name__}: {error}".split())


def read_npz(path: Path, dataset: str) -> dict[str, np.ndarray]:
    try:
        present = path.is_file()
    except PermissionError:  # a folder this user may not search
        raise _mirror_permission(path.parent) from None
    if not present:
        raise DataError(
            f"data mirror has no {path.name}: expected {path} (set data.mirror or {MIRROR_ENV} to a folder "
            f"holding {', '.join(f'{d}.npz' for d, meta in registry.datasets().items() if meta.loader is None)})"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except PermissionError:
        raise _mirror_permission(path) from None
    except Exception as error:  # zipfile, EOF, bad header: all mean a damaged file
        raise DataError(f"{path}: cannot read {dataset} ({_one_line(error)}); the file is corrupt") from None


def download(dataset: str, root: Path) -> dict[str, np.ndarray]:
    """Official files through torchvision (which checks the archives' MD5), as uint8 arrays."""
    import torchvision.datasets

    name = info(dataset).torchvision_class
    if name is None:
        raise DataError(f"{dataset} has no official download; point data.mirror at a folder holding {dataset}.npz")
    cls = getattr(torchvision.datasets, name)
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        splits = {train: cls(str(root), train=train, download=True) for train in (True, False)}
    except Exception as error:
        raise DataError(
            f"could not download {dataset} ({_one_line(error)}); offline? point data.mirror in the "
            f"config, or the {MIRROR_ENV} environment variable, at a folder holding {dataset}.npz"
        ) from None
    finally:
        socket.setdefaulttimeout(previous_timeout)
    arrays = {}
    for train, part in ((True, "train"), (False, "test")):
        data = splits[train].data
        arrays[f"x_{part}"] = np.asarray(data.numpy() if hasattr(data, "numpy") else data, dtype=np.uint8)
        targets = splits[train].targets
        arrays[f"y_{part}"] = np.asarray(targets.numpy() if hasattr(targets, "numpy") else targets, dtype=np.uint8)
    return arrays


def prepare(dataset: str, destination: Path, mirror: str | None = None, download_root: Path | None = None) -> str:
    """Write the verified cache for ``dataset``; returns a line saying where it came from."""
    meta = info(dataset)
    folder = mirror_folder(mirror)
    if meta.loader is not None:
        source = f"its loader {meta.loader.__module__}.{meta.loader.__qualname__}"
        arrays = meta.loader()
        checksums = verify(dataset, arrays, source)
    elif folder is not None:
        try:
            exists = folder.is_dir()
        except PermissionError:  # a folder above it that this user may not search
            raise _mirror_permission(folder) from None
        if not exists:
            raise DataError(f"data mirror folder {folder} does not exist (from data.mirror or {MIRROR_ENV})")
        source = folder / f"{dataset}.npz"
        arrays = read_npz(source, dataset)
        checksums = verify(dataset, arrays, str(source))
    else:
        root = download_root or Path(destination).parent / "downloads"
        source = f"official download via torchvision into {root}"
        arrays = download(dataset, root)
        checksums = verify(dataset, arrays, source, official_download=True)
    recorded = {CHECKSUMS_KEY: np.array([checksums[name] for name in ARRAYS]), NAME_KEY: np.array(dataset)}
    with atomic_path(destination) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **{name: arrays[name] for name in ARRAYS}, **recorded)
    return f"{dataset}: verified {', '.join(ARRAYS)} from {source}"


def cache_record(path: str | os.PathLike) -> tuple[str | None, list[str] | None]:
    """The dataset name and the content checksums a cache recorded when it was made (None
    where it recorded none), without reading its arrays."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            name = str(archive[NAME_KEY]) if NAME_KEY in archive.files else None
            recorded = archive[CHECKSUMS_KEY].tolist() if CHECKSUMS_KEY in archive.files else None
    except FileNotFoundError:
        raise DataError(f"dataset cache {path} is missing; run the prepare_dataset rule") from None
    except PermissionError:
        raise DataError(permission_message(path, "the dataset cache")) from None
    except Exception as error:
        raise DataError(
            f"dataset cache {path} is unreadable ({type(error).__name__}); delete it and rerun to rebuild it"
        ) from None
    return name, recorded


def write_version(cache: str | os.PathLike, destination: str | os.PathLike, version: str) -> str:
    """The ``.version`` file of a cache just made: the dataset, its content version and its
    recorded checksums (the cache's own record: a wrong cache is stopped where it is read)."""
    cache = Path(cache)
    dataset = cache.stem
    name, recorded = cache_record(cache)
    if name is not None and name != dataset:
        raise DataError(
            f"dataset cache {cache} holds {name}, not the {dataset} its name says; delete it and rerun to rebuild it"
        )
    lines = [f"dataset: {dataset}", f"version: {version}"]
    lines += [f"{array}: {checksum}" for array, checksum in zip(ARRAYS, recorded or [])]
    write_text("\n".join(lines) + "\n", destination)
    return f"{dataset}: content version {version}"


SPLITS = ("train", "val", "test")


@dataclass
class Splits:
    """Normalised float32 NCHW tensors, held in memory for the whole run; a split that was not
    loaded (``load_splits(parts=...)``) is None, so that a use of it fails instead of seeing
    no images."""

    x_train: torch.Tensor | None
    y_train: torch.Tensor | None
    x_val: torch.Tensor | None
    y_val: torch.Tensor | None
    x_test: torch.Tensor | None
    y_test: torch.Tensor | None

    @property
    def loaded(self) -> torch.Tensor:
        """The images of the first split that was loaded (for their shape and device)."""
        return next(x for x in (self.x_train, self.x_val, self.x_test) if x is not None)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.loaded.shape[1:])


def validation_indices(n_train: int, fraction: float, split_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The same train/validation split for every run of a dataset (fixed split seed)."""
    order = np.random.default_rng(split_seed).permutation(n_train)
    n_val = int(round(fraction * n_train))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def normalised_array(images: np.ndarray) -> np.ndarray:
    """uint8 NHW or NHWC -> float32 NCHW (C-contiguous) with channel-wise mean 0.5, std 0.5
    (paper), in numpy: the warm worker server (``hold_splits``) runs no torch op."""
    nchw = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
    # (x / 255 - 0.5) / 0.5 as x / 127.5 - 1: scaling by 2 is exact in float, so the two give
    # the same floats (tests/unit/test_data.py checks all 256 bytes). numpy's passes take
    # 0.06 s for MNIST's training images, torch's 0.11 s.
    out = np.empty(nchw.shape, dtype=np.float32)
    out[...] = nchw
    np.divide(out, np.float32(127.5), out=out)
    return np.subtract(out, np.float32(1.0), out=out)


def normalise(images: np.ndarray) -> torch.Tensor:
    """``normalised_array`` as a tensor (sharing its memory)."""
    import torch

    return torch.from_numpy(normalised_array(images))


def verify_cache(
    path: Path, arrays: dict[str, np.ndarray], recorded: list[str] | None, recorded_name: str | None = None
) -> None:
    """The cache's arrays against the content checksums recorded when it was made (SHA-256 of
    the bytes: 0.07 s for MNIST's 55 MB, 0.2 s for CIFAR-10's 184 MB on the development
    machine, against seconds of imports per job), and against the dataset its file is named
    after (``resources/datasets/{dataset}.npz``): the dataset name it recorded, and the known
    contents of every dataset (another dataset's copied onto its name is stopped). A cache
    made before checksums were recorded (no ``sha256`` array) is accepted only if it holds a
    known content of its dataset; one whose content is not listed (CIFAR-10 downloaded
    officially) only if it records its name."""
    dataset = Path(path).stem
    found = content_checksums(arrays)
    if recorded is not None:
        expected = dict(zip(ARRAYS, recorded))
        changed = [name for name in ARRAYS if found[name] != expected.get(name)]
        if changed:
            raise DataError(
                f"dataset cache {path} differs from the content recorded when it was made "
                f"({', '.join(changed)} changed); delete it and rerun to rebuild it"
            )
    if recorded_name is not None and recorded_name != dataset:
        raise DataError(
            f"dataset cache {path} holds {recorded_name}, not the {dataset} its name says; delete it and rerun "
            "to rebuild it"
        )
    other = [name for name, meta in registry.datasets().items() if name != dataset and found in meta.checksums]
    if other:
        raise DataError(
            f"dataset cache {path} holds the {other[0]} data, not the {dataset} its name says; delete it and "
            "rerun to rebuild it"
        )
    meta = registry.datasets().get(dataset)
    if meta is not None and found in meta.checksums:
        return
    if recorded is None:
        raise DataError(
            f"dataset cache {path} records no content checksums (made by an older minarch) and "
            f"is not a known {dataset} content; delete it and rerun to rebuild it"
        )
    shapes = meta.expected_shapes if meta is not None else {}
    wrong_shape = [name for name, shape in shapes.items() if arrays[name].shape != shape]
    if recorded_name is None or (meta is not None and not meta.unlisted_download) or wrong_shape:
        raise DataError(
            f"dataset cache {path} is not a known {dataset} content"
            f"{' (shape of ' + ', '.join(wrong_shape) + ')' if wrong_shape else ''}; delete it and rerun to "
            "rebuild it"
        )


def _read_verified(path: Path) -> dict[str, np.ndarray]:
    """The cache's arrays, verified (``verify_cache``); DataError when missing, unreadable or wrong."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in ARRAYS}
            recorded = archive[CHECKSUMS_KEY].tolist() if CHECKSUMS_KEY in archive.files else None
            name = str(archive[NAME_KEY]) if NAME_KEY in archive.files else None
    except FileNotFoundError:
        raise DataError(
            f"dataset cache {path} is missing; rebuild it with `snakemake --cores 1 {path}` (or run the whole workflow)"
        ) from None
    except PermissionError:
        raise DataError(permission_message(path, "the dataset cache")) from None
    except Exception as error:
        raise DataError(f"dataset cache {path} is unreadable ({type(error).__name__}); delete it to rebuild") from None
    verify_cache(path, arrays, recorded, name)
    return arrays


def _split_arrays(
    arrays: dict[str, np.ndarray], validation_fraction: float, split_seed: int, parts: tuple[str, ...]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Images (normalised) and labels (int64) of each split in ``parts``."""
    train_idx, val_idx = validation_indices(len(arrays["y_train"]), validation_fraction, split_seed)
    # split the uint8 images first: normalising after the split copies a quarter of the bytes;
    # a split not asked for is not even cut out
    sources = {"train": ("train", train_idx), "val": ("train", val_idx), "test": ("test", None)}
    out = {}
    for part in parts:
        array, rows = sources[part]
        images, labels = arrays[f"x_{array}"], arrays[f"y_{array}"]
        if rows is not None:
            images, labels = images[rows], labels[rows]
        out[part] = (normalised_array(images), labels.astype(np.int64))
    return out


class _Held(NamedTuple):
    """A cache's splits as ``hold_splits`` verified them, from the file of this ``identity``."""

    identity: tuple[int, ...]
    validation_fraction: float
    split_seed: int
    splits: dict[str, tuple[np.ndarray, np.ndarray]]

    def serves(self, validation_fraction: float, split_seed: int) -> bool:
        return (self.validation_fraction, self.split_seed) == (validation_fraction, split_seed)


# The warm worker server's verified splits (``hold_splits``), by resolved cache path, which its
# forked jobs inherit. Empty in any other process.
_HELD: dict[str, _Held] = {}
_NOT_HELD: dict[str, tuple[int, ...]] = {}  # caches that failed verification, by identity
# A file changed less than this before it is verified is not held yet: a write in the same
# tick of the filesystem's clock would leave its identity as it was (git's "racy" files).
RACY_NS = 2_000_000_000


def _identity(path: str) -> tuple[int, ...]:
    """What changes when a file is written, replaced or copied over (device, inode, size,
    modification and status-change times): a file with the same identity has the content it
    had, once its times are older than the clock's tick (``RACY_NS``)."""
    stat = os.stat(path)
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def hold_splits(path: str | os.PathLike, validation_fraction: float = 0.1, split_seed: int = 0) -> bool:
    """Called by the warm worker server (``minarch.warm``, ``local.warm_workers``) before it
    forks each job: read, verify and split the cache at ``path`` once, and keep its splits
    in this process, so that the jobs forked from it (``load_splits``) skip reading,
    verifying and normalising it. Whether the splits are held. Cheap (one ``stat``) once
    they are, or while the cache does not exist yet; a cache that fails verification is not
    held (its jobs then load it themselves and stop with its error). numpy only: the server
    runs no torch op."""
    key = os.path.realpath(cache_path(path))
    try:
        before = _identity(key)
    except OSError:
        _HELD.pop(key, None)
        return False
    held = _HELD.get(key)
    if held is not None and held.identity == before and held.serves(validation_fraction, split_seed):
        return True
    _HELD.pop(key, None)
    if _NOT_HELD.get(key) == before or time.time_ns() - max(before[3], before[4]) < RACY_NS:
        return False
    try:
        arrays = _read_verified(Path(key))
        splits = _split_arrays(arrays, validation_fraction, split_seed, SPLITS)
    except DataError:
        _NOT_HELD[key] = before
        return False
    if _identity(key) != before:  # written while it was read: the next call reads it again
        return False
    _HELD[key] = _Held(before, validation_fraction, split_seed, splits)
    return True


def _held_splits(
    path: Path, validation_fraction: float, split_seed: int
) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """The splits ``hold_splits`` keeps for this cache and split, if the file is still the one
    they were verified from."""
    key = os.path.realpath(path)
    held = _HELD.get(key)
    if held is None or not held.serves(validation_fraction, split_seed):
        return None
    try:
        return held.splits if _identity(key) == held.identity else None
    except OSError:
        return None


def load_splits(
    path: Path,
    validation_fraction: float = 0.1,
    split_seed: int = 0,
    transform: Callable | None = None,
    parts: tuple[str, ...] = SPLITS,
) -> Splits:
    """The cache's training, validation and test splits, or only those ``parts`` names (the
    others None: a prune sweep without fine-tuning needs only the test set, and normalising
    and resizing the rest would cost it more than its evaluations on MNIST). The whole cache
    is verified either way: here, or, in a job forked from the warm worker server, by the
    server (``hold_splits``) from the file that is still at ``path``."""
    import torch

    unknown = set(parts) - set(SPLITS)
    if unknown or not parts:
        raise ValueError(f"splits are some of {SPLITS}, not {parts}")

    path = cache_path(path)
    arrays = _held_splits(path, validation_fraction, split_seed)
    if arrays is None:
        arrays = _split_arrays(_read_verified(path), validation_fraction, split_seed, parts)
    transform = transform or (lambda images: images)
    tensors: list[torch.Tensor | None] = []
    for part in SPLITS:
        if part not in parts:
            tensors += [None, None]
            continue
        images, labels = arrays[part]
        tensors += [transform(torch.from_numpy(images)), torch.from_numpy(labels)]
    return Splits(*tensors)
