"""One run through each stage: train, prune-sweep, QAT. Each returns the Parquet rows of its
stage; the Snakemake scripts load inputs, call these, write files."""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from minarch import models, prune, quantize, records, registry, stacked, train
from minarch.config import CUDA_MISSING, DeviceError
from minarch.data import SPLITS, Splits, load_splits
from minarch.io import versions
from minarch.settings import PruneSettings, QATSettings, RunSpec, TrainSettings, qat_scopes, settings_columns
from minarch.train import FitResult


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
        raise DeviceError(CUDA_MISSING)  # one line from the job (minarch.jobs.run_job)
    return torch.device(name)


def splits_for(
    arch: str, dataset_path, settings: TrainSettings, device: str = "cpu", parts: tuple[str, ...] = SPLITS
) -> Splits:
    """The dataset's splits (or only ``parts``) as ``arch`` sees them (the ViT's images resized
    to its patch grid), held on ``device`` for the whole job: training and evaluation run
    where they are."""
    splits = load_splits(
        dataset_path,
        settings.validation_fraction,
        settings.split_seed,
        transform=models.input_transform(arch),
        parts=parts,
    )
    target = resolve_device(device)
    if target.type == "cpu":
        return splits
    return Splits(*(None if tensor is None else tensor.to(target) for tensor in dataclasses.astuple(splits)))


def stacks(
    spec: RunSpec,
    device: torch.device | str = "cpu",
    stack_max_width: dict[str, int] | None = None,
    stage: str = "train",
    scope: str | None = None,
) -> bool:
    """Whether the seeds of ``spec``'s configuration run ``stage`` (``train``, ``qat``; the QAT
    of ``scope``) as one stack on ``device``: the family's rule (``registry.Family.stacks``),
    or ``width <= stack_max_width[arch]`` for every stage where a caller names the limits
    (benchmarks and tests; ``{}``: never). A function of the configuration, stage and scope,
    never of how many seeds a job holds: a stacked configuration's seed runs the batched
    kernels even alone, so it computes the same in any block."""
    if stack_max_width is not None:
        return spec.width <= int(stack_max_width.get(spec.arch, 0))
    return registry.family(spec.arch).stacks(spec.width, torch.device(device).type, stage, scope)


def stack_blocks(
    specs: list[RunSpec],
    stack_max_width: dict[str, int] | None = None,
    device: torch.device | str = "cpu",
    stage: str = "train",
    scopes: tuple[str | None, ...] = (None,),
) -> list[list[RunSpec]]:
    """How a job's seeds of one configuration run ``stage``: all as one stack where ``stacks``
    says so for any of ``scopes`` (QAT: the scopes it runs, each then stacked or one seed at
    a time by its own answer inside ``qat_block``), else one at a time. A seed's results do
    not depend on its stack-mates either way."""
    if specs and any(stacks(specs[0], device, stack_max_width, stage, scope) for scope in scopes):
        return [list(specs)]
    return [[s] for s in specs]


def checkpoint_dir(config: dict, first_output) -> Path | None:
    """Where a job keeps its checkpoints: its configuration's folder (``.../w{width}``, beside
    the per-seed folders; the workflow's job of one seed has its seed folder created only for
    its outputs), or None when ``train.checkpoint`` is off."""
    return Path(first_output).parent.parent if config["train"].get("checkpoint", True) else None


def _checkpoint_path(directory, stage: str, block: list[RunSpec], part: str = "") -> Path:
    """The checkpoint of a stack of seeds (``records.checkpoint_file``: its name)."""
    return records.checkpoint_file(directory, stage, block[0].seed, block[-1].seed, part)


def _checkpoint(directory, stage: str, block: list[RunSpec], key: object, part: str = "") -> train.Checkpoint | None:
    if directory is None:
        return None
    return train.Checkpoint(
        _checkpoint_path(directory, stage, block, part), repr((stage, [s.columns() for s in block], key))
    )


