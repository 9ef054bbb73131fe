"""Where a minarch train job spends its time on small models, and what two safe changes to
``train.fit`` save (issue #5; both are now in ``train.fit``: ``index_select`` and
``minarch.optim.Adam(fused=True)``, and this script's ``torch`` loop is the loop before them).

    .venv/bin/python benchmarks/profile_train.py --output benchmarks/reports/profile_train.md

Part 1, process start (fresh interpreters, ``--repeats`` each, median of wall and CPU seconds):
bare Python, ``import torch``, minarch's imports, the Snakemake script preamble's imports,
loading the dataset, and the first ``torch.optim.Adam`` step (which imports ``torch._dynamo``:
``torch/optim/optimizer.py``'s ``_use_grad_for_differentiable`` wrapper of every ``step()``
and the ``@torch._disable_dynamo`` decorator of ``zero_grad()`` import it on first call; no
optimizer argument such as ``foreach=False`` avoids it).

Part 2, one epoch of ``--topology``/``--width`` on the real dataset, one thread, in CPU
seconds (the machine is shared; wall seconds would measure the other jobs), split into
data indexing, forward + loss, backward, optimizer step and evaluation; then the epoch time
of ``train.fit`` against the same loop with (a) ``torch.index_select`` instead of
``x_train[index]`` and (b) ``minarch.optim.Adam`` (torch's single-tensor Adam arithmetic,
bit-identical) instead of ``torch.optim.Adam``, (c) the same with ``fused=True``
(``torch.optim.Adam(fused=True)``'s kernel, rounding-level differences), checking the trained
weights against ``train.fit``'s.
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import dataset_path, emit, load_line

PYTHON = sys.executable

STARTUP = {
    "python (bare interpreter)": "pass",
    "import torch": "import torch",
    "import torch, torchvision.transforms (baseline)": "import torch, torchvision.transforms",
    "import torch + minarch.stages (train job)": "import torch; from minarch import stages",
    "Snakemake script preamble imports": "import pickle; from snakemake.logging import logger; "
    "from snakemake.iocontainers import Snakemake",
    "import torch + minarch + load MNIST splits": "import torch; from minarch import stages; "
    "from minarch.settings import TrainSettings; "
    "stages.splits_for('dnn', {data!r}, TrainSettings())",
    "import torch + first torch.optim.Adam step": "import torch; m = torch.nn.Linear(2, 2); "
    "o = torch.optim.Adam(m.parameters()); m(torch.ones(1, 2)).sum()"
    ".backward(); o.step()",
    "import torch + first lean Adam step (minarch.optim.Adam)": "import torch; from minarch.optim import Adam; "
    "m = torch.nn.Linear(2, 2); o = Adam(list("
    "m.parameters())); m(torch.ones(1, 2)).sum()"
    ".backward(); o.step()",
}


def child_seconds(code: str) -> tuple[float, float]:
    """Wall and CPU seconds of a fresh interpreter running ``code`` (one torch thread)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([PYTHON, "-c", code], check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def startup_table(data: Path, repeats: int) -> list[str]:
    lines = ["| process start | wall s (median) | CPU s (median) |", "|---|---:|---:|"]
    for name, code in STARTUP.items():
        runs = [child_seconds(code.format(data=str(data))) for _ in range(repeats)]
        lines.append(
            f"| {name} | {statistics.median(r[0] for r in runs):.2f} | {statistics.median(r[1] for r in runs):.2f} |"
        )
        print(lines[-1], file=sys.stderr, flush=True)
    return lines


def epoch_variants(data: Path, topology: str, width: int, epochs: int, repeats: int) -> list[str]:
    import torch
    import torch.nn.functional as F

    from minarch import models, optim, stages, train
    from minarch.settings import TrainSettings

    torch.set_num_threads(1)
    settings = TrainSettings(max_epochs=epochs, patience=epochs + 1)
    splits = stages.splits_for("dnn", data, settings)
    n, batch = len(splits.y_train), settings.batch_size

    def loop(model, seed, gather: str, adam: str, timers: dict | None = None):
        """train.fit's loop, optionally split into timed phases and with the two changes."""
        generator = torch.Generator().manual_seed(seed)
        params = list(model.parameters())
        optimizer = (
            torch.optim.Adam(params, lr=settings.learning_rate)
            if adam == "torch"
            else optim.Adam(params, lr=settings.learning_rate, fused=adam == "fused")
        )
        best_loss, best_state = float("inf"), copy.deepcopy(model.state_dict())
        clock = time.process_time  # CPU seconds: robust to the other jobs on the machine
        for _epoch in range(1, epochs + 1):
            order = torch.randperm(n, generator=generator)
            loss_sum = torch.zeros(())
            correct = torch.zeros((), dtype=torch.int64)
            for start in range(0, n, batch):
                t0 = clock()
                index = order[start : start + batch]
                if gather == "index_select":
                    inputs, target = splits.x_train.index_select(0, index), splits.y_train.index_select(0, index)
                else:
                    inputs, target = splits.x_train[index], splits.y_train[index]
                t1 = clock()
                logits = model(inputs)
                loss = F.cross_entropy(logits, target)
                t2 = clock()
                optimizer.zero_grad()
                loss.backward()
                t3 = clock()
                optimizer.step()
                t4 = clock()
                loss_sum += loss.detach() * len(index)
                correct += (logits.detach().argmax(1) == target).sum()
                t5 = clock()
                if timers is not None:
                    for name, seconds in (
                        ("indexing", t1 - t0),
                        ("forward + loss", t2 - t1),
                        ("zero_grad + backward", t3 - t2),
                        ("optimizer step", t4 - t3),
                        ("metrics (tensor ops)", t5 - t4),
                    ):
                        timers[name] = timers.get(name, 0.0) + seconds
            t6 = clock()
            val_loss, _ = train.evaluate(model, splits.x_val, splits.y_val, settings.eval_batch_size)
            train.evaluate(model, splits.x_test, splits.y_test, settings.eval_batch_size)
            loss_sum.item(), correct.item()
            if timers is not None:
                timers["evaluate val + test"] = timers.get("evaluate val + test", 0.0) + clock() - t6
            if val_loss < best_loss:
                best_loss, best_state = val_loss, copy.deepcopy(model.state_dict())
        model.load_state_dict(best_state)
        return model

    warm = models.seeded(0, "dnn", topology, width, splits.image_shape)
    train.fit(warm, splits, settings, 0, max_epochs=1, optimizer="torch")  # torch._dynamo's import, untimed

    timers: dict[str, float] = {}
    loop(models.seeded(1, "dnn", topology, width, splits.image_shape), 1, "index", "torch", timers)
    total = sum(timers.values())
    lines = [
        f"| phase of one epoch ({topology} w{width}, torch.optim.Adam, x[index]) | CPU s per epoch | share |",
        "|---|---:|---:|",
    ]
    for name, seconds in timers.items():
        lines.append(f"| {name} | {seconds / epochs:.3f} | {100 * seconds / total:.0f}% |")
    lines.append(f"| **total** | {total / epochs:.3f} | |")
    steps = -(-n // batch)
    lines += [
        "",
        f"({steps} steps per epoch; per step: "
        f"{1e3 * (total - timers['evaluate val + test']) / (epochs * steps):.2f} ms)",
        "",
    ]

    variants = [
        ("before: torch.optim.Adam, x[index]", lambda m, s: loop(m, s, "index", "torch")),
        ("(a) index_select", lambda m, s: loop(m, s, "index_select", "torch")),
        ("(b) lean Adam", lambda m, s: loop(m, s, "index", "lean")),
        ("(a) + (b)", lambda m, s: loop(m, s, "index_select", "lean")),
        ("(c) fused lean Adam", lambda m, s: loop(m, s, "index", "fused")),
        ("(a) + (c)", lambda m, s: loop(m, s, "index_select", "fused")),
        ("train.fit (now (a) + (c))", lambda m, s: train.fit(m, splits, settings, s)),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in variants}
    weights: dict[str, list] = {}
    for _repeat in range(repeats):  # round-robin, so that load changes hit every variant alike
        for name, run in variants:
            model = models.seeded(0, "dnn", topology, width, splits.image_shape)
            started = time.process_time()
            run(model, 0)
            times[name].append((time.process_time() - started) / epochs)
            weights[name] = [p.detach().clone() for p in model.parameters()]
    before = variants[0][0]
    lines += [
        f"| {topology} w{width}, {epochs} epoch(s), median of {repeats} | CPU s per epoch | vs before | "
        "weights vs before |",
        "|---|---:|---:|---|",
    ]
    base = statistics.median(times[before])
    reference = weights[before]
    for name, _ in variants:
        diff = max((a - b).abs().max().item() for a, b in zip(weights[name], reference))
        median = statistics.median(times[name])
        lines.append(
            f"| {name} | {median:.3f} | {base / median:.2f}x | {'identical' if diff == 0 else f'max diff {diff:.1e}'} |"
        )
        print(lines[-1], file=sys.stderr, flush=True)
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--topology", default="L1")
    parser.add_argument("--widths", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    data = dataset_path(args.dataset)
    lines = [
        f"## Profile of minarch training ({args.dataset}, one torch thread)",
        "",
        f"{load_line()} at the start",
        "",
    ]
    if not args.skip_startup:
        lines += startup_table(data, args.repeats) + [""]
    for width in args.widths:
        lines += epoch_variants(data, args.topology, width, args.epochs, args.repeats) + [""]
    lines.append(f"{load_line()} at the end")
    text = "\n".join(lines)
    emit(text, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
