"""benchmarks/seed_cost.py: the report's medians leave out each process's first seed, which is reported apart."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import seed_cost  # noqa: E402


def _run(first: float, later: list[float]) -> dict:
    times = [first, *later]
    return {"train": times, "prune": times, "qat": times, "acc": [(90.0, 89.0)] * len(times)}


def test_report_takes_medians_over_later_seeds_and_the_first_apart():
    args = argparse.Namespace(configs=["dnn:L1:10"], fraction=0.25, epochs=2, seeds=3, repeats=2, scope="full")
    runs = {
        ("old", "dnn:L1:10"): [_run(9.0, [1.0, 1.0]), _run(9.0, [1.0, 3.0])],
        ("new", "dnn:L1:10"): [_run(5.0, [2.0, 2.0]), _run(7.0, [2.0, 4.0])],
    }
    text = seed_cost.report(["old", "new"], runs, args, "load average 0 0 0")
    # medians of the later seeds: old 1.0, new 2.0; first seeds summed over the three stages
    assert "| dnn:L1:10 | train | 1.000 | 2.000 | 2.00x |" in text
    assert "| dnn:L1:10 | first seed (all stages) | 27.000 | 18.000 | 0.67x |" in text
    assert "- dnn:L1:10 `new`: float 90.00, int8 89.00" in text
    assert "QAT under scope `full`" in text
