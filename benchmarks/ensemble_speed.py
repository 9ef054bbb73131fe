"""Per-seed training time: seed-vectorised ensemble (minarch.ensemble) vs one seed at a time
(minarch.train.fit), on the real dataset, one torch thread, same recipe.

    .venv/bin/python benchmarks/ensemble_speed.py --output benchmarks/reports/ensemble_speed.md

For each width it trains ``--seeds`` seeds as one ensemble and ``--one-by-one-seeds`` of
them with ``train.fit`` (per-seed time is what matters, and one-by-one time does not depend on
how many seeds there are), for ``--epochs`` epochs without early stopping. The seeds trained
both ways must end with the same test accuracy (the ensemble reproduces ``fit``), which the
table shows as the largest difference. Wide networks use ``--wide-seeds`` (slow on 2 cores).
Times are CPU seconds of this (single-threaded) process, so other jobs on a shared machine
disturb them much less than wall seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from _common import dataset_path, emit, load_line

from minarch import ensemble, models, stages, train  # noqa: E402
from minarch.settings import RunSpec, TrainSettings  # noqa: E402
from minarch.workflow import setup_torch  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data", default=None, help="dataset .npz (default: resources/datasets/ or $MINARCH_DATA_MIRROR)")
    parser.add_argument("--topology", default="L1")
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--wide-seeds", type=int, default=6, help="seeds in the ensemble for widths >= --wide")
    parser.add_argument("--wide", type=int, default=1000)
    parser.add_argument("--one-by-one-seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--optimizers", nargs="+", default=["fused", "lean"], choices=["fused", "lean", "torch"])
    parser.add_argument("--output", default=None, help="also write the Markdown table here")
    args = parser.parse_args(argv)

    setup_torch(args.threads)  # as the workflow's jobs do
    path = Path(args.data) if args.data else dataset_path(args.dataset)
    settings = TrainSettings(max_epochs=args.epochs, patience=args.epochs + 1)
    splits = stages.splits_for("dnn", path, settings)
    lines = [
        f"Ensemble vs one-by-one, {args.dataset} DNN {args.topology}, {args.epochs} epoch(s), "
        f"{args.threads} thread(s); CPU seconds per seed per epoch (training + val/test evaluation; CPU time "
        "because the machine is shared). One-by-one: train.fit with its default fused Adam. Ensemble "
        "optimizers (minarch.optim): fused = torch.optim.Adam(fused=True)'s kernel (the default), lean = "
        "torch.optim.Adam's own single-tensor arithmetic.",
        "",
        "| width | params | ensemble seeds | one-by-one (train.fit) | " + " | ".join(
            f"ensemble {o}" for o in args.optimizers) + " | " + " | ".join(
            f"speed-up {o}" for o in args.optimizers) + " | max test-acc diff (pp) |",
        "|" + "---:|" * (4 + 2 * len(args.optimizers) + 1),
    ]
    # warm-up (first optimizer step imports torch._dynamo; first matmuls allocate)
    warm = models.seeded(0, "dnn", args.topology, 2, splits.image_shape)
    train.fit(warm, splits, TrainSettings(max_epochs=1), 0, max_epochs=1)
    for width in args.widths:
        n_seeds = args.wide_seeds if width >= args.wide else args.seeds
        specs = [RunSpec(args.dataset, "dnn", args.topology, width, seed) for seed in range(n_seeds)]
        ensemble_s, stacked = {}, {}
        for optimizer in args.optimizers:
            started = time.process_time()
            stacked[optimizer] = ensemble.train_dnn_ensemble(specs, splits, settings, optimizer=optimizer)
            ensemble_s[optimizer] = (time.process_time() - started) / (n_seeds * args.epochs)
        single_s, diffs = 0.0, []
        k = min(args.one_by_one_seeds, n_seeds)
        for i, spec in enumerate(specs[:k]):
            model = models.seeded(spec.seed, "dnn", spec.topology, spec.width, splits.image_shape)
            started = time.process_time()
            result = train.fit(model, splits, settings, spec.seed)
            single_s += time.process_time() - started
            diffs += [abs(result.history[-1]["test_acc"] - stacked[o][i][1].history[-1]["test_acc"])
                      for o in args.optimizers]
        single_s /= k * args.epochs
        n_params = models.parameter_count(stacked[args.optimizers[0]][0][0])
        lines.append(f"| {width} | {n_params:,} | {n_seeds} | {single_s:.3f} | "
                     + " | ".join(f"{ensemble_s[o]:.3f}" for o in args.optimizers) + " | "
                     + " | ".join(f"{single_s / ensemble_s[o]:.2f}x" for o in args.optimizers)
                     + f" | {max(diffs):.2f} |")
        print(lines[-1], flush=True)
    lines += ["", f"{load_line()} at the end"]
    text = "\n".join(lines)
    print()
    emit(text, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
