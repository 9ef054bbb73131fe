"""Write a run's aggregates from fixed per-seed tables, or compare two such writes byte for byte.

A refactor of the analysis modules (``minarch.regimes``, ``tables``, ``confidence``, ``plots``,
``comparison``) must leave what a run reports unchanged. This script feeds the same per-seed
tables through the public aggregate functions and writes every aggregate to a folder:

- ``<scenario>_regimes.csv``: ``regimes.summarize`` (regime labels, minimum stable size);
- ``<scenario>_table1.csv`` / ``.md``: ``tables.table1`` merged with
  ``confidence.table1_intervals`` at a fixed bootstrap seed, and its Markdown;
- ``<scenario>_curve_intervals.csv``: ``confidence.curve_intervals`` (the figures' bars);
- ``<scenario>_paper_comparison.md``: ``comparison.paper_comparison``;
- ``<scenario>_fig_<arch>.png``: ``plots.family_figure`` (which configuration a pruning panel shows).

Scenarios:

- ``synthetic``: DNN (three square depths), CNN and ViT on MNIST and CIFAR-10, five seeds, with
  train rows (epoch and final rows as ``stages.train_run`` writes them), prune rows over the
  0.0-1.0 grid and QAT rows, drawn from a fixed ``numpy`` generator: saturating accuracy curves
  whose seed spread shrinks with width, so every regime and borderline bootstrap cases occur;
- ``edge``: a one-seed curve, a curve whose largest width is unstable, prune rows without the
  unpruned ratio;
- ``recorded``: the real runs under ``docs/results/*/``, which keep only their aggregates: each
  configuration's seeds are rebuilt from its recorded min, max and mean (the ``n - 2`` middle
  seeds share ``n * mean - min - max``; with three seeds the regimes are the recorded ones);
  prune and QAT rows are synthetic.

Usage::

    python tools/check_aggregates_identical.py write /tmp/aggregates_before   # on the old code
    python tools/check_aggregates_identical.py write /tmp/aggregates_after    # on the new code
    python tools/check_aggregates_identical.py compare /tmp/aggregates_before /tmp/aggregates_after

``compare`` exits 1 and names every file that differs (or exists on one side only).
"""

from __future__ import annotations

import filecmp
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from minarch.comparison import paper_comparison
from minarch.confidence import curve_intervals, table1_intervals
from minarch.plots import family_figure
from minarch.regimes import Thresholds, finals, summarize
from minarch.tables import table1, to_markdown

ROOT = Path(__file__).resolve().parents[1]
RATIOS = [round(0.1 * i, 1) for i in range(11)]
RESAMPLES, CONFIDENCE, BOOTSTRAP_SEED, TOLERANCE = 1000, 0.95, 0, 1.0
PIXELS = {"mnist": 784, "fashion_mnist": 784, "cifar10": 3072}
CHANNELS = {"mnist": 1, "fashion_mnist": 1, "cifar10": 3}


def n_params(dataset: str, arch: str, topology: str, width: int) -> int:
    """Parameter counts of the three families' formulas (exact values do not matter here,
    only that they grow with width and differ between curves)."""
    if arch == "dnn":
        depth = int(topology[1])
        return PIXELS[dataset] * width + width + (depth - 1) * (width * width + width) + 10 * width + 10
    if arch == "cnn":
        return 9 * CHANNELS[dataset] * width + width + 9 * width * width + width + 49 * width * 10 + 10
    return 12 * width * width + (16 * CHANNELS[dataset] + 34) * width + 10


# ---------------------------------------------------------------------------------------------
# per-seed tables


