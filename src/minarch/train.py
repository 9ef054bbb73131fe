"""The training loop: the paper's recipe (docs/design.md §1) written once, for every family,
float and QAT, for one seed or many stacked (``minarch.stacked``).

``fit_stack`` trains the S seeds of a ``Stack`` at once. Per seed, what it computes is what
training that seed alone computes, up to float rounding:

- its initial weights are those the stack was built from (``models.seeded``);
- its data order is ``torch.randperm(n, generator=torch.Generator().manual_seed(seed))``,
  one permutation per epoch;
- the loss is the sum over seeds of each seed's mean cross-entropy, and Adam is element-wise,
  so one Adam over the stacked parameters takes each seed's own steps with its own state;
- early stopping is per seed: patience on its validation loss; its best epoch's weights
  (and, in QAT, its observer state) are kept and restored at the end. A seed that stops
  leaves the stack with its optimizer state, which changes nothing for the others.

With a ``quant`` (``quantize.StackedFakeQuant``) the same loop is QAT: weights and
activations are fake-quantized, and the observers track ranges on training batches only
(evaluation never moves them, so neither the validation nor the test set shapes the
quantization ranges).

A ``checkpoint`` path makes the loop resumable: after every epoch the whole state (weights,
optimizer, early-stopping state, histories, data-order generators) is written there, and a
rerun with the same key continues from the last finished epoch with the same results.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from minarch import stacked
from minarch.data import Splits
from minarch.errors import NonFiniteRows
from minarch.io import atomic_path
from minarch.optim import OPTIMIZERS
from minarch.settings import TrainSettings

log = logging.getLogger("minarch")


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 10000) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (%) of one eager model (float or int8), in large batches."""
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=x.device)
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    for start in range(0, len(y), batch_size):
        logits = model(x[start : start + batch_size])
        target = y[start : start + batch_size]
        loss_sum += F.cross_entropy(logits, target, reduction="sum").double()
        correct += (logits.argmax(1) == target).sum()
    return loss_sum.item() / len(y), 100.0 * correct.item() / len(y)


@torch.no_grad()
def evaluate_stack(
    stack: stacked.Stack, x: torch.Tensor, y: torch.Tensor, batch_size: int = 10000, quant=None, shared=False
) -> tuple[list[float], list[float]]:
    """Per seed: mean cross-entropy and accuracy (%) of the stack on one split. Chunks have a
    length set by the model alone, so a seed's sums do not depend on its stack-mates.
    ``shared``: float models run through ``Stack.forward_shared``, whose results may depend
    on the stack's size (only for stacks whose size the configuration fixes)."""
    if shared and quant is not None:
        raise ValueError("a shared-input evaluation is of float models")
    s = stack.size
    rows = stack.eval_rows(tuple(x.shape[1:]), batch_size)
    loss_sum = torch.zeros(s, dtype=torch.float64, device=x.device)
    correct = torch.zeros(s, dtype=torch.int64, device=x.device)
    observing = quant.observe if quant is not None else None
    if quant is not None:
        quant.observe = False
    try:
        for start in range(0, len(y), rows):
            chunk = x[start : start + rows]
            target = y[start : start + rows]
            if shared:
                logits = stack.forward_shared(chunk)
            else:
                logits = stack.forward(chunk.unsqueeze(0).expand(s, *chunk.shape), quant)
            losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.repeat(s), reduction="none")
            loss_sum += losses.view(s, -1).double().sum(1)
            correct += (logits.argmax(-1) == target).sum(1)
    finally:
        if quant is not None:
            quant.observe = observing
    n = len(y)
    return (loss_sum / n).tolist(), (100.0 * correct.double() / n).tolist()


def best_epoch_row(result: FitResult) -> dict | None:
    """A seed's history row of its best epoch, whose validation and test metrics are those of
    the state ``fit_stack`` restores (the same weights and observer state through the same
    evaluation: chunks set by the model alone, so equal bit for bit whichever seeds were
    stacked then); None where no epoch improved on the start (the state is the initial one)."""
    if result.best_epoch < 1:
        return None
    return next((row for row in result.history if row["epoch"] == result.best_epoch), None)


