"""A family and a dataset added without editing the package: ``toy_plugin`` (beside this file)
registers the family ``mlp1`` and the dataset ``toy8``; named in ``MINARCH_PLUGINS``, they run
through the whole workflow, the Snakemake process and every job alike, to Table I and a
figure of their own, and the stacked form the plugin names passes the unit checks every
registered family does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from snakemake_support import REPO, snakemake_command

HERE = Path(__file__).resolve().parent

CONFIG = """
train: {max_epochs: 1, batch_size: 20, learning_rate: 0.02}
prune: {ratios: [0.0, 0.5, 1.0]}
qat: {ptq_batches: 2}
families:
  mlp1: {datasets: [toy8], widths: [4, 16], seeds: 2}
  dnn: {datasets: [toy8], topologies: [L1], widths: [4], seeds: 2}
"""

pytestmark = pytest.mark.workflow


def plugin_env() -> dict[str, str]:
    """The plugin on the path, after this checkout's package (which the Snakefile puts first
    for its jobs too)."""
    path = os.pathsep.join(filter(None, [str(REPO / "src"), str(HERE), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "MINARCH_PLUGINS": "toy_plugin", "PYTHONPATH": path}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("plugin")
    (path / "toy.yaml").write_text(CONFIG)
    command = snakemake_command(path, "--configfile", str(path / "toy.yaml"), "--cores", "2")
    result = subprocess.run(command, capture_output=True, text=True, env=plugin_env())
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return path


def test_the_toy_family_and_dataset_run_to_table_1_and_their_figure(workdir):
    results = workdir / "results"
    runs = sorted(results.glob("runs/toy8/mlp1/h1/w*/seed*"))
    assert len(runs) == 2 * 2
    for run in runs:
        assert {p.name for p in run.iterdir()} == {"model.pt", "train.parquet", "prune.parquet", "qat.parquet"}
    train = pd.read_parquet(results / "collected/mlp1/train.parquet")
    final = train[train["kind"] == "final"]
    assert set(final["n_params"]) == {(64 + 1) * w + (w + 1) * 10 for w in (4, 16)}  # its closed form
    assert final["test_acc"].max() > 90  # its prototypes learnt in one epoch
    table = pd.read_csv(results / "table1.csv").set_index(["dataset", "arch"])
    assert {("toy8", "mlp1"), ("toy8", "dnn")} <= set(table.index)
    assert table.loc[("toy8", "mlp1"), "min_params"] in set(final["n_params"])  # a representative model
    assert any("| Toy-8 " in line and "| MLP-1 " in line for line in (results / "table1.md").open())
    assert (results / "figures/fig6_mlp1.png").stat().st_size > 0
    assert (results / "figures/fig3_dnn.png").stat().st_size > 0
    assert (results / "paper_comparison.md").stat().st_size > 0


def test_without_the_plugin_the_config_names_an_unknown_family(tmp_path):
    (tmp_path / "toy.yaml").write_text(CONFIG)
    command = snakemake_command(tmp_path, "--configfile", str(tmp_path / "toy.yaml"), "-n")
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "MINARCH_PLUGINS": ""})
    assert result.returncode != 0
    assert "config error at families" in result.stdout + result.stderr


def test_the_plugins_stacked_form_passes_the_checks_of_every_family():
    """tests/unit/test_stacked.py with the plugin loaded: its family is among the cases."""
    checks = "round_trip or stacked_forward or fake_quant_matches or every_registered_family_has"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/unit/test_stacked.py"]
    result = subprocess.run([*command, "-k", checks], capture_output=True, text=True, env=plugin_env(), cwd=REPO)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (
        "mlp1"
        in subprocess.run(
            [*command, "-k", checks, "--collect-only"], capture_output=True, text=True, env=plugin_env(), cwd=REPO
        ).stdout
    )
