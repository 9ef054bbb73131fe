"""Wall seconds per training step (float and QAT) of one seed at 1 and 2 torch threads, for
the widest MLPs of the sweep and the largest CNN and ViT: where more threads per job pay.

    .venv/bin/python benchmarks/thread_scaling.py --output benchmarks/reports/thread_scaling.md

Run it on an idle machine: a thread that shares its core with another job measures nothing.
The step is the workflow's (``calibration.cpu_steps``: the engine's indexing, forward, loss,
backward and Adam on a stack of one seed); subnormals flushed as in every job.
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import dataset_path, emit, load_line
from calibration import cpu_steps

from minarch import models, stages
from minarch.jobs import setup_torch
from minarch.settings import TrainSettings

CONFIGS = [
    ("dnn", "L1", 1000),
    ("dnn", "L4eee", 1000),
    ("dnn", "L4uuu", 1000),  # phase 1's largest shape: 1000-2000-4000-8000, the longest seed
    ("cnn", "conv3x3", 32),
    ("vit", "enc2", 16),
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--budget", type=float, default=3.0, help="seconds of steps per measurement")
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    settings = TrainSettings()
    lines = [
        "# Thread scaling of one seed's training step",
        "",
        f"`benchmarks/thread_scaling.py --budget {args.budget}`, MNIST, batch 100, wall ms per step; {load_line()}",
        "",
        "| model | params | stage | "
        + " | ".join(f"{t} thread{'s' * (t > 1)}" for t in args.threads)
        + " | speed-up |",
        "|---|---:|---|" + "---:|" * (len(args.threads) + 1),
    ]
    splits = {}
    for arch, topology, width in CONFIGS:
        if arch not in splits:
            splits[arch] = stages.splits_for(arch, dataset_path("mnist"), settings)
        n_params = models.parameter_count(models.build(arch, topology, width, splits[arch].image_shape))
        for qat in (False, True):
            times = []
            for threads in args.threads:
                setup_torch(threads)
                times.append(
                    cpu_steps(arch, topology, width, splits[arch], 100, args.budget, qat=qat, clock=time.perf_counter)
                )
            cells = " | ".join(f"{1000 * t:.1f}" for t in times)
            lines.append(
                f"| {arch} {topology} w{width} | {n_params:,} | {'QAT' if qat else 'float'} | {cells} | "
                f"{times[0] / times[-1]:.2f}x |"
            )
            print(lines[-1], flush=True)
    lines += ["", f"torch {torch.__version__}; intra-op threads set with torch.set_num_threads per row."]
    emit("\n".join(lines) + "\n", args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
