"""local.warm_workers (minarch.warm): the same sweep with and without warm workers gives the
same bits in every per-seed file, its stage jobs really ran in forks, and the run leaves no
server behind. Needs the MNIST mirror, like the other workflow tests."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from snakemake_support import MIRROR, snakemake_command

from minarch.warm import FORK_NOTE as FORKED

CONFIG = """
train: {{max_epochs: 1}}
prune: {{ratios: [0.0, 0.5]}}
qat: {{scope: [linear, full]}}
local: {{warm_workers: {warm}}}
families:
  dnn: {{datasets: [mnist], topologies: [L1], widths: [4], seeds: 2}}
  cnn: {{datasets: [mnist], widths: [2], seeds: 1}}
  vit: {{datasets: [mnist], widths: [2], seeds: 1}}
"""

pytestmark = [
    pytest.mark.workflow,
    pytest.mark.skipif(not (MIRROR / "mnist.npz").is_file(), reason=f"no data mirror with mnist.npz at {MIRROR}"),
]


def run(workdir: Path, warm: bool) -> None:
    (workdir / "cfg.yaml").write_text(CONFIG.format(warm=str(warm).lower()))
    command = snakemake_command(workdir, "--configfile", str(workdir / "cfg.yaml"), "--cores", "2")
    result = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "MINARCH_DATA_MIRROR": str(MIRROR)}
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]


def stage_logs(workdir: Path) -> dict[str, str]:
    return {
        p.relative_to(workdir).as_posix(): p.read_text()
        for stage in ("train", "prune", "qat")
        for p in (workdir / "results/logs" / stage).rglob("*.log")
    }


def servers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("minarch-warm-*")}


def test_warm_workers_give_the_same_bits_and_leave_nothing_behind(tmp_path):
    before = servers()
    warm, cold = tmp_path / "warm", tmp_path / "cold"
    for workdir, on in ((warm, True), (cold, False)):
        workdir.mkdir()
        run(workdir, on)
    assert servers() == before  # the socket's folder is gone (and with it the server: test_warm)

    warm_logs, cold_logs = stage_logs(warm), stage_logs(cold)
    assert len(warm_logs) == len(cold_logs) == 9  # 3 configurations x 3 stages
    assert all(FORKED in text for text in warm_logs.values()), warm_logs
    assert not any(FORKED in text for text in cold_logs.values())

    files = sorted(p.relative_to(warm) for p in (warm / "results/runs").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(cold) for p in (cold / "results/runs").rglob("*") if p.is_file())
    assert sum(f.name == "model.pt" for f in files) == 4  # seeds
    for name in files:
        if name.suffix == ".parquet":
            got, expected = pd.read_parquet(warm / name), pd.read_parquet(cold / name)
            how = [c for c in got.columns if c.endswith("seconds")]  # wall-clock, not results
            pd.testing.assert_frame_equal(got.drop(columns=how), expected.drop(columns=how), check_exact=True)
        else:
            assert (warm / name).read_bytes() == (cold / name).read_bytes(), name