def remove_checkpoints(directory, stage: str, block: list[RunSpec]) -> None:
    """Remove the checkpoints the seeds ``block`` (one of ``stack_blocks``) kept in
    ``directory`` (None: they kept none), as one stack, one at a time (a QAT scope that does
    not stack runs the stack's seeds singly) or per QAT scope (``records.remove_checkpoints``);
    called once their outputs are written."""
    if directory is not None:
        records.remove_checkpoints(directory, stage, block[0].seed, block[-1].seed)


def _seeded_stack(block: list[RunSpec], splits: Splits, batched: bool) -> tuple[stacked.Stack, list[nn.Module]]:
    # initialised on the CPU: the same weights on every device
    nets = [
        models.seeded(s.seed, s.arch, s.topology, s.width, splits.image_shape).to(splits.x_train.device) for s in block
    ]
    return stacked.Stack(block[0].arch, nets, batched), nets


def train_block(
    specs: list[RunSpec],
    splits: Splits,
    settings: TrainSettings,
    stack_max_width: dict[str, int] | None = None,
    checkpoint_dir=None,
    optimizer: str = "fused",
) -> list[tuple[nn.Module, pd.DataFrame]]:
    """Train a job's seeds of one configuration; per spec the model with its best-epoch
    weights and its rows: one per epoch (``kind='epoch'``) and the restored model's metrics on
    every split (``kind='final'``, ``epoch`` = best epoch). Seeds are stacked as
    ``stack_blocks`` says; ``seconds`` is each seed's share of its stack's time and
    ``stacked_seeds`` how many trained together. ``checkpoint_dir``: where each stack keeps
    its per-epoch checkpoint, so a killed job resumes from its last finished epoch."""
    out = []
    device = splits.x_train.device
    batched = bool(specs) and stacks(specs[0], device, stack_max_width)  # one configuration: one answer
    for block in stack_blocks(specs, stack_max_width, device):
        started = time.perf_counter()
        stack, nets = _seeded_stack(block, splits, batched)
        label = f"{block[0].directory.parent} seeds {block[0].seed}-{block[-1].seed}: "
        results = train.fit_stack(
            stack,
            splits,
            settings,
            [s.seed for s in block],
            optimizer=optimizer,
            checkpoint=_checkpoint(checkpoint_dir, "train", block, settings),
            label=label,
        )
        finals = train.final_metrics_stack(stack, splits, settings.eval_batch_size, results=results)
        seconds = (time.perf_counter() - started) / len(block)
        for row, (spec, net, result, final) in enumerate(zip(block, nets, results, finals)):
            stack.write_into(net, row)
            out.append((net, _train_frame(spec, net, result, final, seconds, splits, settings, len(block))))
    return out


def train_run(spec: RunSpec, splits: Splits, settings: TrainSettings) -> tuple[nn.Module, pd.DataFrame]:
    """Train one seed (a stack of one)."""
    return train_block([spec], splits, settings)[0]


def _train_frame(
    spec: RunSpec,
    model: nn.Module,
    result: FitResult,
    final: dict,
    seconds: float,
    splits: Splits,
    settings: TrainSettings,
    stacked_seeds: int,
) -> pd.DataFrame:
    rows = [{"kind": "epoch", **row} for row in result.history]
    rows.append({"kind": "final", "epoch": result.best_epoch, **final, "seconds": seconds})
    frame = _with_run_columns(rows, spec, models.parameter_count(model), settings_columns("train", settings))
    frame["stopped_epoch"] = result.stopped_epoch
    frame["device"] = splits.x_train.device.type
    frame["stacked_seeds"] = stacked_seeds
    return frame


def _pruned_copies(model: nn.Module, ratios) -> list[tuple[nn.Module, float, dict]]:
    """Per ratio: a copy of ``model`` under global L1 pruning (``torch.nn.utils.prune``, masks
    made permanent), with its exact sparsity overall and per layer."""
    copies = []
    for ratio in ratios:
        pruned = copy.deepcopy(model)
        prune.prune_globally(pruned, ratio)
        prune.make_permanent(pruned)
        achieved, per_layer = prune.sparsity(pruned)
        copies.append((pruned, achieved, per_layer))
    return copies


