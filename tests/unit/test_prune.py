"""prune.py: global unstructured L1 pruning with one threshold for the whole network."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from minarch import models, prune


def make_model(seed: int = 0) -> nn.Sequential:
    """A DNN whose layers have very different weight scales (a per-layer threshold would prune
    each layer to the same ratio; a global one does not) and non-zero biases."""
    torch.manual_seed(seed)
    model = models.dnn(50, [20, 10])  # 1000 + 200 + 100 = 1300 prunable weights
    with torch.no_grad():
        linears = [m for m in model if isinstance(m, nn.Linear)]
        for scale, layer in zip((0.2, 1.0, 5.0), linears):
            layer.weight.mul_(scale / layer.weight.abs().mean())
            layer.bias.copy_(torch.randn_like(layer.bias))
    return model


def linear_layers(model):
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def test_prunable_weights_are_linear_and_conv_layers():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.LayerNorm(8), nn.Linear(8, 10))
    assert [name for name, _ in prune.prunable_weights(model)] == ["0", "4"]


@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.37, 0.5, 0.9, 1.0])
def test_achieved_sparsity_is_exact(ratio):
    model = make_model()
    n = sum(m.weight.numel() for m in linear_layers(model))
    assert n == 1300
    prune.prune_globally(model, ratio)
    achieved, per_layer = prune.sparsity(model)
    assert achieved == round(ratio * n) / n
    zeros = sum(int((m.weight == 0).sum()) for m in linear_layers(model))
    assert zeros == round(ratio * n)
    # per-layer dict consistent with the total
    sizes = {name: m.weight.numel() for name, m in prune.prunable_weights(model)}
    assert set(per_layer) == set(sizes) == {"1", "3", "5"}
    assert sum(round(per_layer[name] * sizes[name]) for name in sizes) == round(ratio * n)


@pytest.mark.parametrize("ratio", [0.3, 0.5, 1.0])
def test_biases_untouched(ratio):
    model = make_model()
    before = [m.bias.detach().clone() for m in linear_layers(model)]
    prune.prune_globally(model, ratio)
    for layer, bias in zip(linear_layers(model), before):
        assert torch.equal(layer.bias.detach(), bias)
        assert not hasattr(layer, "bias_mask")


@pytest.mark.parametrize("ratio", [0.3, 0.5, 0.8])
def test_one_global_threshold(ratio):
    model = make_model()
    before = [m.weight.detach().abs().clone() for m in linear_layers(model)]
    prune.prune_globally(model, ratio)
    pruned, kept = [], []
    for layer, magnitude in zip(linear_layers(model), before):
        zero = layer.weight.detach() == 0
        pruned.append(magnitude[zero])
        kept.append(magnitude[~zero])
        # surviving weights keep their trained values
        assert torch.equal(layer.weight.detach().abs()[~zero], magnitude[~zero])
    pruned, kept = torch.cat(pruned), torch.cat(kept)
    assert kept.min() >= pruned.max()
    # the layers' scales differ by 25x, so one global threshold prunes them very unequally
    _, per_layer = prune.sparsity(model)
    assert per_layer["1"] > ratio > per_layer["5"]


def test_full_pruning_runs_and_outputs_last_bias():
    model = make_model()
    prune.prune_globally(model, 1.0)
    achieved, per_layer = prune.sparsity(model)
    assert achieved == 1.0 and set(per_layer.values()) == {1.0}
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(9, 50))
    last_bias = linear_layers(model)[-1].bias.detach()
    assert torch.count_nonzero(last_bias) > 0
    assert torch.equal(out, last_bias.expand(9, -1))


def test_zero_ratio_changes_nothing():
    model = make_model()
    x = torch.randn(5, 50)
    with torch.no_grad():
        expected = model(x)
        prune.prune_globally(model, 0.0)
        assert torch.equal(model(x), expected)


def test_conv_and_linear_pruned_together():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
    n = 4 * 9 + 144 * 10
    conv_bias = model[0].bias.detach().clone()
    prune.prune_globally(model, 0.5)
    achieved, per_layer = prune.sparsity(model)
    assert achieved == round(0.5 * n) / n
    assert set(per_layer) == {"0", "3"}
    assert torch.equal(model[0].bias.detach(), conv_bias)


def test_make_permanent_keeps_zeros_and_removes_masks():
    model = make_model()
    count = models.parameter_count(model)
    prune.prune_globally(model, 0.6)
    expected = [m.weight.detach().clone() for m in linear_layers(model)]
    prune.make_permanent(model)
    for layer, weight in zip(linear_layers(model), expected):
        assert not hasattr(layer, "weight_mask") and not hasattr(layer, "weight_orig")
        assert isinstance(layer.weight, nn.Parameter)
        assert torch.equal(layer.weight.detach(), weight)
    assert models.parameter_count(model) == count
    assert set(model.state_dict()) == set(make_model().state_dict())
    assert prune.sparsity(model)[0] == round(0.6 * 1300) / 1300
