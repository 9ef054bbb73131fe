"""CPU seconds per seed-epoch (train, QAT) and per seed (prune sweep) for each family: the
stacked engine at the workflow's settings (``train.stack_max_width``) against one seed at a
time with the pre-engine eager loop (``_eager_baseline.py``, the code before the engine), on
real data, one torch thread, in one invocation so both sides share the machine's load.

    .venv/bin/python benchmarks/stage_speed.py --output benchmarks/reports/stage_speed.md
    .venv/bin/python benchmarks/stage_speed.py --fraction 0.25 --seeds 10   # the recorded run

``--fraction`` trains and evaluates on that fraction of every split (same proportions), so
one epoch costs that fraction of a real one; CPU seconds are scaled back to a full epoch.
Each side's mean test accuracy after the epoch is printed to show both train the same way.
Also reported: each configuration's arithmetic floor (``macs_per_image``: forward and backward
on the training images, forward on validation and test, at the single-core sgemm rate
measured at the start) and the stacked time's ratio to it.
"""

from __future__ import annotations

import argparse
import statistics
import time

import _eager_baseline as eager
import torch
from _common import dataset_path, emit, load_line

from minarch import models, stages
from minarch.data import Splits
from minarch.settings import PruneSettings, QATSettings, RunSpec, TrainSettings

CONFIGS = [
    ("dnn", "L1", 10),
    ("dnn", "L4eee", 50),
    ("cnn", "conv3x3", 4),
    ("cnn", "conv3x3", 16),
    ("vit", "enc2", 4),
    ("vit", "enc2", 16),
]
STACK_MAX_WIDTH = {"dnn": 100, "cnn": 0, "vit": 16}  # the workflow's default (config/config.yaml)


def subset(splits: Splits, fraction: float) -> Splits:
    def part(x, y):
        n = max(1, int(len(y) * fraction))
        return x[:n], y[:n]

    return Splits(
        *part(splits.x_train, splits.y_train), *part(splits.x_val, splits.y_val), *part(splits.x_test, splits.y_test)
    )


def cpu(fn):
    started = time.process_time()
    out = fn()
    return time.process_time() - started, out


def sgemm_rate() -> float:
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    seconds, _ = cpu(lambda: [a @ b for _ in range(20)])
    return 20 * 2 * 1024**3 / seconds


