"""Which code made a result: a version of the package's code per stage that changes only with
code that can change what the stage computes.

Snakemake's ``code`` rerun trigger covers a rule's own ``script:`` file, not the modules it
imports. Each stage rule therefore passes ``code_version(stage)`` as a parameter, so a change of
the modules a stage runs marks exactly that stage's jobs as out of date (``snakemake -n`` names
"params changed"), and every row records the version it was made with.

The version hashes, for every ``minarch`` module the stage's entry modules import (directly or
through others, imports inside functions included), the module's abstract syntax tree with
docstrings removed: comments, docstrings, blank lines and formatting do not change it; any
change of a statement, name or constant does. A module outside the closure (the regime rules
for a training stage, say) does not count. Torch-free and fast (parsing ~30 small modules).
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = "minarch"
PACKAGE_DIR = Path(__file__).resolve().parent

# What each stage's job script imports from the package; the stage's code is everything these
# import in turn. The aggregates' entries are the analysis modules their scripts call.
STAGE_ENTRIES: dict[str, tuple[str, ...]] = {
    "train": ("minarch.stages", "minarch.models", "minarch.io", "minarch.jobs", "minarch.settings"),
    "prune": ("minarch.stages", "minarch.models", "minarch.io", "minarch.jobs", "minarch.settings"),
    "qat": ("minarch.stages", "minarch.models", "minarch.io", "minarch.jobs", "minarch.settings"),
    # the aggregates (workflow/scripts/<name>.py; tests/unit/test_provenance_code.py checks that
    # each entry covers what its script imports)
    "collect": ("minarch.io", "minarch.jobs", "minarch.origin"),
    "regimes": ("minarch.io", "minarch.jobs", "minarch.origin", "minarch.regimes"),
    "table1": (
        "minarch.confidence",
        "minarch.io",
        "minarch.jobs",
        "minarch.origin",
        "minarch.regimes",
        "minarch.tables",
    ),
    "quantization_gaps": (
        "minarch.confidence",
        "minarch.io",
        "minarch.jobs",
        "minarch.origin",
        "minarch.regimes",
        "minarch.tables",
    ),
    "topology_sweep": ("minarch.io", "minarch.jobs", "minarch.origin", "minarch.phase1", "minarch.regimes"),
    "paper_comparison": ("minarch.comparison", "minarch.io", "minarch.jobs", "minarch.origin"),
    "family_figure": (
        "minarch.confidence",
        "minarch.io",
        "minarch.jobs",
        "minarch.origin",
        "minarch.plots",
        "minarch.regimes",
    ),
    "topology_figure": ("minarch.io", "minarch.jobs", "minarch.plots"),
}
# The stages whose jobs write the per-seed rows (``io.versions``).
RUN_STAGES = ("train", "prune", "qat")
# This module computes versions, not results: a change here changes no result (a change of
# the hashing itself changes every version anyway), so it is in no stage's code; otherwise
# adding an aggregate's entry above would mark every training job out of date.
# Likewise the bookkeeping of blocks of seeds (records: stamps and block records; blockjob: which
# seeds of a block still need work): it decides what runs, not what a run computes; a changed
# stamp formula only makes jobs recheck their seeds. And the warm workers (local.warm_workers),
# which decide which process runs a job, not what it computes (bit-identical either way:
# tests/workflow/test_warm_workers.py).
NOT_CODE = frozenset({f"{PACKAGE}.provenance", f"{PACKAGE}.records", f"{PACKAGE}.blockjob", f"{PACKAGE}.warm"})
# The modules the registry imports by name on its first lookup (``minarch.registry.BUILTIN``):
# the built-in families and datasets are part of the code of every stage that reads it. (A
# plugin's module, outside the package, is in no version.)
IMPORTED_BY_NAME = {f"{PACKAGE}.registry": (f"{PACKAGE}.families", f"{PACKAGE}.data")}


def _module_path(name: str, package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The source file of package module ``name`` (``minarch.x`` or ``minarch``), or None."""
    parts = name.split(".")[1:]
    if not parts:
        return package_dir / "__init__.py"
    base = package_dir.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return tree


def _imported_modules(tree: ast.AST, package: str = PACKAGE) -> set[str]:
    """Package modules named by any import in ``tree`` (``from minarch import x`` gives
    ``minarch.x`` when x is a module, else ``minarch``)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == package)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != package:
                continue
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _normalized(path: Path) -> tuple[str, frozenset[str]]:
    """The module's docstring-free AST as text, and the package modules it imports."""
    stat = path.stat()
    return _parsed(path, stat.st_mtime_ns, stat.st_size)


@functools.cache  # keyed on the file's modification time and size: an edited file is parsed again
def _parsed(path: Path, _mtime_ns: int, _size: int) -> tuple[str, frozenset[str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    imports = frozenset(_imported_modules(tree))
    return ast.dump(_strip_docstrings(tree), annotate_fields=False), imports


def closure(entries: tuple[str, ...], package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Every package module reachable from ``entries`` through imports, with its file."""
    found: dict[str, Path] = {}
    pending = list(entries)
    while pending:
        name = pending.pop()
        if name in found or name in NOT_CODE:
            continue
        path = _module_path(name, package_dir)
        if path is None:  # a name imported from a module, not a module
            continue
        found[name] = path
        pending.extend(_normalized(path)[1])
        pending.extend(IMPORTED_BY_NAME.get(name, ()))
    return found


def code_version(stage: str, package_dir: Path = PACKAGE_DIR) -> str:
    """A short hash of the code that stage ``stage`` runs (``STAGE_ENTRIES``); see the module
    docstring for what changes it."""
    return entries_version(STAGE_ENTRIES[stage], package_dir)


def run_code_version(package_dir: Path = PACKAGE_DIR) -> str:
    """The version of the code of every per-seed stage together (``RUN_STAGES``): what a row
    records when its stage is not named. While the three stages import the same modules, as
    today, it equals each one's ``code_version``."""
    entries = tuple(dict.fromkeys(name for stage in RUN_STAGES for name in STAGE_ENTRIES[stage]))
    return entries_version(entries, package_dir)


def entries_version(entries: tuple[str, ...], package_dir: Path = PACKAGE_DIR) -> str:
    """The version of the code reachable from the modules ``entries``."""
    digest = hashlib.sha256()
    for name, path in sorted(closure(entries, package_dir).items()):
        dumped = _normalized(path)[0].encode()
        digest.update(b"%d %d " % (len(name), len(dumped)) + name.encode() + dumped)
    return digest.hexdigest()[:12]
