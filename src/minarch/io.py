"""Atomic output files and the provenance columns every Parquet row carries."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

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


def versions() -> dict[str, str]:
    import torch

    return {"minarch_version": minarch.__version__, "torch_version": torch.__version__}


def read_parquets(paths) -> pd.DataFrame:
    frames = [pd.read_parquet(path) for path in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


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
