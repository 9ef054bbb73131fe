"""What both workflow test files share (pytest puts this folder on sys.path): the checkout,
the data mirror, and reading Snakemake's dry-run output."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# MINARCH_DATA_MIRROR, else ../shared/data beside the checkout
MIRROR = Path(os.environ.get("MINARCH_DATA_MIRROR") or REPO.parent / "shared" / "data")


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from a dry run's 'Job stats' table."""
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}
