"""Seed-vectorised training of one DNN configuration (docs/design.md §4).

``train_dnn_ensemble`` trains the S seeds of one (dataset, topology, width) at once: every
linear layer becomes a stacked weight ``(S, in, out)`` and bias ``(S, 1, out)`` applied with
``torch.baddbmm``, so one Python step (forward, backward, optimizer) serves all seeds. What
each seed computes is what ``train.fit`` computes for it alone:

- its initial weights are those of ``models.seeded(seed, ...)`` (copied into the stack);
- its data order is ``torch.randperm(n, generator=torch.Generator().manual_seed(seed))``,
  one permutation per epoch, as in ``train.fit``;
- the loss is the sum over seeds of each seed's mean cross-entropy, and Adam is element-wise,
  so one Adam over the stacked parameters takes each seed's own steps;
- early stopping is per seed (patience on its validation loss, best-epoch weights kept).
  A seed that has stopped is dropped from the stack (with its optimizer state), which
  changes nothing for the others.

The results agree with ``train.fit`` up to float rounding (batched matrix products sum in a
different order); ``tests/unit/test_ensemble.py`` checks weights and metrics.

The optimizer is ``minarch.optim.Adam``, as in ``train.fit``; ``optimizer="fused"`` (the
default of both) is ``torch.optim.Adam(fused=True)``'s kernel, ``"lean"`` torch's default
single-tensor arithmetic, ``"torch"`` ``torch.optim.Adam`` itself. With the same optimizer on
both sides, a seed trained here and by ``train.fit`` differ only by the rounding of batched
vs single matrix products.
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from minarch import models
from minarch.data import Splits
from minarch.optim import OPTIMIZERS
from minarch.settings import RunSpec, TrainSettings
from minarch.train import FitResult

# Evaluation works on (seeds, rows, width) activations; keep each chunk's largest one about
# this many floats (64 MiB) so 30 seeds of width 1000 still fit comfortably in memory.
EVAL_CHUNK_ELEMENTS = 1 << 24




def _linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def stack(models_: Sequence[nn.Module]) -> list[torch.Tensor]:
    """Per linear layer of same-shaped DNNs: weight ``(S, in, out)`` then bias ``(S, 1, out)``
    (the transposed ``nn.Linear`` weight, so that ``baddbmm(bias, x, weight)`` is the layer)."""
    layers = list(zip(*(_linears(m) for m in models_)))
    params = []
    for per_seed in layers:
        params.append(torch.stack([layer.weight.detach().t() for layer in per_seed]).contiguous())
        params.append(torch.stack([layer.bias.detach()[None, :] for layer in per_seed]).contiguous())
    return params


@torch.no_grad()
def unstack_into(model: nn.Module, params: Sequence[torch.Tensor], row: int) -> nn.Module:
    """Copy seed ``row`` of stacked parameters into the linear layers of ``model``."""
    for layer, weight, bias in zip(_linears(model), params[0::2], params[1::2]):
        layer.weight.copy_(weight[row].t())
        layer.bias.copy_(bias[row, 0])
    return model


def stacked_forward(params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Logits ``(S, B, classes)`` of S stacked DNNs on per-seed inputs ``x`` ``(S, B, features)``."""
    h = x
    last = len(params) // 2 - 1
    for i in range(last + 1):
        h = torch.baddbmm(params[2 * i + 1], h, params[2 * i])
        if i < last:
            h = torch.relu(h)
    return h


