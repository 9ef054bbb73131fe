"""Atomic output files and the provenance columns every Parquet row carries."""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

import minarch


class CheckpointError(RuntimeError):
    """A saved model file that cannot be read back (defined here, torch-free, so that job
    scripts can report it without importing torch)."""


class OutputError(RuntimeError):
    """An output that cannot be written (a full disk or quota), in one line naming it."""


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def disk_full(error: BaseException, folder: str | os.PathLike | None = None) -> bool:
    """Whether ``error`` (or an error it was raised from or during) is a full disk or quota.
    torch.save reports one as ``RuntimeError: [enforce fail at inline_container.cc:...]
    unexpected pos ...`` with the OSError only in its context, or with no errno at all when it
    writes to a path: then a full ``folder`` (under 1 MiB free) decides."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
            return True
        text = str(error)
        if "No space left on device" in text or "Disk quota exceeded" in text:
            return True
        if folder is not None and "inline_container" in text:
            with contextlib.suppress(OSError):
                if shutil.disk_usage(folder).free < 1 << 20:
                    return True
        error = error.__cause__ or error.__context__
    return False


def disk_full_error(destination: str | os.PathLike) -> OutputError:
    folder = Path(destination).parent
    return OutputError(f"disk full while writing {destination}: free space on {folder} (or raise the quota) and rerun")


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
    except Exception as error:  # a full disk: one line naming the file, whoever wrote it
        if disk_full(error, destination.parent):
            raise disk_full_error(destination) from None
        raise
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


SOURCE_HASH = "minarch_source_hash"  # rows made before code versions were recorded carry this instead
CODE_VERSION = "code_version"


@functools.cache
def source_hash(package: Path = Path(minarch.__file__).resolve().parent) -> str:
    """A short SHA-256 over the package's ``.py`` files (path and contents, in path order):
    whether two installations hold the same sources (``jobs.check_checkout``). Rows record
    ``provenance.code_version`` instead, which comments and formatting do not change."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py"), key=lambda p: p.relative_to(package).as_posix()):
        relative = path.relative_to(package).as_posix().encode()
        content = path.read_bytes()
        # lengths first, so that no two different file sets hash alike
        digest.update(b"%d %d " % (len(relative), len(content)) + relative + content)
    return digest.hexdigest()[:12]


def versions(stage: str | None = None) -> dict[str, str]:
    """The versions a row of ``stage`` records: the package's, the code version of the stage
    (``provenance.code_version``: the modules the stage runs, comments and docstrings aside;
    without a stage, that of every per-seed stage together, today the same) and torch's."""
    import torch

    from minarch import provenance

    code = provenance.code_version(stage) if stage else provenance.run_code_version()
    return {"minarch_version": minarch.__version__, CODE_VERSION: code, "torch_version": torch.__version__}


def read_parquet(path: str | os.PathLike) -> pd.DataFrame:
    """One Parquet file; a missing, truncated or junk file gives one line naming it and how to
    rebuild it (pyarrow's own error is a traceback several lines long)."""
    try:
        return pd.read_parquet(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; rerun the workflow to rebuild it") from None
    except PermissionError:
        raise CheckpointError(permission_message(path)) from None
    except Exception as error:  # ArrowInvalid, OSError, ...: all mean a damaged file
        raise CheckpointError(
            f"{path} is corrupt or not a Parquet file ({type(error).__name__}); delete it and rerun the "
            "workflow to rebuild it"
        ) from None


def read_parquets(paths) -> pd.DataFrame:
    frames = [read_parquet(path) for path in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def permission_message(path: str | os.PathLike, what: str = "") -> str:
    """One line for a file or folder this user may not read."""
    return (
        f"permission denied reading {what + ' ' if what else ''}{path}: this user may not read it (or the folder "
        "holding it); make it readable (chmod/chown) or point to a readable copy"
    )


HTML_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:1em}} table{{border-collapse:collapse;font-size:13px}}
th,td{{border:1px solid #ccc;padding:3px 7px;text-align:right}} th{{background:#eee}}
td:nth-child(-n+3){{text-align:left}}</style></head>
<body><h3>{title}</h3>{notes}{table}</body></html>
"""


def write_html_table(
    frame: pd.DataFrame, destination: str | os.PathLike, title: str, notes: list[str] | tuple[str, ...] = ()
) -> None:
    """A self-contained HTML page with one table, and ``notes`` (lines of text) above it: the
    Snakemake report shows HTML, while CSV and Parquet only get a download button there."""
    import html

    table = frame.to_html(index=False, na_rep="", float_format=lambda value: f"{value:.4g}", border=0)
    shown = "".join(f"<p>{html.escape(line)}</p>" for line in notes)
    write_text(HTML_PAGE.format(title=title, notes=shown, table=table), destination)
