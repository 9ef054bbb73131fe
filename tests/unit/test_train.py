"""train.py: the training loop, early stopping and restoring the best validation epoch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from minarch import models, train
from minarch.settings import TrainSettings

METRICS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"]


def test_evaluate_matches_manual_and_is_batch_independent(splits):
    model = models.seeded(0, "dnn", "L2e", 5, (1, 28, 28))
    loss, acc = train.evaluate(model, splits.x_test, splits.y_test, batch_size=10000)
    with torch.no_grad():
        logits = model(splits.x_test)
    assert loss == pytest.approx(F.cross_entropy(logits, splits.y_test).item(), rel=1e-6)
    assert acc == pytest.approx(100.0 * (logits.argmax(1) == splits.y_test).double().mean().item())
    small = train.evaluate(model, splits.x_test, splits.y_test, batch_size=7)  # 200 = 28*7 + 4
    assert small == pytest.approx((loss, acc), rel=1e-6)


def test_fit_restores_best_validation_epoch(splits_factory):
    # random labels: a wide net memorises the training set and validation loss rises again
    splits = splits_factory(random_labels=True)
    model = models.seeded(0, "dnn", "L1", 100, (1, 28, 28))
    settings = TrainSettings(learning_rate=0.01, batch_size=50, max_epochs=6, patience=10)
    result = train.fit(model, splits, settings, seed=0)
    val_losses = [row["val_loss"] for row in result.history]
    assert len(result.history) == result.stopped_epoch == 6
    assert result.best_epoch < result.stopped_epoch, "precondition: the last epoch is not the best one"
    assert result.best_epoch == 1 + val_losses.index(min(val_losses))
    final_val_loss, final_val_acc = train.evaluate(model, splits.x_val, splits.y_val)
    # the loop evaluates the stacked form (baddbmm), evaluate() the eager model (addmm): equal up
    # to the rounding of two kernels
    assert final_val_loss == pytest.approx(min(val_losses), rel=1e-6, abs=0)
    assert final_val_acc == result.history[result.best_epoch - 1]["val_acc"]
    assert final_val_loss < val_losses[-1]


def test_history_records_every_epoch(splits):
    model = models.seeded(0, "dnn", "L1", 20, (1, 28, 28))
    result = train.fit(model, splits, TrainSettings(batch_size=50, max_epochs=3), seed=0)
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    for row in result.history:
        assert set(METRICS) | {"seconds"} <= set(row)
        for part in ("train", "val", "test"):
            assert 0.0 <= row[f"{part}_acc"] <= 100.0
            assert row[f"{part}_loss"] > 0
    # a learnable task: training helps
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]
    assert result.history[-1]["train_acc"] > result.history[0]["train_acc"]


def test_early_stopping_after_patience_epochs_without_improvement(splits):
    # learning rate 0: the weights never change, so validation loss never improves after epoch 1
    model = models.seeded(0, "dnn", "L1", 10, (1, 28, 28))
    settings = TrainSettings(learning_rate=0.0, batch_size=100, max_epochs=10, patience=2)
    result = train.fit(model, splits, settings, seed=0)
    assert result.best_epoch == 1
    assert result.stopped_epoch == 1 + settings.patience == 3
    assert len(result.history) == 3
    assert len({row["val_loss"] for row in result.history}) == 1


@pytest.mark.parametrize("patience", [1, 2, 3])
def test_stopped_epoch_bounded_by_best_plus_patience(splits_factory, patience):
    splits = splits_factory(random_labels=True, n_train=200)
    model = models.seeded(1, "dnn", "L1", 50, (1, 28, 28))
    settings = TrainSettings(learning_rate=0.01, batch_size=50, max_epochs=8, patience=patience)
    result = train.fit(model, splits, settings, seed=1)
    assert result.stopped_epoch <= result.best_epoch + patience
    assert result.stopped_epoch == result.best_epoch + patience or result.stopped_epoch == settings.max_epochs
    assert len(result.history) == result.stopped_epoch


def test_max_epochs_argument_overrides_settings(splits):
    model = models.seeded(0, "dnn", "L1", 5, (1, 28, 28))
    result = train.fit(model, splits, TrainSettings(max_epochs=10, patience=20), seed=0, max_epochs=2)
    assert result.stopped_epoch == 2


def test_same_seed_same_history_different_seed_different_order(splits):
    def run(seed):
        model = models.seeded(0, "dnn", "L1", 10, (1, 28, 28))  # same init every time
        result = train.fit(model, splits, TrainSettings(batch_size=30, max_epochs=2), seed=seed)
        return [{k: row[k] for k in METRICS} for row in result.history], model

    first, model_a = run(4)
    second, model_b = run(4)
    other, _ = run(5)
    assert first == second
    for a, b in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(a, b)
    assert [r["train_loss"] for r in other] != [r["train_loss"] for r in first]


def test_final_metrics_are_those_of_the_current_weights(splits):
    model = models.seeded(0, "dnn", "L1", 10, (1, 28, 28))
    metrics = train.final_metrics(model, splits)
    assert set(metrics) == {f"{p}_{m}" for p in ("train", "val", "test") for m in ("loss", "acc")}
    assert (metrics["val_loss"], metrics["val_acc"]) == train.evaluate(model, splits.x_val, splits.y_val)
    assert (metrics["train_loss"], metrics["train_acc"]) == train.evaluate(model, splits.x_train, splits.y_train)