def macs_per_image(arch, topology, width, image_shape) -> int:
    """Multiply-adds of one forward pass: a weight is used once per image in a DNN, at every
    output position in the CNN's convolution and at every token in the ViT (plus attention's
    own products, tokens^2 x D per block); biases, norms and activations are left out."""
    c, h, w = image_shape
    if arch == "dnn":
        return models.parameter_count(models.build(arch, topology, width, image_shape))
    if arch == "cnn":
        positions = (h - 2) * (w - 2)
        return positions * 9 * c * width + positions * width * models.NUM_CLASSES
    tokens, patch = models.VIT_GRID**2 + 1, c * (h // models.VIT_GRID) * (w // models.VIT_GRID)
    return (
        tokens * (patch + models.VIT_BLOCKS * 6 * width) * width
        + models.VIT_BLOCKS * 2 * tokens**2 * width
        + width * models.NUM_CLASSES
    )


def floor_seconds(arch, topology, width, splits, rate) -> float:
    """The arithmetic of one epoch at ``rate`` FLOP/s: forward and backward (3 x 2 FLOPs per
    multiply-add) on the training images, forward (2) on validation and test."""
    macs = macs_per_image(arch, topology, width, splits.image_shape)
    return (6 * macs * len(splits.y_train) + 2 * macs * (len(splits.y_val) + len(splits.y_test))) / rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--fraction", type=float, default=0.25)
    parser.add_argument("--configs", nargs="*", help="arch:topology:width, e.g. vit:enc2:4")
    parser.add_argument("--output")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    configs = [tuple(c.split(":")) for c in args.configs] if args.configs else CONFIGS
    settings = TrainSettings(max_epochs=1)
    rate = sgemm_rate()
    lines = [
        "# Stage speed: stacked engine vs one seed at a time",
        "",
        f"{args.seeds} seeds per configuration, {args.dataset}, {args.fraction:g} of every split "
        f"(CPU seconds scaled to a full epoch), 1 epoch, one torch thread; {load_line()} at the start; "
        f"single-core sgemm {rate / 1e9:.0f} GFLOP/s. One-by-one: the pre-engine eager loop "
        "(`benchmarks/_eager_baseline.py`); stacked: `stages.train_block` / `qat_block` / `prune_block` at "
        f"`train.stack_max_width` {STACK_MAX_WIDTH}. Accuracy: mean test accuracy of the seeds after the epoch.",
        "",
        "| config | stage | one-by-one CPU s | stacked CPU s | ratio | acc one-by-one | acc stacked | floor s "
        "| stacked / floor |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    data_cache = {}
    for arch, topology, width in configs:
        width = int(width)
        if arch not in data_cache:
            full = stages.splits_for(arch, dataset_path(args.dataset), settings)
            data_cache[arch] = subset(full, args.fraction)
        splits = data_cache[arch]
        specs = [RunSpec(args.dataset, arch, topology, width, seed) for seed in range(args.seeds)]
        scale = 1.0 / args.fraction
        floor = floor_seconds(arch, topology, width, splits, rate) * scale
        name = f"{arch} {topology} w{width}"

        # train: per seed-epoch
        t_one, one = cpu(lambda: [eager.train_one(s, splits, settings) for s in specs])
        t_stk, stk = cpu(lambda: stages.train_block(specs, splits, settings, STACK_MAX_WIDTH))
        acc_one = statistics.mean(a for _, a in one)
        acc_stk = statistics.mean(float(f.loc[f["kind"] == "final", "test_acc"].iloc[0]) for _, f in stk)
        nets = [model for model, _ in stk]
        per = lambda t: t * scale / args.seeds  # noqa: E731
        lines.append(
            f"| {name} | train | {per(t_one):.2f} | {per(t_stk):.2f} | {t_one / t_stk:.2f}x | "
            f"{acc_one:.2f} | {acc_stk:.2f} | {floor:.2f} | {per(t_stk) / floor:.1f} |"
        )
        print(lines[-1], flush=True)

        # QAT from scratch: per seed-epoch (training, fake-quant and int8 evaluation included)
        t_one, one = cpu(lambda: [eager.qat_one(s, splits, settings) for s in specs])
        t_stk, stk = cpu(
            lambda: stages.qat_block(specs, splits, settings, QATSettings(), [0.0] * len(specs), None, STACK_MAX_WIDTH)
        )
        acc_one = statistics.mean(one)
        acc_stk = statistics.mean(float(f["int8_test_acc"].iloc[0]) for f in stk)
        lines.append(
            f"| {name} | QAT | {per(t_one):.2f} | {per(t_stk):.2f} | {t_one / t_stk:.2f}x | "
            f"{acc_one:.2f} | {acc_stk:.2f} | {floor:.2f} | {per(t_stk) / floor:.1f} |"
        )
        print(lines[-1], flush=True)

        # prune sweep (11 ratios, test set): per seed, of the trained float models
        ratios = PruneSettings().ratios
        t_one, one = cpu(lambda: [eager.prune_one(net, splits, ratios) for net in nets])
        t_stk, stk = cpu(lambda: stages.prune_block(nets, specs, splits, settings, PruneSettings(), STACK_MAX_WIDTH))
        acc_one = statistics.mean(statistics.mean(accs) for accs in one)
        acc_stk = statistics.mean(float(f["test_acc"].mean()) for f in stk)
        per_seed = lambda t: t * scale / args.seeds  # noqa: E731
        lines.append(
            f"| {name} | prune sweep (per seed) | {per_seed(t_one):.2f} | {per_seed(t_stk):.2f} | "
            f"{t_one / t_stk:.2f}x | {acc_one:.2f} | {acc_stk:.2f} | | |"
        )
        print(lines[-1], flush=True)
    lines += ["", f"Finished with {load_line()}."]
    emit("\n".join(lines), args.output)


if __name__ == "__main__":
    main()
