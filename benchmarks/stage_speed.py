"""CPU seconds per seed-epoch (train, QAT) and per seed (prune sweep) for each family, two
ways in one invocation so that both share the machine's load: the engine one seed at a time,
and the engine with all seeds as one stack. On real data, one torch thread. What stacking
buys; it set which configurations a job stacks (``registry.Family.stack_max_width``,
docs/design.md §4).

    .venv/bin/python benchmarks/stage_speed.py --output benchmarks/reports/stage_speed.md
    .venv/bin/python benchmarks/stage_speed.py --configs vit:enc2:4 dnn:L1:10 --seeds 10
    .venv/bin/python benchmarks/stage_speed.py --configs vit:enc2learned:4 --scope linear   # the ViT QAT scope

``--fraction`` (default 0.25) trains and evaluates on that fraction of every split (same
proportions), so one epoch costs that fraction of a real one; CPU seconds are scaled back to a
full epoch. The mean test accuracies after the epoch show that both ways train alike. Also
reported: each configuration's arithmetic floor (``macs_per_image``: forward and backward on
the training images, forward on validation and test, at the single-core sgemm rate measured
at the start) and the faster engine time's ratio to it."""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _common import dataset_path, emit, load_line

from minarch import models, stages
from minarch.data import Splits
from minarch.settings import PruneSettings, QATSettings, RunSpec, TrainSettings

CONFIGS = [
    ("dnn", "L1", 2),
    ("dnn", "L1", 10),
    ("dnn", "L4eee", 5),
    ("dnn", "L4eee", 50),
    ("dnn", "L2e", 100),
    ("cnn", "conv3x3", 4),
    ("cnn", "conv3x3", 16),
    ("vit", "enc2", 4),
    ("vit", "enc2", 16),
]


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
    parser.add_argument("--scope", default="full", help="the ViT's QAT scope (linear, attention, full)")
    parser.add_argument("--output")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    configs = [tuple(c.split(":")) for c in args.configs] if args.configs else CONFIGS
    settings = TrainSettings(max_epochs=1)
    rate = sgemm_rate()
    lines = [
        "# Stage speed: the engine, one seed at a time and stacked",
        "",
        f"{args.seeds} seeds per configuration, {args.dataset}, {args.fraction:g} of every split "
        f"(CPU seconds scaled to a full epoch), 1 epoch, one torch thread, the ViT's QAT under scope "
        f"`{args.scope}`; {load_line()} at the start; "
        f"single-core sgemm {rate / 1e9:.0f} GFLOP/s. CPU seconds per seed-epoch (train, QAT from scratch with "
        "its fake-quant and int8 evaluation) and per seed (prune sweep, 11 ratios). *engine x1*: "
        "`stages.train_block` / `qat_block` / `prune_block` one seed at a time; *engine x10*: the same with all "
        "seeds as one stack (pruned models 8 at a time). Accuracy: mean test accuracy of the seeds after the "
        "epoch (x1 / stacked). Floor: the epoch's multiply-adds at the sgemm rate (`macs_per_image`).",
        "",
        "| config | stage | engine x1 | engine x10 | x10 vs x1 | acc x1 | acc x10 | floor s | best / floor |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    alone, stack_all = {}, {"dnn": 10**6, "cnn": 10**6, "vit": 10**6}
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

        def row(stage, times, accs, per_epoch=True):
            one, many = (t * scale / args.seeds for t in times)
            ratio_floor = f"{min(one, many) / floor:.1f}" if per_epoch else ""
            lines.append(
                f"| {name} | {stage} | {one:.2f} | {many:.2f} | {one / many:.2f}x | {accs[0]:.2f} | {accs[1]:.2f} | "
                f"{f'{floor:.2f}' if per_epoch else ''} | {ratio_floor} |"
            )
            print(lines[-1], flush=True)

        def final_acc(frame):
            return float(frame.loc[frame["kind"] == "final", "test_acc"].iloc[0])

        t_one, one = cpu(lambda: stages.train_block(specs, splits, settings, alone))
        t_many, many = cpu(lambda: stages.train_block(specs, splits, settings, stack_all))
        row(
            "train",
            (t_one, t_many),
            (statistics.mean(final_acc(f) for _, f in one), statistics.mean(final_acc(f) for _, f in many)),
        )
        nets = [model for model, _ in many]

        floats = [0.0] * len(specs)

        def int8_acc(frames):
            return statistics.mean(float(f["int8_test_acc"].iloc[0]) for f in frames)

        qat = QATSettings(scope=(args.scope,), ptq=False)  # QAT alone: PTQ costs the same whatever the engine
        t_one, one = cpu(lambda: stages.qat_block(specs, splits, settings, qat, floats, None, alone))
        t_many, many = cpu(lambda: stages.qat_block(specs, splits, settings, qat, floats, None, stack_all))
        row("QAT", (t_one, t_many), (int8_acc(one), int8_acc(many)))

        def pruned_acc(frames):
            return statistics.mean(float(f["test_acc"].mean()) for f in frames)

        t_one, one = cpu(lambda: stages.prune_block(nets, specs, splits, settings, PruneSettings()))
        t_many, many = cpu(lambda: stages.prune_block(nets, specs, splits, settings, PruneSettings(), stack_models=8))
        row("prune sweep (per seed)", (t_one, t_many), (pruned_acc(one), pruned_acc(many)), per_epoch=False)
    lines += ["", f"Finished with {load_line()}."]
    emit("\n".join(lines), args.output)


if __name__ == "__main__":
    main()
