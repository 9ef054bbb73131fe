"""Milliseconds to evaluate one seed's prune sweep (its model pruned at each of the default
11 ratios, every pruned model on the 10,000 test images), two ways in one invocation,
interleaved so that both share the machine's load: one pruned model at a time (a stack of
one, the 2-D products), and the seed's ratios as one stack on the shared images
(``stacked.Stack.forward_shared``: the DNN's first layer one product with every ratio's
weights side by side, what ``stages.prune_block`` does for the DNN). One torch thread,
MNIST's or CIFAR-10's test images from the workflow's cache or the mirror. Reported: the
median of ``--repeats`` timings of each, their ratio, and the largest difference of the two
ways' test accuracies (rounding only).

    .venv/bin/python benchmarks/prune_eval.py --output benchmarks/reports/prune_eval.md
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time

import torch
from _common import dataset_path, emit, load_line

from minarch import models, prune, stacked, train
from minarch.data import load_splits
from minarch.settings import PruneSettings

# (topology, width, dataset): the small sweep's and quick config's DNNs, a deep one, CIFAR-10
CASES = [
    ("L1", 5, "mnist"),
    ("L1", 10, "mnist"),
    ("L1", 50, "mnist"),
    ("L1", 100, "mnist"),
    ("L2e", 10, "mnist"),
    ("L2e", 100, "mnist"),
    ("L4eee", 5, "mnist"),
    ("L4eee", 50, "mnist"),
    ("L1", 50, "cifar10"),
    ("L2e", 200, "cifar10"),
]


def test_images(dataset: str) -> tuple[torch.Tensor, torch.Tensor]:
    splits = load_splits(dataset_path(dataset), parts=("test",))
    return splits.x_test, splits.y_test


def pruned_copies(topology: str, width: int, image: tuple[int, ...]) -> list[torch.nn.Module]:
    model = models.seeded(0, "dnn", topology, width, image)
    copies = []
    for ratio in PruneSettings().ratios:
        pruned = copy.deepcopy(model)
        prune.prune_globally(pruned, ratio)
        prune.make_permanent(pruned)
        copies.append(pruned)
    return copies


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    load = load_line()
    rows = []
    for topology, width, dataset in CASES:
        x, y = test_images(dataset)
        copies = pruned_copies(topology, width, tuple(x.shape[1:]))
        alone = [stacked.Stack("dnn", [m]) for m in copies]
        together = stacked.Stack("dnn", copies)

        def one_at_a_time():
            return [train.evaluate_stack(stack, x, y)[1][0] for stack in alone]

        def shared():
            return train.evaluate_stack(together, x, y, shared=True)[1]

        accuracy_gap = max(abs(a - b) for a, b in zip(one_at_a_time(), shared()))
        times = {one_at_a_time: [], shared: []}
        for _ in range(args.repeats):
            for way in times:
                started = time.perf_counter()
                way()
                times[way].append(1e3 * (time.perf_counter() - started))
        a, b = statistics.median(times[one_at_a_time]), statistics.median(times[shared])
        rows.append(f"| {dataset} | {topology} | {width} | {a:.1f} | {b:.1f} | {a / b:.2f}x | {accuracy_gap:.2f} |")
        print(rows[-1], flush=True)
    text = "\n".join(
        [
            "# One seed's prune sweep evaluated: one pruned model at a time, or its ratios sharing the images",
            "",
            f"{platform.processor() or platform.machine()}, torch {torch.__version__}, one thread; "
            f"median of {args.repeats} interleaved repeats; {load} before.",
            "",
            "| dataset | topology | width | one at a time (ms) | shared (ms) | speed-up "
            "| max accuracy difference (pp) |",
            "|---|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    emit(text, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
