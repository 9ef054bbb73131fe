"""Atomic output files and the provenance columns every Parquet row carries."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

import minarch


class CheckpointError(RuntimeError):
    """A saved model file that cannot be read back (defined here, torch-free, so that job
    scripts can report it without importing torch)."""


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it into place only on success,
    so an interrupted job never leaves a file that looks finished."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    for leftover in destination.parent.glob(f".{destination.name}.*.tmp"):  # from a killed job
        leftover.unlink(missing_ok=True)
    handle, tmp = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".tmp")
    os.close(handle)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; results are shared on clusters
    try:
        yield Path(tmp)
        os.replace(tmp, destination)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_parquet(frame: pd.DataFrame, destination: str | os.PathLike) -> None:
    with atomic_path(destination) as tmp:
        frame.to_parquet(tmp, index=False)


def write_text(text: str, destination: str | os.PathLike) -> None:
    with atomic_path(destination) as tmp:
        Path(tmp).write_text(text)


SOURCE_HASH = "minarch_source_hash"
UNRECORDED = "unrecorded"  # rows written before the source hash was recorded


@functools.cache
def source_hash(package: Path = Path(minarch.__file__).resolve().parent) -> str:
    """A short SHA-256 over the package's ``.py`` files (path and contents, in path order):
    the version number stays the same while the code changes, so rows record this too."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py"), key=lambda p: p.relative_to(package).as_posix()):
        relative = path.relative_to(package).as_posix().encode()
        content = path.read_bytes()
        # lengths first, so that no two different file sets hash alike
        digest.update(b"%d %d " % (len(relative), len(content)) + relative + content)
    return digest.hexdigest()[:12]


def versions() -> dict[str, str]:
    import torch

    return {"minarch_version": minarch.__version__, SOURCE_HASH: source_hash(), "torch_version": torch.__version__}


def read_parquet(path: str | os.PathLike) -> pd.DataFrame:
    """One Parquet file; a missing, truncated or junk file gives one line naming it and how to
    rebuild it (pyarrow's own error is a traceback several lines long)."""
    try:
        return pd.read_parquet(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; rerun the workflow to rebuild it") from None
    except Exception as error:  # ArrowInvalid, OSError, ...: all mean a damaged file
        raise CheckpointError(
            f"{path} is corrupt or not a Parquet file ({type(error).__name__}); delete it and rerun the "
            "workflow to rebuild it"
        ) from None


def read_parquets(paths) -> pd.DataFrame:
    frames = [read_parquet(path) for path in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def mixed_code_warning(*frames: pd.DataFrame | None) -> str | None:
    """One line when the rows of ``frames`` were made by different versions of the code
    (different ``minarch_source_hash``; rows without one count as "unrecorded"), else None."""
    counts: Counter = Counter()
    for frame in frames:
        if frame is None or frame.empty:
            continue
        if SOURCE_HASH in frame.columns:
            counts.update(frame[SOURCE_HASH].fillna(UNRECORDED).astype(str))
        else:
            counts[UNRECORDED] += len(frame)
    if len(counts) <= 1:
        return None
    rows = ", ".join(f"{code}: {n} row{'' if n == 1 else 's'}" for code, n in counts.most_common())
    return (
        f"these results combine rows made by {len(counts)} different versions of the minarch code "
        f"({SOURCE_HASH} {rows}); rerun with --forceall for results of one version"
    )


HTML_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:1em}} table{{border-collapse:collapse;font-size:13px}}
th,td{{border:1px solid #ccc;padding:3px 7px;text-align:right}} th{{background:#eee}}
td:nth-child(-n+3){{text-align:left}}</style></head>
<body><h3>{title}</h3>{table}</body></html>
"""


def write_html_table(frame: pd.DataFrame, destination: str | os.PathLike, title: str) -> None:
    """A self-contained HTML page with one table: the Snakemake report shows HTML, while
    CSV and Parquet only get a download button there."""
    table = frame.to_html(index=False, na_rep="", float_format=lambda value: f"{value:.4g}", border=0)
    write_text(HTML_PAGE.format(title=title, table=table), destination)
