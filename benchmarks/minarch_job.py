"""Every seed of one DNN configuration trained in one process with ``stages.train_block``,
outside Snakemake: ``--mode fit`` trains the seeds one at a time, ``--mode ensemble`` as one
stacked model at any width (``minarch.stacked``).
Writes ``model.pt`` and ``train.parquet`` per seed under ``--out`` like the workflow, and
prints one JSON line (final test accuracy per seed, seconds per phase).

    .venv/bin/python benchmarks/minarch_job.py --data resources/datasets/mnist.npz \\
        --topology L1 --width 10 --seeds 0 1 2 --epochs 2 --out /tmp/runs --mode ensemble
"""

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

IMPORTED_TORCH = time.perf_counter()

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from minarch import models, stages  # noqa: E402
from minarch.io import write_parquet  # noqa: E402
from minarch.jobs import setup_torch  # noqa: E402
from minarch.settings import RunSpec, TrainSettings  # noqa: E402

IMPORTED = time.perf_counter()


def main():
    parser = argparse.ArgumentParser(description="one minarch train job (all seeds of one DNN configuration)")
    parser.add_argument("--data", required=True)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--topology", required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mode", choices=["fit", "ensemble"], default="fit")
    parser.add_argument("--out", required=True, help="root of the per-seed run folders")
    args = parser.parse_args()
    setup_torch(args.threads)  # as the workflow's jobs do
    settings = TrainSettings(max_epochs=args.epochs, threads=args.threads)
    splits = stages.splits_for("dnn", args.data, settings)
    loaded = time.perf_counter()
    specs = [RunSpec(args.dataset, "dnn", args.topology, args.width, seed) for seed in args.seeds]
    runs = stages.train_block(specs, splits, settings, {"dnn": 0 if args.mode == "fit" else args.width})
    accuracies = []
    for spec, (model, frame) in zip(specs, runs):
        folder = Path(args.out, spec.directory.relative_to("results/runs"))
        models.save(folder / "model.pt", model, spec.columns(), splits.image_shape)
        write_parquet(frame, folder / "train.parquet")
        accuracies.append(float(frame.loc[frame["kind"] == "final", "test_acc"].iloc[0]))
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "topology": args.topology,
                "width": args.width,
                "seeds": args.seeds,
                "test_acc": accuracies,
                "seconds": {
                    "import_torch": IMPORTED_TORCH - STARTED,
                    "import_minarch": IMPORTED - IMPORTED_TORCH,
                    "data": loaded - IMPORTED,
                    "train_and_write": done - loaded,
                    "in_process": done - STARTED,
                },
            }
        )
    )


if __name__ == "__main__":
    main()
