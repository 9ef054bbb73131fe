"""Milliseconds per training step of stacked models (forward, backward, Adam), their batched
linear layers' backward computed two ways in one invocation, interleaved so that both share
the machine's load: ``stacked._BatchedLinear`` (the weight gradient ``grad^T @ h``, in the
weight's own ``(S, out, in)`` layout) and autograd's ``baddbmm`` backward (``h^T @ grad``, the
gradient of the transposed weight, copied into the parameter's layout at every step). Every
family is timed both ways whichever it uses (``stacked._linear``'s ``own_backward``: the ViT
keeps autograd's). One torch thread, random inputs of the datasets' image shapes, the
stacked kernels (``Stack(batched=True)``) even for one seed. Reported: the median of
``--repeats`` timings of each, and their ratio.

    .venv/bin/python benchmarks/batched_linear.py --output benchmarks/reports/batched_linear.md
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from _common import emit, load_line

from minarch import models, stacked

MNIST, CIFAR = (1, 28, 28), (3, 32, 32)
# (arch, topology, width, image shape, seeds): the small sweep's and quick config's DNNs, a
# CIFAR-10 DNN, a CNN (stacked on CUDA only) and the ViTs that stack on the CPU
CASES = [
    ("dnn", "L1", 10, MNIST, 10),
    ("dnn", "L1", 100, MNIST, 10),
    ("dnn", "L2e", 10, MNIST, 10),
    ("dnn", "L2e", 100, MNIST, 10),
    ("dnn", "L1", 5, MNIST, 2),
    ("dnn", "L1", 50, MNIST, 2),
    ("dnn", "L2e", 200, MNIST, 10),
    ("dnn", "L1", 50, CIFAR, 2),
    ("dnn", "L1", 100, CIFAR, 10),
    ("cnn", "conv3x3", 4, MNIST, 10),
    ("vit", "enc2learned", 4, MNIST, 10),
    ("vit", "enc2learned", 8, MNIST, 2),
    ("vit", "enc2learned", 32, MNIST, 2),
]


def forced(linear, own: bool):
    """``stacked._linear`` with its batched backward chosen: ours (True) or autograd's."""

    def forced_linear(h, weight, bias, alone, own_backward=True):
        return linear(h, weight, bias, alone, own)

    return forced_linear


def stepper(arch: str, topology: str, width: int, image: tuple[int, ...], seeds: int, batch: int):
    torch.manual_seed(0)
    stack = stacked.Stack(arch, [models.build(arch, topology, width, image) for _ in range(seeds)], batched=True)
    x, y = torch.randn(seeds, batch, *image), torch.randint(0, 10, (seeds, batch))
    opt = torch.optim.Adam(stack.buffers, lr=1e-3)

    def step():
        logits = stack.forward(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(seeds * batch, -1), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def milliseconds(step, steps: int) -> float:
    for _ in range(3):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.3, help="per timing, roughly")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--output")
    args = parser.parse_args()
    torch.set_num_threads(1)
    linear = stacked._linear
    load = load_line()
    lines = [
        "| family | topology | width | image | seeds | autograd's baddbmm (ms) | `_BatchedLinear` (ms) | speed-up |",
        "|---|---|---:|---|---:|---:|---:|---:|",
    ]
    try:
        for arch, topology, width, image, seeds in CASES:
            step = stepper(arch, topology, width, image, seeds, args.batch)
            steps = max(3, int(args.seconds * 1e3 / milliseconds(step, 3)))
            times = {"autograd": [], "ours": []}
            for _ in range(args.repeats):
                for name, own in (("autograd", False), ("ours", True)):
                    stacked._linear = forced(linear, own)
                    times[name].append(milliseconds(step, steps))
            before, after = statistics.median(times["autograd"]), statistics.median(times["ours"])
            shape = "x".join(map(str, image))
            timings = f"{before:.2f} | {after:.2f} | {before / after:.2f}x"
            lines.append(f"| {arch} | {topology} | {width} | {shape} | {seeds} | {timings} |")
            print(lines[-1], flush=True)
    finally:
        stacked._linear = linear
    header = (
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, one thread, batch {args.batch}, "
        f"median of {args.repeats} interleaved timings; load before: {load}; after: {load_line()}."
    )
    emit(header + "\n\n" + "\n".join(lines), args.output)


if __name__ == "__main__":
    main()