def train_rows(dataset, arch, topology, width, seed, test_acc, train_acc, epochs=3, best=None) -> list[dict]:
    """Epoch rows and the final row of one run, as ``stages.train_run`` writes them."""
    keys = dict(
        dataset=dataset,
        arch=arch,
        topology=topology,
        width=width,
        seed=seed,
        n_params=n_params(dataset, arch, topology, width),
        train_max_epochs=epochs,
    )
    best = epochs if best is None else best
    rows = [
        dict(
            keys,
            kind="epoch",
            epoch=e,
            train_loss=2.3 / e,
            val_loss=2.3 / e,
            test_loss=2.3 / e,
            train_acc=train_acc * e / epochs,
            val_acc=test_acc * e / epochs,
            test_acc=test_acc * e / epochs,
        )
        for e in range(1, epochs + 1)
    ]
    rows.append(
        dict(
            keys,
            kind="final",
            epoch=best,
            train_loss=0.3,
            val_loss=0.3,
            test_loss=0.3,
            train_acc=train_acc,
            val_acc=test_acc,
            test_acc=test_acc,
        )
    )
    return rows


def downstream_rows(config: dict, seed: int, acc: float, safe: float, gap: float, epochs: int = 3):
    """Prune rows (flat to ``safe``, then falling) and one QAT row of one run."""
    prune = [
        dict(
            config,
            seed=seed,
            ratio=r,
            achieved_sparsity=r,
            test_acc=acc if r <= safe + 1e-9 else acc - 40 * (r - safe) - 0.5,
        )
        for r in RATIOS
    ]
    qat = dict(config, seed=seed, float_test_acc=acc, int8_test_acc=acc - gap, gap_pp=gap, train_max_epochs=epochs)
    return prune, qat


def synthetic() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(17)
    curves = {
        "dnn": (["L1", "L2e", "L3ee"], [1, 2, 3, 5, 10, 20, 50, 100]),
        "cnn": (["conv3x3"], [1, 2, 4, 8, 16]),
        "vit": (["enc2"], [2, 4, 8, 16]),
    }
    top = {"mnist": 97.5, "cifar10": 52.0}
    train, prune, qat = [], [], []
    for dataset in ("mnist", "cifar10"):
        for arch, (topologies, widths) in curves.items():
            for topology in topologies:
                scale = {"dnn": 6.0, "cnn": 2.0, "vit": 4.0}[arch] * (
                    1 + 0.3 * int(topology[1:2] or 1) if arch == "dnn" else 1
                )
                for width in widths:
                    mean = top[dataset] - (top[dataset] - 18.0) * np.exp(-width / scale)
                    spread = 4.0 * np.exp(-width / (1.5 * scale)) + 0.25
                    gap = 0.3 + 0.08 * width  # grows with width: overfitting at the wide end
                    safe = min(0.9, 0.1 * round(2 + 6 * (1 - np.exp(-width / scale))))
                    config = dict(dataset=dataset, arch=arch, topology=topology, width=width)
                    for seed in range(5):
                        acc = float(np.round(mean + rng.normal(0, spread), 2))  # test accuracy to 0.01 pp
                        train += train_rows(
                            dataset, arch, topology, width, seed, acc, acc + gap, best=int(rng.integers(1, 4))
                        )
                        p, q = downstream_rows(
                            config,
                            seed,
                            acc,
                            safe + 0.1 * int(rng.integers(-2, 2)),
                            float(np.round(rng.normal(0.2 + 8 / width, 0.3), 3)),
                        )
                        prune += p
                        qat.append(q)
    return pd.DataFrame(train), pd.DataFrame(prune), pd.DataFrame(qat)


def edge() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    train, prune, qat = [], [], []
    # fashion_mnist DNN L1: one seed per width (no std)
    for width, acc in ((1, 40.0), (2, 70.0), (5, 85.0), (10, 86.5), (20, 86.9)):
        train += train_rows("fashion_mnist", "dnn", "L1", width, 0, acc, acc + 1)
        p, q = downstream_rows(dict(dataset="fashion_mnist", arch="dnn", topology="L1", width=width), 0, acc, 0.5, 0.4)
        prune += p
        qat.append(q)
    # fashion_mnist CNN: the largest width is unstable (seeds far apart), prune rows lack ratio 0.0
    for width, accs in ((1, [80.0, 80.2, 80.1]), (2, [88.0, 88.1, 88.2]), (4, [70.0, 89.0, 90.0])):
        config = dict(dataset="fashion_mnist", arch="cnn", topology="conv3x3", width=width)
        for seed, acc in enumerate(accs):
            train += train_rows(*config.values(), seed, acc, acc + 0.5)
            p, q = downstream_rows(config, seed, acc, 0.3, 0.5)
            prune += [row for row in p if row["ratio"] > 0]
            qat.append(q)
    return pd.DataFrame(train), pd.DataFrame(prune), pd.DataFrame(qat)


