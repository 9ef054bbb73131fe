"""provenance.code_version: a stage's code version changes with a statement of a module the
stage runs, and with nothing else (comments, docstrings, formatting, modules it does not run)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from minarch import provenance

REPO = Path(__file__).resolve().parents[2]

FILES = {
    "__init__.py": '"""A fake minarch."""\n__version__ = "0"\n',
    "entry.py": (
        '"""The stage\'s entry."""\n'
        "from minarch import helper\n"
        "from minarch import provenance\n\n\n"
        "def run(x):\n"
        '    """Run it."""\n'
        "    from minarch.lazy import twice  # imported where it is used\n\n"
        "    return helper.scale(twice(x))\n"
    ),
    "helper.py": "def scale(x):\n    return 2 * x  # doubled\n",
    "lazy.py": "def twice(x):\n    return x + x\n",
    "outside.py": "LIMIT = 1\n",  # the package has it; the stage does not run it
    "provenance.py": "SALT = 1\n",  # versions are computed here; no result is
}


def edit(path: Path, text: str) -> None:
    """Rewrite a module, its modification time moved on (the parse cache is keyed on it)."""
    stat = path.stat()
    path.write_text(text)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


@pytest.fixture
def package(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "minarch"
    root.mkdir()
    for name, text in FILES.items():
        (root / name).write_text(text)
    monkeypatch.setitem(provenance.STAGE_ENTRIES, "fake", ("minarch.entry",))
    return root


def version(package: Path) -> str:
    return provenance.code_version("fake", package)


def test_closure_follows_every_import_of_the_package(package):
    found = provenance.closure(("minarch.entry",), package)
    assert set(found) == {"minarch", "minarch.entry", "minarch.helper", "minarch.lazy"}
    assert found["minarch.lazy"] == package / "lazy.py"
    assert re.fullmatch(r"[0-9a-f]{12}", version(package))


@pytest.mark.parametrize(
    "module, before, after",
    [
        ("helper.py", "return 2 * x  # doubled", "return 2 * x  # twice x, as the paper does"),
        ("helper.py", "def scale(x):\n", "# a comment above\n\n\ndef scale(x):\n"),
        ("helper.py", "def scale(x):\n", 'def scale(x):\n    """Double it."""\n'),
        ("entry.py", '"""Run it."""', '"""Run the stage on x (a longer docstring)."""'),
        ("entry.py", "return helper.scale(twice(x))", "return helper.scale(\n        twice(x),\n    )"),
        ("lazy.py", "return x + x", "return (x + x)"),
        ("__init__.py", '"""A fake minarch."""', '"""A fake minarch, documented anew."""'),
        ("outside.py", "LIMIT = 1", "LIMIT = 2"),  # a module the stage does not run
        ("provenance.py", "SALT = 1", "SALT = 2"),  # the versioning itself
    ],
)
def test_what_cannot_change_a_result_leaves_the_version(package, module, before, after):
    old = version(package)
    text = (package / module).read_text()
    assert before in text
    edit(package / module, text.replace(before, after))
    assert version(package) == old


@pytest.mark.parametrize(
    "module, before, after",
    [
        ("helper.py", "return 2 * x", "return 3 * x"),  # a constant
        ("helper.py", "def scale(x):\n    return 2 * x", "def scale(y):\n    return 2 * y"),  # a name
        ("lazy.py", "return x + x", "return x * 2"),  # a module imported inside a function
        ("entry.py", "from minarch import helper\n", "from minarch import helper\nfrom minarch import outside\n"),
        ("__init__.py", '__version__ = "0"', '__version__ = "1"'),
    ],
)
def test_a_statement_change_changes_the_version(package, module, before, after):
    old = version(package)
    text = (package / module).read_text()
    assert before in text
    edit(package / module, text.replace(before, after))
    assert version(package) != old


def test_a_module_joins_the_version_once_imported(package):
    old = version(package)
    edit(package / "outside.py", "LIMIT = 5\n")
    assert version(package) == old
    entry = package / "entry.py"
    edit(entry, entry.read_text().replace("from minarch import helper\n", "from minarch import helper, outside\n"))
    with_outside = version(package)
    assert with_outside != old
    edit(package / "outside.py", "LIMIT = 6\n")
    assert version(package) != with_outside


def test_the_same_code_elsewhere_has_the_same_version(package, tmp_path):
    copy = tmp_path / "elsewhere" / "minarch"
    copy.mkdir(parents=True)
    for name, text in FILES.items():
        (copy / name).write_text(text)
    assert version(copy) == version(package)


# --------------------------------------------------------------------------- the real package
def test_models_are_code_of_the_stages_and_regime_rules_of_the_aggregates():
    """A change to the models reruns train, prune and QAT; one to the regime rules only the
    aggregates."""
    for stage in provenance.RUN_STAGES:
        code = provenance.closure(provenance.STAGE_ENTRIES[stage])
        assert "minarch.models" in code and "minarch.regimes" not in code and "minarch.origin" not in code
    for aggregate in ("regimes", "table1", "paper_comparison", "family_figure", "topology_sweep"):
        code = provenance.closure(provenance.STAGE_ENTRIES[aggregate])
        assert "minarch.regimes" in code and "minarch.models" not in code and "minarch.stages" not in code
    assert "minarch.provenance" not in provenance.closure(("minarch.io",))


@pytest.mark.parametrize("stage", sorted(provenance.STAGE_ENTRIES))
def test_each_entry_covers_what_its_script_imports(stage):
    """workflow/scripts/<stage>.py: every package module it imports is in its stage's code."""
    script = REPO / "workflow" / "scripts" / f"{stage}.py"
    if not script.is_file():
        pytest.skip(f"no script {script.name}")
    import ast

    imported = provenance._imported_modules(ast.parse(script.read_text()))
    modules = {name for name in imported if provenance._module_path(name) is not None}
    missing = modules - set(provenance.closure(provenance.STAGE_ENTRIES[stage])) - provenance.NOT_CODE
    assert not missing, f"STAGE_ENTRIES[{stage!r}] misses {sorted(missing)}"


def test_every_stage_has_a_version_and_stages_running_the_same_code_share_it():
    versions = {stage: provenance.code_version(stage) for stage in provenance.STAGE_ENTRIES}
    assert all(re.fullmatch(r"[0-9a-f]{12}", v) for v in versions.values())
    closures = {stage: set(provenance.closure(provenance.STAGE_ENTRIES[stage])) for stage in versions}
    for a in versions:
        for b in versions:
            assert (versions[a] == versions[b]) == (closures[a] == closures[b]), (a, b)
    if all(closures[stage] == closures["train"] for stage in provenance.RUN_STAGES):
        assert provenance.run_code_version() == versions["train"]  # what a row without its stage records


def test_the_modules_the_registry_imports_by_name_are_code_of_whatever_reads_it():
    from minarch import registry

    assert provenance.IMPORTED_BY_NAME["minarch.registry"] == registry.BUILTIN
    code = provenance.closure(("minarch.tables",))
    assert {"minarch.registry", "minarch.families", "minarch.data"} <= set(code)