def shared_forward(params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Logits ``(S, N, classes)`` of S stacked DNNs on the same inputs ``x`` ``(N, features)``:
    the first layer is one matrix product with the seeds' weights side by side."""
    weight, bias = params[0], params[1]
    s, features, out = weight.shape
    h = (x @ weight.permute(1, 0, 2).reshape(features, s * out)).view(len(x), s, out).transpose(0, 1)
    h = h + bias
    if len(params) == 2:
        return h
    return stacked_forward(params[2:], torch.relu(h))


@torch.inference_mode()
def evaluate_stacked(params: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                     max_rows: int | None = None) -> tuple[list[float], list[float]]:
    """Per seed: mean cross-entropy and accuracy (%) of stacked DNNs on one split."""
    s = params[0].shape[0]
    widest = max(p.shape[-1] for p in params)
    rows = max(1, EVAL_CHUNK_ELEMENTS // (s * widest))
    if max_rows is not None:
        rows = min(rows, max_rows)
    x = x.reshape(len(x), -1)
    loss_sum = torch.zeros(s, dtype=torch.float64, device=x.device)
    correct = torch.zeros(s, dtype=torch.int64, device=x.device)
    for start in range(0, len(y), rows):
        logits = shared_forward(params, x[start : start + rows])
        target = y[start : start + rows]
        losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.repeat(s), reduction="none")
        loss_sum += losses.view(s, -1).sum(1).double()
        correct += (logits.argmax(-1) == target).sum(1)
    n = len(y)
    return (loss_sum / n).tolist(), (100.0 * correct.double() / n).tolist()


def _check_specs(specs: Sequence[RunSpec]) -> None:
    if not specs:
        raise ValueError("train_dnn_ensemble needs at least one RunSpec")
    shapes = {(s.dataset, s.arch, s.topology, s.width) for s in specs}
    if len(shapes) != 1:
        raise ValueError(f"an ensemble trains seeds of one configuration; got {sorted(shapes)}")
    if specs[0].arch != "dnn":
        raise ValueError(f"only the DNN can be trained as a stacked ensemble, not {specs[0].arch!r}")
    seeds = [s.seed for s in specs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"duplicate seeds in the ensemble: {seeds}")


def train_dnn_ensemble(specs: Sequence[RunSpec], splits: Splits, settings: TrainSettings,
                       max_epochs: int | None = None, max_stack: int | None = None,
                       optimizer: str = "fused") -> list[tuple[nn.Sequential, FitResult]]:
    """Train every seed of one DNN configuration as a stacked ensemble; per spec (same order):
    the ``models.dnn`` model with its best-validation-epoch weights and a ``FitResult`` laid
    out as ``train.fit``'s. ``seconds`` in each history row is the seed's share of the epoch
    (the ensemble's epoch time divided by the seeds trained in it). ``max_stack`` trains at
    most that many seeds at once (in order), bounding memory for wide networks. ``optimizer``:
    ``"fused"`` (default; ``torch.optim.Adam(fused=True)``'s kernel, the fastest), ``"lean"``
    (``torch.optim.Adam``'s default CPU arithmetic: bit-identical to ``train.fit``) or
    ``"torch"`` (``torch.optim.Adam`` itself)."""
    _check_specs(specs)
    if max_stack is not None and max_stack < len(specs):
        results = []
        for start in range(0, len(specs), max_stack):
            results += train_dnn_ensemble(specs[start : start + max_stack], splits, settings, max_epochs,
                                          None, optimizer)
        return results
    max_epochs = settings.max_epochs if max_epochs is None else max_epochs
    device = splits.x_train.device  # initialised on the CPU: the same weights on every device
    nets = [models.seeded(s.seed, "dnn", s.topology, s.width, splits.image_shape) for s in specs]
    params = [p.to(device).requires_grad_(True) for p in stack(nets)]
    best = [p.detach().clone() for p in params]  # every seed's best state, on the full seed axis
    opt = OPTIMIZERS[optimizer](params, lr=settings.learning_rate)
    generators = [torch.Generator().manual_seed(s.seed) for s in specs]
    results = [FitResult() for _ in specs]
    best_loss = [math.inf] * len(specs)
    active = list(range(len(specs)))  # positions (in specs) of the seeds still training

    x_train = splits.x_train.reshape(len(splits.x_train), -1)
    y_train = splits.y_train
    n = len(y_train)
    batch = settings.batch_size
    for epoch in range(1, max_epochs + 1):
        started = time.perf_counter()
        s = len(active)
        order = torch.stack([torch.randperm(n, generator=generators[i]) for i in active]).to(device)
        loss_sum = torch.zeros(s, device=device)
        correct = torch.zeros(s, dtype=torch.int64, device=device)
        for start in range(0, n, batch):
            index = order[:, start : start + batch]
            b = index.shape[1]
            flat = index.reshape(-1)  # index_select: twice as fast as x_train[index] here
            inputs = torch.index_select(x_train, 0, flat).view(s, b, -1)
            target = torch.index_select(y_train, 0, flat).view(s, b)
            logits = stacked_forward(opt.params, inputs)
            losses = F.cross_entropy(logits.reshape(s * b, -1), target.reshape(-1), reduction="none").view(s, b)
            per_seed = losses.mean(1)
            opt.zero_grad()
            per_seed.sum().backward()
            opt.step()
            loss_sum += per_seed.detach() * b
            correct += (logits.detach().argmax(-1) == target).sum(1)
        val_loss, val_acc = evaluate_stacked(opt.params, splits.x_val, splits.y_val, settings.eval_batch_size)
        test_loss, test_acc = evaluate_stacked(opt.params, splits.x_test, splits.y_test, settings.eval_batch_size)
        train_loss, train_acc = (loss_sum / n).tolist(), (100.0 * correct.double() / n).tolist()
        seconds = (time.perf_counter() - started) / s
        still = []
        improved = []
        for row, i in enumerate(active):
            result = results[i]
            result.history.append({
                "epoch": epoch,
                "train_loss": train_loss[row],
                "train_acc": train_acc[row],
                "val_loss": val_loss[row],
                "val_acc": val_acc[row],
                "test_loss": test_loss[row],
                "test_acc": test_acc[row],
                "seconds": seconds,
            })
            result.stopped_epoch = epoch
            if val_loss[row] < best_loss[i]:
                best_loss[i], result.best_epoch = val_loss[row], epoch
                improved.append((row, i))
                still.append(row)
            elif epoch - result.best_epoch < settings.patience:
                still.append(row)
        if improved:
            rows = torch.tensor([r for r, _ in improved], device=device)
            seeds = torch.tensor([i for _, i in improved], device=device)
            with torch.no_grad():
                for kept, current in zip(best, opt.params):
                    kept[seeds] = current.detach()[rows]
        if not still:
            break
        if len(still) < s:
            opt.keep(torch.tensor(still, device=device))
            active = [active[row] for row in still]
    return [(unstack_into(net.to(device), best, i), result) for i, (net, result) in enumerate(zip(nets, results))]


@torch.inference_mode()
def final_metrics_stacked(nets: Sequence[nn.Module], splits: Splits,
                          batch_size: int | None = None) -> list[dict[str, float]]:
    """``train.final_metrics`` for same-shaped DNNs at once: loss and accuracy on every split."""
    params = stack(nets)  # on the models' device
    metrics = [{} for _ in nets]
    for part in ("train", "val", "test"):
        losses, accs = evaluate_stacked(params, getattr(splits, f"x_{part}"), getattr(splits, f"y_{part}"),
                                        batch_size)
        for m, loss, acc in zip(metrics, losses, accs):
            m[f"{part}_loss"], m[f"{part}_acc"] = loss, acc
    return metrics