def recorded() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Each configuration's seeds rebuilt from docs/results/*/regimes.csv: the minimum, the
    maximum and ``n_seeds - 2`` middle seeds that share the rest of the recorded mean."""
    train, prune, qat = [], [], []
    for path in sorted(ROOT.glob("docs/results/*/regimes.csv")):
        for row in pd.read_csv(path).itertuples(index=False):
            n = int(row.n_seeds)
            if n < 3:
                raise SystemExit(f"{path}: the rebuild needs at least 3 seeds per configuration, found {n}")
            middle = (n * row.test_acc_mean - row.test_acc_min - row.test_acc_max) / (n - 2)
            accs = [row.test_acc_min, *[middle] * (n - 2), row.test_acc_max]
            config = {"dataset": row.dataset, "arch": row.arch, "topology": row.topology, "width": int(row.width)}
            for seed, acc in enumerate(accs):
                rows = train_rows(*config.values(), seed, acc, acc + row.train_test_gap_mean, epochs=5)
                for r in rows:
                    r["n_params"] = int(row.n_params)  # the recorded count
                train += rows
                p, q = downstream_rows(config, seed, acc, 0.4 + 0.1 * (seed == 1), 0.1 * (seed + 1), epochs=5)
                prune += p
                qat.append(q)
    return pd.DataFrame(train), pd.DataFrame(prune), pd.DataFrame(qat)


# ---------------------------------------------------------------------------------------------
# aggregates


def write(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    thresholds = Thresholds()
    for name, make in (("synthetic", synthetic), ("edge", edge), ("recorded", recorded)):
        train, prune, qat = make()
        final_rows = finals(train)
        regimes = summarize(final_rows, thresholds)
        regimes.to_csv(out / f"{name}_regimes.csv", index=False)
        table = table1(regimes, prune, qat, prune_tolerance=TOLERANCE)
        intervals = table1_intervals(
            final_rows, prune, qat, table, thresholds, TOLERANCE, RESAMPLES, CONFIDENCE, BOOTSTRAP_SEED
        )
        table = table.merge(intervals, on=["dataset", "arch"], how="left")
        table.to_csv(out / f"{name}_table1.csv", index=False)
        (out / f"{name}_table1.md").write_text(to_markdown(table))
        # the paper comparison reads Table I back from its CSV, as the workflow does
        table_csv = pd.read_csv(out / f"{name}_table1.csv")
        (out / f"{name}_paper_comparison.md").write_text(
            paper_comparison(regimes, table_csv, prune, qat, None, intervals=table_csv, prune_tolerance=TOLERANCE)
        )
        bars = curve_intervals(final_rows, prune, regimes, thresholds, TOLERANCE, RESAMPLES, CONFIDENCE, BOOTSTRAP_SEED)
        bars.to_csv(out / f"{name}_curve_intervals.csv", index=False)
        for arch in sorted(regimes["arch"].unique()):
            family_figure(arch, regimes, prune, qat, out / f"{name}_fig_{arch}.png", bars)
        print(f"{name}: {len(final_rows)} runs, {len(regimes)} configurations -> {out}")


def compare(before: Path, after: Path) -> int:
    names = sorted({p.name for p in before.iterdir()} | {p.name for p in after.iterdir()})
    differ = [
        n
        for n in names
        if not ((before / n).is_file() and (after / n).is_file() and filecmp.cmp(before / n, after / n, shallow=False))
    ]
    for name in differ:
        print(f"differs: {name}")
    print(f"{len(names) - len(differ)} of {len(names)} files identical")
    return 1 if differ else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "write":
        write(Path(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        sys.exit(__doc__)