def final_metrics_stack(
    stack: stacked.Stack,
    splits: Splits,
    batch_size: int = 10000,
    quant=None,
    results: Sequence[FitResult] = (),
    parts: Sequence[str] = ("train", "val", "test"),
) -> list[dict[str, float]]:
    """Per seed: loss and accuracy of the stack's current weights on every split (or on
    ``parts``). With the ``results`` of the ``fit_stack`` that left the stack at its seeds'
    best epochs, the validation and test metrics are read from the best epochs' rows
    (``best_epoch_row``) instead of evaluated again, unless a seed has none; the training
    split is always evaluated (an epoch's row holds the running mean over its batches)."""
    metrics = [{} for _ in range(stack.size)]
    best = [best_epoch_row(result) for result in results]
    recorded = bool(best) and all(row is not None for row in best)
    for part in parts:
        if part != "train" and recorded:
            losses, accs = [row[f"{part}_loss"] for row in best], [row[f"{part}_acc"] for row in best]
        else:
            losses, accs = evaluate_stack(
                stack, getattr(splits, f"x_{part}"), getattr(splits, f"y_{part}"), batch_size, quant
            )
        for m, loss, acc in zip(metrics, losses, accs):
            m[f"{part}_loss"], m[f"{part}_acc"] = loss, acc
    return metrics


def final_metrics(model: nn.Module, splits: Splits, batch_size: int = 10000) -> dict[str, float]:
    """Loss and accuracy of one eager model's current weights on every split, in eval mode."""
    metrics = {}
    for part in ("train", "val", "test"):
        loss, acc = evaluate(model, getattr(splits, f"x_{part}"), getattr(splits, f"y_{part}"), batch_size)
        metrics[f"{part}_loss"], metrics[f"{part}_acc"] = loss, acc
    return metrics


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    stopped_epoch: int = 0


