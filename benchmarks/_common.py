"""Helpers shared by the benchmark scripts (not part of the minarch package)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))


def dataset_path(dataset: str) -> Path:
    """The workflow's verified cache if present, else the mirror folder ($MINARCH_DATA_MIRROR,
    then the shared mirror beside the repository)."""
    cache = REPO / "resources" / "datasets" / f"{dataset}.npz"
    if cache.is_file():
        return cache
    folder = mirror_folder()
    if folder is not None:
        return folder / f"{dataset}.npz"
    raise SystemExit(f"no {dataset}.npz: run the prepare_dataset rule or set MINARCH_DATA_MIRROR")


def mirror_folder() -> Path | None:
    for candidate in (os.environ.get("MINARCH_DATA_MIRROR"), str(REPO.parent / "shared" / "data")):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def emit(text: str, output: str | None) -> None:
    """Print a report and, when asked, write it to ``output`` (folders created)."""
    print(text)
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text + "\n")
