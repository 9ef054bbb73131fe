"""Global unstructured L1 (magnitude) pruning with ``torch.nn.utils.prune`` (docs/design.md §1)."""

from __future__ import annotations

from torch import nn
from torch.nn.utils import prune

PRUNABLE = (nn.Linear, nn.Conv2d)


def prunable_weights(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Weight tensors of every linear and convolution layer, by qualified module name; biases,
    norms, class tokens and position embeddings are never pruned."""
    return [(name, module) for name, module in model.named_modules() if isinstance(module, PRUNABLE)]


def prune_globally(model: nn.Module, ratio: float) -> None:
    """One magnitude threshold over all prunable weights; ``ratio`` of them become zero
    (rounded to a whole number of weights). Masks stay attached so fine-tuning keeps them."""
    targets = [(module, "weight") for _, module in prunable_weights(model)]
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=float(ratio))


def sparsity(model: nn.Module) -> tuple[float, dict[str, float]]:
    """Exact fraction of prunable weights that are zero: overall and per layer."""
    per_layer, zeros, total = {}, 0, 0
    for name, module in prunable_weights(model):
        weight = module.weight.detach()
        layer_zeros = int((weight == 0).sum())
        per_layer[name] = layer_zeros / weight.numel()
        zeros += layer_zeros
        total += weight.numel()
    return zeros / total, per_layer


def make_permanent(model: nn.Module) -> None:
    for _, module in prunable_weights(model):
        if prune.is_pruned(module):
            prune.remove(module, "weight")
