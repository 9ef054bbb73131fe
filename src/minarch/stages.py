"""One run through each stage: train, prune-sweep, QAT. Each returns the Parquet rows of its
stage; the Snakemake scripts only load inputs, loop over seeds and write files."""

from __future__ import annotations

import dataclasses
import json
import time

import pandas as pd
import torch
from torch import nn

from minarch import ensemble, models, prune, quantize
from minarch.data import Splits, load_splits
from minarch.io import versions
from minarch.settings import PruneSettings, QATSettings, RunSpec, TrainSettings, settings_columns
from minarch.train import FitResult, evaluate, final_metrics, fit


def _with_run_columns(rows: list[dict], spec: RunSpec, n_params: int, settings: dict) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    front = {**spec.columns(), "n_params": n_params}
    for position, (name, value) in enumerate(front.items()):
        frame.insert(position, name, value)
    for name, value in {**settings, **versions()}.items():
        frame[name] = value
    return frame


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: the GPU when CUDA is present, else the CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
    return torch.device(name)


def splits_for(arch: str, dataset_path, settings: TrainSettings, device: str = "cpu") -> Splits:
    """The dataset's splits as ``arch`` sees them (the ViT's images resized to its patch
    grid), held on ``device`` for the whole job: training and evaluation run where they are."""
    splits = load_splits(dataset_path, settings.validation_fraction, settings.split_seed,
                         transform=models.input_transform(arch))
    target = resolve_device(device)
    if target.type == "cpu":
        return splits
    return Splits(*(tensor.to(target) for tensor in dataclasses.astuple(splits)))


def train_run(spec: RunSpec, splits: Splits, settings: TrainSettings) -> tuple[nn.Module, pd.DataFrame]:
    """Train one seed; rows: one per epoch (``kind='epoch'``) and the restored best-epoch
    model's metrics on every split (``kind='final'``, ``epoch`` = best epoch)."""
    model = models.seeded(spec.seed, spec.arch, spec.topology, spec.width, splits.image_shape)
    model.to(splits.x_train.device)  # initialised on the CPU: the same weights on every device
    started = time.perf_counter()
    result = fit(model, splits, settings, spec.seed)
    final = final_metrics(model, splits, settings.eval_batch_size)
    return model, _train_frame(spec, model, result, final, time.perf_counter() - started, splits, settings, 1)


def train_block(specs: list[RunSpec], splits: Splits, settings: TrainSettings,
                ensemble_max_width: int = 0) -> list[tuple[nn.Module, pd.DataFrame]]:
    """Train a job's seeds of one configuration, per spec what ``train_run`` returns. DNNs up
    to ``ensemble_max_width`` train as one stacked ensemble (``minarch.ensemble``: several
    times faster for small widths, equal up to float rounding); ``seconds`` is then each
    seed's share of the ensemble's time and ``stacked_seeds`` says how many trained together."""
    stacked = len(specs) > 1 and specs[0].arch == "dnn" and specs[0].width <= ensemble_max_width
    if not stacked:
        return [train_run(spec, splits, settings) for spec in specs]
    started = time.perf_counter()
    trained = ensemble.train_dnn_ensemble(specs, splits, settings)
    finals = ensemble.final_metrics_stacked([model for model, _ in trained], splits, settings.eval_batch_size)
    seconds = (time.perf_counter() - started) / len(specs)
    return [(model, _train_frame(spec, model, result, final, seconds, splits, settings, len(specs)))
            for spec, (model, result), final in zip(specs, trained, finals)]


def _train_frame(spec: RunSpec, model: nn.Module, result: FitResult, final: dict, seconds: float, splits: Splits,
                 settings: TrainSettings, stacked_seeds: int) -> pd.DataFrame:
    rows = [{"kind": "epoch", **row} for row in result.history]
    rows.append({"kind": "final", "epoch": result.best_epoch, **final, "seconds": seconds})
    frame = _with_run_columns(rows, spec, models.parameter_count(model), settings_columns("train", settings))
    frame["stopped_epoch"] = result.stopped_epoch
    frame["device"] = splits.x_train.device.type
    frame["stacked_seeds"] = stacked_seeds
    return frame


def prune_run(model: nn.Module, spec: RunSpec, splits: Splits, train_settings: TrainSettings,
              settings: PruneSettings) -> pd.DataFrame:
    """Accuracy of ``model`` under global L1 pruning at each ratio (fresh copy per ratio)."""
    model.to(splits.x_train.device)
    trained_state = {name: value.clone() for name, value in model.state_dict().items()}
    rows = []
    for ratio in settings.ratios:
        model.load_state_dict(trained_state)
        prune.prune_globally(model, ratio)
        if settings.finetune_epochs > 0 and ratio > 0:
            fit(model, splits, train_settings, spec.seed, max_epochs=settings.finetune_epochs)
        achieved, per_layer = prune.sparsity(model)
        test_loss, test_acc = evaluate(model, splits.x_test, splits.y_test, train_settings.eval_batch_size)
        rows.append({"ratio": ratio, "achieved_sparsity": achieved, "test_loss": test_loss,
                     "test_acc": test_acc, "layer_sparsity": json.dumps(per_layer, sort_keys=True)})
        prune.make_permanent(model)
    model.load_state_dict(trained_state)  # hand the caller back its trained model
    return _with_run_columns(rows, spec, models.parameter_count(model), settings_columns("prune", settings))


def qat_run(spec: RunSpec, splits: Splits, train_settings: TrainSettings, settings: QATSettings,
            float_test_acc: float, float_model: nn.Module | None = None) -> pd.DataFrame:
    """QAT from scratch (same recipe and seed as the float run) or fine-tuned from the float
    weights, then a real int8 model evaluated on the test set by the quantized engine."""
    if settings.mode == "scratch":
        model = models.seeded(spec.seed, spec.arch, spec.topology, spec.width, splits.image_shape)
        max_epochs = train_settings.max_epochs
    elif settings.mode == "finetune":
        if float_model is None:
            raise ValueError("QAT mode 'finetune' needs the trained float model")
        model, max_epochs = float_model, settings.finetune_epochs
    else:
        raise ValueError(f"unknown QAT mode {settings.mode!r}; use scratch or finetune")
    n_params = models.parameter_count(model)
    float_bytes = quantize.serialized_bytes(model)
    qat_model = quantize.prepare(model, settings.backend).to(splits.x_train.device)
    started = time.perf_counter()
    result = fit(qat_model, splits, train_settings, spec.seed, max_epochs=max_epochs)
    quantize.freeze_observers(qat_model)
    _, fake_quant_acc = evaluate(qat_model, splits.x_test, splits.y_test, train_settings.eval_batch_size)
    int8_model = quantize.convert(qat_model, settings.backend)
    int8_loss, int8_acc = quantize.evaluate_int8(int8_model, splits.x_test, splits.y_test,
                                                 train_settings.eval_batch_size, settings.backend)
    row = {
        "float_test_acc": float_test_acc,
        "fake_quant_test_acc": fake_quant_acc,
        "int8_test_acc": int8_acc,
        "int8_test_loss": int8_loss,
        "gap_pp": float_test_acc - int8_acc,
        "float_bytes": float_bytes,
        "int8_bytes": quantize.serialized_bytes(int8_model),
        "best_epoch": result.best_epoch,
        "stopped_epoch": result.stopped_epoch,
        "seconds": time.perf_counter() - started,
        "int8_is_quantized": quantize.is_quantized(int8_model),
    }
    columns = {**settings_columns("qat", settings), **settings_columns("train", train_settings)}
    return _with_run_columns([row], spec, n_params, columns)