def _finetune_pruned(
    model: nn.Module, ratio: float, spec: RunSpec, splits: Splits, train_settings: TrainSettings, epochs: int
) -> nn.Module:
    """Fine-tune a pruned model through the training loop, its pruned weights held at zero
    (the masks multiply the weights in every forward, as ``torch.nn.utils.prune`` does)."""
    stack = stacked.Stack(spec.arch, [model])
    masks = []
    for param, view in zip(stack.family.params, stack.views()):
        masks.append((view != 0).float() if param.prunable and ratio > 0 else None)
    stack.set_masks(masks)
    train.fit_stack(stack, splits, train_settings, [spec.seed], max_epochs=epochs)
    return stack.write_into(model, 0)


# Pruned models evaluated in one stack hold at most about this many parameters in all.
PRUNE_STACK_ELEMENTS = 1 << 22


def prune_block(
    models_: list[nn.Module],
    specs: list[RunSpec],
    splits: Splits,
    train_settings: TrainSettings,
    settings: PruneSettings,
    stack_models: int = 1,
) -> list[pd.DataFrame]:
    """Per seed: test accuracy of its model under global L1 pruning at each ratio. A family
    with a shared-input forward (``Stack.forward_shared``: the DNN) evaluates each seed's
    pruned models as one stack whose first layer is one product of the test images with
    every ratio's weights (1.15-2.1x faster than one at a time,
    ``benchmarks/reports/prune_eval.md``); the stack's size is the number of ratios, so a
    seed's rows never depend on the job's other seeds. Other families evaluate the job's
    (seed, ratio) models ``stack_models`` at a time as one stack (in cache-sized chunks); on
    the CPU one at a time is as fast or faster for them (stacked pruned models: 0.6-1.1x,
    ``benchmarks/reports/stage_speed.md``), hence the default. A model evaluated alone runs
    as itself, the eager model (``train.evaluate``), in chunks set by the model alone
    (``stacked.eager_eval_rows``; faster than its stack of one and than one chunk of every
    test image, ``benchmarks/reports/prune_eval.md``)."""
    device = splits.loaded.device
    entries = []  # (seed index, ratio, pruned model, sparsity, per-layer sparsity)
    for i, (model, spec) in enumerate(zip(models_, specs)):
        model.to(device)
        for ratio, (pruned, achieved, per_layer) in zip(settings.ratios, _pruned_copies(model, settings.ratios)):
            if settings.finetune_epochs > 0 and ratio > 0:
                _finetune_pruned(pruned, ratio, spec, splits, train_settings, settings.finetune_epochs)
                achieved, per_layer = prune.sparsity(pruned)
            entries.append((i, ratio, pruned, achieved, per_layer))
    shared = stacked.shares_input(specs[0].arch)
    if shared:  # each seed's ratios as one stack on the shared test images: its size is the ratios'
        groups = [[e for e in entries if e[0] == i] for i in range(len(models_))]
    else:
        per_stack = max(1, min(stack_models, PRUNE_STACK_ELEMENTS // max(1, models.parameter_count(models_[0]))))
        groups = [entries[start : start + per_stack] for start in range(0, len(entries), per_stack)]
    metrics = []
    x, y, limit = splits.x_test, splits.y_test, train_settings.eval_batch_size
    # a model alone runs as the eager model, in chunks that are the same for all the job's models
    chunk = stacked.eager_eval_rows(specs[0].arch, models_[0], tuple(x.shape[1:]), limit)
    for group in groups:
        if len(group) == 1 and not shared:
            metrics.append(train.evaluate(group[0][2], x, y, chunk))
            continue
        stack = stacked.Stack(specs[0].arch, [e[2] for e in group])
        metrics += list(zip(*train.evaluate_stack(stack, x, y, limit, shared=shared)))
    frames = []
    for i, (model, spec) in enumerate(zip(models_, specs)):
        rows = [
            {
                "ratio": ratio,
                "achieved_sparsity": achieved,
                "test_loss": loss,
                "test_acc": acc,
                "layer_sparsity": json.dumps(per_layer, sort_keys=True),
            }
            for (seed_index, ratio, _, achieved, per_layer), (loss, acc) in zip(entries, metrics)
            if seed_index == i
        ]
        frames.append(_with_run_columns(rows, spec, models.parameter_count(model), settings_columns("prune", settings)))
    return frames


def prune_run(
    model: nn.Module, spec: RunSpec, splits: Splits, train_settings: TrainSettings, settings: PruneSettings
) -> pd.DataFrame:
    """The prune sweep of one model (``prune_block`` of one seed); ``model`` is left as it was."""
    return prune_block([model], [spec], splits, train_settings, settings)[0]


def qat_block(
    specs: list[RunSpec],
    splits: Splits,
    train_settings: TrainSettings,
    settings: QATSettings,
    float_test_accs: list[float],
    float_models: list[nn.Module] | None = None,
    stack_max_width: dict[str, int] | None = None,
    checkpoint_dir=None,
) -> list[pd.DataFrame]:
    """8-bit QAT of a job's seeds, stacked as in ``train_block``: from scratch (the float run's
    initial weights, recipe and data order) or fine-tuned from the trained float weights.
    After training, each seed becomes its own eager QAT model with its own observer state,
    is converted to a real int8 model and evaluated on the test set by the quantized engine.
    One QAT per quantization scope the family runs (``minarch.settings.qat_scopes``), a row each
    (``qat_scope``). With ``settings.ptq`` each row also holds the post-training quantization
    of the trained float model (``float_models``) under the same scope (``_post_training``)."""
    if settings.mode not in ("scratch", "finetune"):
        raise ValueError(f"unknown QAT mode {settings.mode!r}; use scratch or finetune")
    missing = float_models is None or any(m is None for m in float_models)
    if settings.mode == "finetune" and missing:
        raise ValueError("QAT mode 'finetune' needs the trained float model")
    if settings.ptq and missing:
        raise ValueError("post-training quantization (qat.ptq) needs the trained float model")
    position = {spec: i for i, spec in enumerate(specs)}
    rows: list[list[pd.DataFrame]] = [[] for _ in specs]
    scopes = qat_scopes(specs[0].arch, settings.scope)
    device = splits.x_train.device
    for scope in scopes:
        scoped = dataclasses.replace(settings, scope=(scope,))  # a row's qat_scope: its own
        part = scope if len(scopes) > 1 else ""  # a checkpoint per scope, named so when several
        batched = stacks(specs[0], device, stack_max_width, "qat", scope)  # the configuration's and scope's answer
        for block in stack_blocks(specs, stack_max_width, device, "qat", (scope,)):
            trained = _qat_stack(
                block, splits, train_settings, scoped, float_models, position, checkpoint_dir, part, batched
            )
            for spec, frame in zip(block, trained):
                float_acc = float_test_accs[position[spec]]
                frame.insert(frame.columns.get_loc("fake_quant_test_acc"), "float_test_acc", float_acc)
                frame.insert(frame.columns.get_loc("int8_test_loss") + 1, "gap_pp", float_acc - frame["int8_test_acc"])
                ptq = (
                    _post_training(spec, splits, train_settings, scoped, float_models, position) if settings.ptq else {}
                )
                for name, value in _ptq_columns(ptq, float_acc).items():
                    frame[name] = value
                rows[position[spec]].append(frame)
    return [pd.concat(frames, ignore_index=True) for frames in rows]


def _qat_stack(
    block, splits, train_settings, settings, float_models, position, checkpoint_dir, part="", batched=False
) -> list[pd.DataFrame]:
    """QAT of one stack of seeds under one scope (``settings.scope``, one of them)."""
    [scope] = settings.scope
    device = splits.x_train.device
    columns = {**settings_columns("qat", settings), **settings_columns("train", train_settings)}
    started = time.perf_counter()
    if settings.mode == "scratch":
        stack, nets = _seeded_stack(block, splits, batched)
        max_epochs = train_settings.max_epochs
    else:
        nets = [float_models[position[s]].to(device) for s in block]
        stack, max_epochs = stacked.Stack(block[0].arch, nets, batched), settings.finetune_epochs
    template = quantize.prepare(copy.deepcopy(nets[0]).cpu(), settings.backend, scope)
    quant = quantize.StackedFakeQuant(template, len(block), device)
    label = f"{block[0].directory.parent} seeds {block[0].seed}-{block[-1].seed} (QAT, {scope}): "
    results = train.fit_stack(
        stack,
        splits,
        train_settings,
        [s.seed for s in block],
        max_epochs,
        quant=quant,
        checkpoint=_checkpoint(checkpoint_dir, "qat", block, (train_settings, settings, max_epochs), part),
        label=label,
    )
    tests = train.final_metrics_stack(stack, splits, train_settings.eval_batch_size, quant, results, ("test",))
    fake_quant_accs = [metrics["test_acc"] for metrics in tests]
    seconds = (time.perf_counter() - started) / len(block)
    frames = []
    for row, (spec, result, fake_quant_acc) in enumerate(zip(block, results, fake_quant_accs)):
        model = stack.write_into(models.build(spec.arch, spec.topology, spec.width, splits.image_shape), row)
        n_params, float_bytes = models.parameter_count(model), quantize.serialized_bytes(model)
        qat_model = quant.write_into(quantize.prepare(model, settings.backend, scope), row)
        quantize.freeze_observers(qat_model)
        int8_model = quantize.convert(qat_model, settings.backend)
        int8_loss, int8_acc = quantize.evaluate_int8(
            int8_model, splits.x_test, splits.y_test, train_settings.eval_batch_size, settings.backend
        )
        row_values = {
            "fake_quant_test_acc": fake_quant_acc,
            "int8_test_acc": int8_acc,
            "int8_test_loss": int8_loss,
            "float_bytes": float_bytes,
            "int8_bytes": quantize.serialized_bytes(int8_model),
            "best_epoch": result.best_epoch,
            "stopped_epoch": result.stopped_epoch,
            "seconds": seconds,
            "int8_is_quantized": quantize.is_quantized(int8_model),
            "stacked_seeds": len(block),
        }
        frames.append(_with_run_columns([row_values], spec, n_params, columns))
    return frames


def ptq_calibration(spec: RunSpec, splits: Splits, train_settings: TrainSettings, batches: int) -> torch.Tensor:
    """The training images that calibrate a seed's post-training quantization: the first
    ``batches`` batches of its first training epoch (its data order, ``train.fit_stack``)."""
    order = torch.randperm(len(splits.y_train), generator=torch.Generator().manual_seed(int(spec.seed)))
    return splits.x_train[order[: batches * train_settings.batch_size].to(splits.x_train.device)]


def _post_training(spec, splits, train_settings, settings, float_models, position) -> dict:
    """The trained float model of ``spec`` quantized after training under ``settings.scope``
    (``quantize.post_training``) and evaluated as a real int8 model on the test set."""
    [scope] = settings.scope
    started = time.perf_counter()
    calibration = ptq_calibration(spec, splits, train_settings, settings.ptq_batches)
    int8_model = quantize.post_training(
        float_models[position[spec]], calibration, settings.backend, scope, train_settings.batch_size
    )
    loss, acc = quantize.evaluate_int8(
        int8_model, splits.x_test, splits.y_test, train_settings.eval_batch_size, settings.backend
    )
    return {"acc": acc, "loss": loss, "seconds": time.perf_counter() - started}


def _ptq_columns(ptq: dict, float_acc: float) -> dict:
    """``ptq_int8_test_acc``, ``ptq_int8_test_loss``, ``ptq_gap_pp`` (float - PTQ int8) and
    ``ptq_seconds`` (calibration, conversion and test evaluation); NaN without PTQ."""
    if not ptq:
        return dict.fromkeys(("ptq_int8_test_acc", "ptq_int8_test_loss", "ptq_gap_pp", "ptq_seconds"), float("nan"))
    return {
        "ptq_int8_test_acc": ptq["acc"],
        "ptq_int8_test_loss": ptq["loss"],
        "ptq_gap_pp": float_acc - ptq["acc"],
        "ptq_seconds": ptq["seconds"],
    }


def qat_run(
    spec: RunSpec,
    splits: Splits,
    train_settings: TrainSettings,
    settings: QATSettings,
    float_test_acc: float,
    float_model: nn.Module | None = None,
) -> pd.DataFrame:
    """QAT of one seed (``qat_block`` of one)."""
    return qat_block([spec], splits, train_settings, settings, [float_test_acc], [float_model])[0]
