"""Milliseconds to evaluate one seed's prune sweep (its model pruned at each of the default
11 ratios, every pruned model on the 10,000 test images), two ways in one invocation,
interleaved so that both share the machine's load: one pruned model at a time (a stack of
one, the 2-D products), and the seed's ratios as one stack on the shared images
(``stacked.Stack.forward_shared``: the DNN's first layer one product with every ratio's
weights side by side, what ``stages.prune_block`` does for the DNN). One torch thread,
MNIST's or CIFAR-10's test images from the workflow's cache or the mirror. Reported: the
median of ``--repeats`` timings of each, their ratio, and the largest difference of the two
ways' test accuracies (rounding only).

A second table times the families without a shared-input forward (CNN, ViT), whose pruned
models ``stages.prune_block`` evaluates one at a time: one pruned model (half its weights
pruned) as a stack of one (``train.evaluate_stack``), as the eager model in its own chunks
(``train.evaluate`` with ``stacked.eager_eval_rows``, what the prune job does), and
as the eager model on all 10,000 images in one chunk (how the prune job before the stacked
engine, 046272c, evaluated).

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

from minarch import models, prune, stacked, stages, train
from minarch.data import load_splits
from minarch.families import CNN_TOPOLOGY, VIT_POSITIONS
from minarch.settings import PruneSettings, TrainSettings

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
# (arch, topology, width, dataset): the families evaluated one pruned model at a time, over
# the widths of the default config
LONE_CASES = [
    *(("cnn", CNN_TOPOLOGY, width, "mnist") for width in (1, 4, 16, 32)),
    *(("cnn", CNN_TOPOLOGY, width, "cifar10") for width in (4, 16)),
    *(("vit", VIT_POSITIONS["learned"], width, "mnist") for width in (1, 4, 8, 16)),
    *(("vit", VIT_POSITIONS["learned"], width, "cifar10") for width in (4, 16)),
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


def interleaved(ways: dict, repeats: int) -> dict:
    """Median milliseconds of each way, run in turn ``repeats`` times after one warm-up each."""
    times = {name: [] for name in ways}
    for way in ways.values():
        way()
    for _ in range(repeats):
        for name, way in ways.items():
            started = time.perf_counter()
            way()
            times[name].append(1e3 * (time.perf_counter() - started))
    return {name: statistics.median(values) for name, values in times.items()}


def lone_rows(repeats: int) -> list[str]:
    rows = []
    for arch, topology, width, dataset in LONE_CASES:
        splits = stages.splits_for(arch, dataset_path(dataset), TrainSettings(), parts=("test",))
        x, y = splits.x_test, splits.y_test
        model = models.seeded(0, arch, topology, width, tuple(x.shape[1:]))
        prune.prune_globally(model, 0.5)
        prune.make_permanent(model)
        alone = stacked.Stack(arch, [model])
        rows_ = stacked.eager_eval_rows(arch, model, tuple(x.shape[1:]), len(y))
        ways = {
            "stack": lambda: train.evaluate_stack(alone, x, y)[1][0],
            "chunks": lambda: train.evaluate(model, x, y, rows_)[1],
            "once": lambda: train.evaluate(model, x, y, len(y))[1],
        }
        gap = max(abs(ways["stack"]() - ways[name]()) for name in ("chunks", "once"))
        ms = interleaved(ways, repeats)
        rows.append(
            f"| {dataset} | {arch} | {width} | {rows_} | {ms['stack']:.1f} | {ms['chunks']:.1f} | {ms['once']:.1f} "
            f"| {ms['chunks'] / ms['stack']:.2f}x | {ms['chunks'] / ms['once']:.2f}x | {gap:.2f} |"
        )
        print(rows[-1], flush=True)
    return rows


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
        ms = interleaved({"one": one_at_a_time, "shared": shared}, args.repeats)
        a, b = ms["one"], ms["shared"]
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
            "## CNN and ViT: one pruned model, alone",
            "",
            "The eager model in its own chunks (*chunks*, `stacked.eager_eval_rows`, what `stages.prune_block` "
            "runs), against its stack of one (*stack*) and the eager model on every test image in one chunk "
            "(*once*, the chunking of 046272c's prune job); one model at 50% sparsity, median of "
            f"{args.repeats} interleaved repeats.",
            "",
            "| dataset | family | width | chunk rows | stack (ms) | chunks (ms) | once (ms) | chunks / stack "
            "| chunks / once | max accuracy difference (pp) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            *lone_rows(args.repeats),
            "",
        ]
    )
    emit(text, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
