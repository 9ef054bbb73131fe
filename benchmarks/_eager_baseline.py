"""The pre-engine loop, one eager model at a time (``src/minarch/train.py`` and
``stages.qat_run``/``prune_run`` as of commit 046272c), kept as the baseline that
``stage_speed.py`` measures the stacked engine against. Its eager ``evaluate`` and
``final_metrics`` are still ``minarch.train``'s, unchanged."""

from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F
from torch import nn

from minarch import models, prune, quantize
from minarch.optim import OPTIMIZERS
from minarch.train import FitResult, evaluate, final_metrics  # eager evaluation: unchanged by the engine


def fit(
    model: nn.Module, splits, settings, seed: int, max_epochs: int | None = None, optimizer: str = "fused"
) -> FitResult:
    """Adam + cross-entropy with early stopping on validation loss; the model ends with the
    weights of its best validation epoch. ``seed`` fixes the data order (drawn on the CPU, so
    the same on every device). ``optimizer``: see ``minarch.optim``."""
    max_epochs = settings.max_epochs if max_epochs is None else max_epochs
    generator = torch.Generator().manual_seed(seed)
    adam = OPTIMIZERS[optimizer](list(model.parameters()), lr=settings.learning_rate)
    device = splits.x_train.device
    result = FitResult()
    best_loss, best_state = float("inf"), copy.deepcopy(model.state_dict())
    n = len(splits.y_train)
    for epoch in range(1, max_epochs + 1):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=generator).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        for start in range(0, n, settings.batch_size):
            index = order[start : start + settings.batch_size]
            # index_select: about twice as fast as x_train[index] for these batches
            inputs = torch.index_select(splits.x_train, 0, index)
            target = torch.index_select(splits.y_train, 0, index)
            logits = model(inputs)
            loss = F.cross_entropy(logits, target)
            adam.zero_grad()
            loss.backward()
            adam.step()
            loss_sum += loss.detach() * len(index)
            correct += (logits.detach().argmax(1) == target).sum()
        val_loss, val_acc = evaluate(model, splits.x_val, splits.y_val, settings.eval_batch_size)
        test_loss, test_acc = evaluate(model, splits.x_test, splits.y_test, settings.eval_batch_size)
        result.history.append(
            {
                "epoch": epoch,
                "train_loss": loss_sum.item() / n,
                "train_acc": 100.0 * correct.item() / n,
                "val_loss": val_loss,
                "val_acc": val_acc,
                "test_loss": test_loss,
                "test_acc": test_acc,
                "seconds": time.perf_counter() - started,
            }
        )
        result.stopped_epoch = epoch
        if val_loss < best_loss:
            best_loss, result.best_epoch = val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - result.best_epoch >= settings.patience:
            break
    model.load_state_dict(best_state)
    return result


def train_one(spec, splits, settings):
    """What the train job did per seed: fit, the final model on every split, its rows."""
    from minarch import stages

    model = models.seeded(spec.seed, spec.arch, spec.topology, spec.width, splits.image_shape)
    result = fit(model, splits, settings, spec.seed)
    final = final_metrics(model, splits, settings.eval_batch_size)
    stages._train_frame(spec, model, result, final, 0.0, splits, settings, 1)
    return model, final["test_acc"]


def qat_one(spec, splits, settings, backend="qnnpack"):
    """What the QAT job did per seed (from scratch): train, fake-quant and int8 evaluation, a row."""
    from minarch import stages
    from minarch.settings import QATSettings, settings_columns

    model = models.seeded(spec.seed, spec.arch, spec.topology, spec.width, splits.image_shape)
    float_bytes = quantize.serialized_bytes(model)
    qat_model = quantize.prepare(model, backend, scope="linear")  # the ViT QAT of that commit
    result = fit(qat_model, splits, settings, spec.seed)
    quantize.freeze_observers(qat_model)
    _, fake_quant_acc = evaluate(qat_model, splits.x_test, splits.y_test, settings.eval_batch_size)
    int8_model = quantize.convert(qat_model, backend)
    loss, acc = quantize.evaluate_int8(int8_model, splits.x_test, splits.y_test, settings.eval_batch_size, backend)
    row = {
        "fake_quant_test_acc": fake_quant_acc,
        "int8_test_acc": acc,
        "int8_test_loss": loss,
        "float_bytes": float_bytes,
        "int8_bytes": quantize.serialized_bytes(int8_model),
        "best_epoch": result.best_epoch,
        "stopped_epoch": result.stopped_epoch,
    }
    qat = QATSettings(scope=("linear",), ptq=False)
    columns = {**settings_columns("qat", qat), **settings_columns("train", settings)}
    stages._with_run_columns([row], spec, models.parameter_count(model), columns)
    return acc


def prune_one(model, spec, splits, settings, prune_settings):
    """What the prune job did per seed: a fresh copy per ratio, pruned and evaluated, its rows."""
    import json

    from minarch import stages
    from minarch.settings import settings_columns

    trained_state = {name: value.clone() for name, value in model.state_dict().items()}
    rows = []
    for ratio in prune_settings.ratios:
        model.load_state_dict(trained_state)
        prune.prune_globally(model, ratio)
        achieved, per_layer = prune.sparsity(model)
        loss, acc = evaluate(model, splits.x_test, splits.y_test, settings.eval_batch_size)
        rows.append(
            {
                "ratio": ratio,
                "achieved_sparsity": achieved,
                "test_loss": loss,
                "test_acc": acc,
                "layer_sparsity": json.dumps(per_layer, sort_keys=True),
            }
        )
        prune.make_permanent(model)
    model.load_state_dict(trained_state)
    stages._with_run_columns(rows, spec, models.parameter_count(model), settings_columns("prune", prune_settings))
    return [r["test_acc"] for r in rows]