class Checkpoint:
    """A training loop's state after its last finished epoch, in one file written atomically.
    ``key`` names what is being trained (specs, settings, stage); a file with another key is
    not this run's and is ignored (and overwritten)."""

    def __init__(self, path: str | os.PathLike, key: str):
        self.path, self.key = Path(path), key

    def load(self) -> dict | None:
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception as error:  # a damaged checkpoint costs the epochs since the start, nothing more
            log.warning(
                "ignoring unreadable checkpoint %s (%s); training from the start", self.path, type(error).__name__
            )
            return None
        if state.get("key") != self.key:
            log.info("checkpoint %s is for another run; training from the start", self.path)
            return None
        return state

    def save(self, state: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp, open(tmp, "wb") as handle:
            torch.save({"key": self.key, **state}, handle)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")


def _to(tensors, device):
    return [t.to(device) for t in tensors]


def fit_stack(
    stack: stacked.Stack,
    splits: Splits,
    settings: TrainSettings,
    seeds: Sequence[int],
    max_epochs: int | None = None,
    quant=None,
    optimizer: str = "fused",
    checkpoint: Checkpoint | None = None,
    label: str = "",
) -> list[FitResult]:
    """Train every seed of ``stack`` (row i has data-order seed ``seeds[i]``) with Adam and
    per-seed early stopping on validation loss; the stack (and ``quant``) end with each
    seed's best-validation-epoch state. Returns one ``FitResult`` per row; a history row's
    ``seconds`` is the seed's share of the epoch (epoch time / seeds still training)."""
    if len(seeds) != stack.size:
        raise ValueError(f"{len(seeds)} seeds for a stack of {stack.size} models")
    max_epochs = settings.max_epochs if max_epochs is None else max_epochs
    device = stack.device
    all_masks = list(stack.masks)
    best = stack.state()  # every seed's best state, on the full seed axis
    best_quant = quant.state() if quant is not None else None
    opt = OPTIMIZERS[optimizer](stack.buffers, lr=settings.learning_rate, rows=True)
    stack.buffers = opt.params
    generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
    results = [FitResult() for _ in seeds]
    best_loss = [math.inf] * len(seeds)
    active = list(range(len(seeds)))  # rows (of the full stack) still training
    first_epoch = 1

    state = checkpoint.load() if checkpoint is not None else None
    if state is not None:
        first_epoch, active, best_loss = state["epoch"] + 1, state["active"], state["best_loss"]
        results = state["results"]
        best = _to(state["best"], device)
        rows = torch.tensor(active, device=device)
        stack.set_masks([None if m is None else m[rows] for m in all_masks])
        opt = OPTIMIZERS[optimizer](
            [b.requires_grad_(True) for b in _to(state["buffers"], device)], lr=settings.learning_rate, rows=True
        )
        opt.exp_avg, opt.exp_avg_sq = _to(state["exp_avg"], device), _to(state["exp_avg_sq"], device)
        opt.state_steps = _to(state["steps"], device)
        stack.buffers = opt.params
        for generator, saved in zip(generators, state["generators"]):
            generator.set_state(saved)
        if quant is not None:
            quant.load_state({n: _to(v, device) for n, v in state["quant"].items()})
            best_quant = {n: _to(v, device) for n, v in state["best_quant"].items()}
        log.info(
            "%sresuming from the checkpoint after epoch %d (%d of %d seeds still training)",
            label,
            state["epoch"],
            len(active),
            len(seeds),
        )

    x_train, y_train = splits.x_train, splits.y_train
    n, batch = len(y_train), settings.batch_size

    def batch_at(order: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's next batch: inputs (S, b, *image) and targets (S, b)."""
        flat = order[:, start : start + batch].reshape(-1)  # index_select: ~2x faster than x_train[index]
        rows = len(order)
        return (
            torch.index_select(x_train, 0, flat).view(rows, -1, *x_train.shape[1:]),
            torch.index_select(y_train, 0, flat).view(rows, -1),
        )

    def leave(keep: torch.Tensor) -> None:
        """Only rows ``keep`` of the stack go on training; the others leave with their state."""
        stack.buffers = opt.keep(keep.to(device))
        stack.masks = [None if m is None else m[keep.to(m.device)] for m in stack.masks]
        if quant is not None:
            quant.keep(keep.to(device))

    started_all = time.perf_counter()
    for epoch in range(first_epoch, max_epochs + 1) if active else ():
        started = time.perf_counter()
        s = len(active)
        order = torch.stack([torch.randperm(n, generator=generators[i]) for i in active]).to(device)
        loss_sum = torch.zeros(s, device=device)
        correct = torch.zeros(s, dtype=torch.int64, device=device)
        if quant is not None:
            quant.observe = True
        for start in range(0, n, batch):
            inputs, target = batch_at(order, start)
            b = target.shape[1]
            try:
                logits = stack.forward(inputs, quant)
            except NonFiniteRows as error:
                # A QAT seed whose activations left the finite numbers has no valid scale and
                # would stop the whole stack: it leaves the stack with a non-finite epoch row
                # (labelled failed downstream) and keeps its best state so far. The others
                # redo the step (the points before the failing one observed this batch once
                # already: the only way a stack-mate can touch a seed's results).
                rows = torch.tensor([r for r in range(s) if r not in set(error.rows)], dtype=torch.long)
                for row in error.rows:
                    result = results[active[row]]
                    result.history.append({"epoch": epoch, **{k: math.nan for k in _METRICS}, "seconds": 0.0})
                    result.stopped_epoch = epoch
                    log.warning(
                        "%sseed %s diverged in epoch %d (non-finite activations): stopped",
                        label,
                        seeds[active[row]],
                        epoch,
                    )
                active = [active[row] for row in rows.tolist()]
                if not active:
                    break
                leave(rows)
                order, loss_sum, correct, s = order[rows], loss_sum[rows], correct[rows], len(active)
                inputs, target = batch_at(order, start)
                logits = stack.forward(inputs, quant)
            losses = F.cross_entropy(logits.reshape(s * b, -1), target.reshape(-1), reduction="none").view(s, b)
            per_seed = losses.mean(1)
            opt.zero_grad()
            per_seed.sum().backward()
            opt.step()
            loss_sum += per_seed.detach() * b
            correct += (logits.detach().argmax(-1) == target).sum(1)
        if not active:
            break
        val_loss, val_acc = evaluate_stack(stack, splits.x_val, splits.y_val, settings.eval_batch_size, quant)
        test_loss, test_acc = evaluate_stack(stack, splits.x_test, splits.y_test, settings.eval_batch_size, quant)
        train_loss, train_acc = (loss_sum / n).tolist(), (100.0 * correct.double() / n).tolist()
        seconds = (time.perf_counter() - started) / s
        still, improved = [], []
        for row, i in enumerate(active):
            result = results[i]
            result.history.append(
                {
                    "epoch": epoch,
                    "train_loss": train_loss[row],
                    "train_acc": train_acc[row],
                    "val_loss": val_loss[row],
                    "val_acc": val_acc[row],
                    "test_loss": test_loss[row],
                    "test_acc": test_acc[row],
                    "seconds": seconds,
                }
            )
            result.stopped_epoch = epoch
            if val_loss[row] < best_loss[i]:
                best_loss[i], result.best_epoch = val_loss[row], epoch
                improved.append((row, i))
                still.append(row)
            elif epoch - result.best_epoch < settings.patience:
                still.append(row)
        if improved:
            rows = torch.tensor([r for r, _ in improved], device=device)
            targets = torch.tensor([i for _, i in improved], device=device)
            with torch.no_grad():
                for kept, current in zip(best, stack.buffers):
                    kept[targets] = current.detach()[rows]
                if quant is not None:
                    current_quant = quant.state()
                    for name, tensors in best_quant.items():
                        for kept, current in zip(tensors, current_quant[name]):
                            kept[targets] = current[rows]
        if len(still) < s:
            leave(torch.tensor(still, dtype=torch.long))
            active = [active[row] for row in still]
        log.info(
            "%sepoch %d/%d: %d seeds, val loss %s, %.1f s (elapsed %.0f s)",
            label,
            epoch,
            max_epochs,
            s,
            " ".join(f"{v:.4f}" for v in val_loss[:8]) + (" ..." if s > 8 else ""),
            time.perf_counter() - started,
            time.perf_counter() - started_all,
        )
        if checkpoint is not None:  # also after the last epoch: a job's finished stack is not redone
            checkpoint.save(
                {
                    "epoch": epoch,
                    "active": active,
                    "best_loss": best_loss,
                    "results": results,
                    "best": _to(best, "cpu"),
                    "buffers": _to(stack.buffers, "cpu"),
                    "exp_avg": _to(opt.exp_avg, "cpu"),
                    "exp_avg_sq": _to(opt.exp_avg_sq, "cpu"),
                    "steps": _to(opt.state_steps, "cpu"),
                    "generators": [g.get_state() for g in generators],
                    "quant": {k: _to(v, "cpu") for k, v in quant.state().items()} if quant is not None else None,
                    "best_quant": {k: _to(v, "cpu") for k, v in best_quant.items()} if quant is not None else None,
                }
            )
        if not active:
            break
    stack.load_state(best)
    stack.set_masks(all_masks)
    if quant is not None:
        quant.load_state(best_quant)
    return results


def fit(
    model: nn.Module,
    splits: Splits,
    settings: TrainSettings,
    seed: int,
    max_epochs: int | None = None,
    optimizer: str = "fused",
) -> FitResult:
    """Train one eager float model through ``fit_stack`` (a stack of one); it ends with the
    weights of its best validation epoch. ``seed`` fixes the data order."""
    from minarch import models

    stack = stacked.Stack(models.arch_of(model), [model])
    result = fit_stack(stack, splits, settings, [seed], max_epochs, optimizer=optimizer)[0]
    stack.write_into(model, 0)
    return result
