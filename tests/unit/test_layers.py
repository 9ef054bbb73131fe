"""The import contracts of pyproject.toml (``lint-imports`` checks the import graph; here, what
a forbidden import graph cannot see: imports inside functions that must stay unexecuted)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
TORCH_FREE = next(c for c in CONTRACTS if c["type"] == "forbidden" and "torch" in c["forbidden_modules"])


def loaded_after_import(modules: list[str]) -> list[str]:
    code = f"import sys, {', '.join(modules)}; print(' '.join(m for m in ('torch', 'torchvision') if m in sys.modules))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()


def test_torch_free_modules_and_those_importing_torch_lazily_load_no_torch():
    lazy = sorted({ignored.split(" -> ")[0] for ignored in TORCH_FREE["ignore_imports"]})
    # the contract's exceptions: imports inside functions
    assert lazy == ["minarch.config", "minarch.data", "minarch.io"]
    assert loaded_after_import([*TORCH_FREE["source_modules"], *lazy]) == []


def test_the_check_itself_sees_torch():
    assert loaded_after_import(["minarch.models"]) == ["torch"]
