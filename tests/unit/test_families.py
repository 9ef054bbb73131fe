"""The CNN and ViT families: shapes, parameter counts, initialisation, pruning and QAT."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from minarch import models, prune, quantize, stages
from minarch.families import CNN_TOPOLOGY, VIT_POSITIONS
from minarch.settings import PruneSettings, QATSettings, RunSpec, TrainSettings

TOPOLOGY = {"cnn": CNN_TOPOLOGY, "vit": VIT_POSITIONS["learned"]}

MNIST, CIFAR = (1, 28, 28), (3, 32, 32)
CIFAR_FOR_VIT = (3, 28, 28)


def cnn(shape, channels, seed=0):
    return models.seeded(seed, "cnn", CNN_TOPOLOGY, channels, shape)


def vit(shape, dim, seed=0):
    return models.seeded(seed, "vit", TOPOLOGY["vit"], dim, shape)


# ---- CNN ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, channels, expected",
    [
        # conv: 3x3xC_in weights + bias per channel; linear: C x 26 x 26 (or 30 x 30) inputs -> 10
        (MNIST, 1, 9 + 1 + 676 * 10 + 10),
        (MNIST, 4, 4 * 10 + 4 * 676 * 10 + 10),  # 27,090: the paper's "3e4" at 4 channels
        (CIFAR, 32, 32 * 28 + 32 * 900 * 10 + 10),
    ],
)
def test_cnn_parameter_count(shape, channels, expected):
    assert models.cnn_parameter_count(shape, channels) == expected
    assert models.parameter_count(cnn(shape, channels)) == expected


@pytest.mark.parametrize("shape", [MNIST, CIFAR])
def test_cnn_layout_and_output(shape):
    model = cnn(shape, 6)
    conv, relu, flatten, linear = model
    assert (conv.kernel_size, conv.stride, conv.padding) == ((3, 3), (1, 1), (0, 0))
    assert conv.in_channels == shape[0] and conv.out_channels == 6
    assert isinstance(relu, nn.ReLU) and isinstance(flatten, nn.Flatten)
    assert linear.in_features == 6 * (shape[1] - 2) * (shape[2] - 2)
    assert model(torch.randn(5, *shape)).shape == (5, 10)


def test_cnn_initialisation():
    conv, _, _, linear = cnn(CIFAR, 32)
    fan_out = 32 * 9
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / fan_out), rel=0.1)
    assert linear.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert torch.all(conv.bias == 0) and torch.all(linear.bias == 0)


# ---- ViT ------------------------------------------------------------------------------------


def hand_vit_count(channels, side, dim, classes=10):
    """Written out piece by piece, independently of the library's formula."""
    patch_inputs = channels * (side // 7) ** 2
    embedding = patch_inputs * dim + dim
    class_token = dim
    linear = dim * dim + dim
    block = 2 * (2 * dim) + 4 * linear + 2 * linear  # two norms, q/k/v/out, two MLP layers
    head = 2 * dim + dim * classes + classes  # final norm + linear head
    return embedding + class_token + 2 * block + head


@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
@pytest.mark.parametrize("shape", [MNIST, CIFAR_FOR_VIT])
@pytest.mark.parametrize("dim", [1, 2, 7, 16])
def test_vit_parameter_count(shape, dim, positions):
    learned = positions == "learned"
    expected = hand_vit_count(shape[0], shape[1], dim) + (50 * dim if learned else 0)  # a D-vector per token
    assert models.vit_parameter_count(shape, dim, learned_positions=learned) == expected
    assert models.parameter_count(models.seeded(0, "vit", VIT_POSITIONS[positions], dim, shape)) == expected
    # closed form: 12 D^2 + (patch_dim + 34) D + 10, and 50 D for learned positions
    assert expected == 12 * dim**2 + (shape[0] * 16 + 34 + 50 * learned) * dim + 10


@pytest.mark.parametrize("shape", [MNIST, CIFAR_FOR_VIT])
def test_vit_forward_shapes(shape):
    model = vit(shape, 5)
    images = torch.randn(3, *shape)
    patches = model.patches(images)
    assert patches.shape == (3, 49, shape[0] * 16)
    assert model(images).shape == (3, 10)


def test_vit_patches_are_the_grid_in_row_major_order():
    model = vit(MNIST, 4)
    images = torch.arange(28 * 28, dtype=torch.float32).reshape(1, 1, 28, 28)
    patches = model.patches(images)
    row, col = 2, 5  # patch 2 * 7 + 5
    expected = images[0, 0, 4 * row : 4 * row + 4, 4 * col : 4 * col + 4].reshape(-1)
    assert torch.equal(patches[0, 7 * row + col], expected)


def test_vit_rejects_sides_outside_its_grid():
    with pytest.raises(ValueError, match="divisible by 7"):
        vit(CIFAR, 4)


def test_sinusoidal_vit_positions_are_fixed_and_class_token_learnable():
    model = models.seeded(0, "vit", VIT_POSITIONS["sinusoidal"], 6, MNIST)
    names = dict(model.named_parameters())
    assert "class_token" in names and names["class_token"].requires_grad
    assert not any("position" in name for name in names)
    positions = model.positions[0]
    assert positions.shape == (50, 6)
    assert torch.allclose(positions[:, 0], torch.sin(torch.arange(50.0)))
    assert torch.allclose(positions[:, 1], torch.cos(torch.arange(50.0)))
    assert torch.allclose(positions[3, 4], torch.sin(torch.tensor(3.0) / 10000 ** (4 / 6)))


def test_vit_has_two_prenorm_single_head_blocks_with_mlp_width_dim():
    model = vit(MNIST, 8)
    assert len(model.blocks) == 2
    for block in model.blocks:
        assert isinstance(block.attention_norm, nn.LayerNorm) and isinstance(block.mlp_norm, nn.LayerNorm)
        first, activation, second = block.mlp
        assert (first.in_features, first.out_features, second.out_features) == (8, 8, 8)
        assert isinstance(activation, nn.GELU)


def test_attention_is_single_head_scaled_dot_product():
    torch.manual_seed(0)
    attention = models.SelfAttention(4)
    x = torch.randn(2, 5, 4)
    q, k, v = attention.query(x), attention.key(x), attention.value(x)
    weights = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(4), dim=-1)
    assert torch.allclose(attention(x), attention.out(weights @ v), atol=1e-6)


def test_resize_for_vit():
    images = torch.randn(4, 3, 32, 32)
    resized = models.resize_for_vit(images, chunk=3)
    assert resized.shape == (4, 3, 28, 28)
    flat = torch.full((2, 1, 32, 32), 0.25)
    assert torch.allclose(models.resize_for_vit(flat), torch.full((2, 1, 28, 28), 0.25))
    mnist = torch.randn(2, 1, 28, 28)
    assert models.resize_for_vit(mnist) is mnist
    transform = models.input_transform("vit")
    assert torch.equal(transform(images), models.resize_for_vit(images))
    assert models.input_transform("cnn") is None and models.input_transform("dnn") is None


def test_fixed_topologies_enforced():
    with pytest.raises(ValueError, match="single topology"):
        models.build("cnn", "L1", 4, MNIST)
    with pytest.raises(ValueError, match="vit topologies are enc2, enc2learned"):
        models.build("vit", "conv3x3", 4, MNIST)


@pytest.mark.parametrize("arch, width", [("cnn", 3), ("vit", 5)])
def test_seeded_is_reproducible_and_save_load_round_trips(tmp_path, arch, width):
    shape = MNIST
    first, second = (models.seeded(7, arch, TOPOLOGY[arch], width, shape) for _ in range(2))
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    spec = RunSpec("mnist", arch, TOPOLOGY[arch], width, 7)
    models.save(tmp_path / "model.pt", first, spec.columns(), shape)
    loaded, saved_spec = models.load(tmp_path / "model.pt")
    images = torch.randn(4, *shape)
    assert saved_spec == spec.columns()
    assert torch.equal(loaded.eval()(images), first.eval()(images))


# ---- pruning --------------------------------------------------------------------------------


def test_vit_prunes_every_linear_and_nothing_else():
    model = vit(MNIST, 6)
    names = {name for name, _ in prune.prunable_weights(model)}
    attention = {f"blocks.{b}.attention.{p}" for b in (0, 1) for p in ("query", "key", "value", "out")}
    mlp = {f"blocks.{b}.mlp.{i}" for b in (0, 1) for i in (0, 2)}
    assert names == {"patch_embedding", "head", *attention, *mlp}
    pruned_names = {f"{name}.weight" for name in names}
    untouched = {n: p.detach().clone() for n, p in model.named_parameters() if n not in pruned_names}
    assert {"class_token", "norm.weight", "head.bias", "blocks.0.attention_norm.bias"} <= set(untouched)
    prune.prune_globally(model, 0.7)
    achieved, per_layer = prune.sparsity(model)
    total = sum(m.weight.numel() for _, m in prune.prunable_weights(model))
    assert achieved == pytest.approx(round(0.7 * total) / total)
    assert set(per_layer) == names
    after = dict(model.named_parameters())
    for name, before in untouched.items():  # biases, norms and the class token
        assert torch.equal(after[name], before), name


def test_cnn_prunes_conv_and_linear_with_one_threshold():
    model = cnn(MNIST, 4)
    conv, _, _, linear = model
    weights = torch.cat([conv.weight.detach().abs().flatten(), linear.weight.detach().abs().flatten()])
    threshold = weights.sort().values[round(0.5 * len(weights)) - 1]
    prune.prune_globally(model, 0.5)
    for layer in (conv, linear):
        kept = layer.weight.detach() != 0
        assert torch.all(layer.weight_orig.detach().abs()[kept] >= threshold)


# ---- QAT ------------------------------------------------------------------------------------


def quantized_types(model):
    """Names of the int8 kernels' modules (plain and fused) in a converted model."""
    return {
        type(m).__name__
        for m in model.modules()
        if type(m).__module__.startswith(("torch.ao.nn.quantized", "torch.ao.nn.intrinsic.quantized"))
    }


def train_a_little(model, shape, steps=3):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(torch.randn(16, *shape)), torch.randint(0, 10, (16,)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_cnn_qat_fuses_conv_relu_and_converts_to_int8():
    qat = quantize.prepare(cnn(MNIST, 4))
    assert any(type(m).__name__ == "ConvReLU2d" for m in qat.modules())
    train_a_little(qat, MNIST)
    quantize.freeze_observers(qat)
    int8 = quantize.convert(qat)
    assert {"ConvReLU2d", "Linear", "Quantize", "DeQuantize"} <= quantized_types(int8)
    images = torch.randn(32, *MNIST)
    assert torch.backends.quantized.engine == "qnnpack"
    fake, real = qat.eval()(images), int8(images)
    assert real.shape == (32, 10)
    assert (fake.argmax(1) == real.argmax(1)).float().mean() >= 0.9


def test_vit_qat_of_scope_linear_quantizes_linears_and_keeps_norms_float():
    qat = quantize.prepare(vit(MNIST, 8), scope="linear")
    train_a_little(qat, MNIST)
    quantize.freeze_observers(qat)
    int8 = quantize.convert(qat)
    linears = [
        m
        for m in int8.modules()
        if type(m).__name__ == "Linear" and type(m).__module__.startswith("torch.ao.nn.quantized")
    ]
    assert len(linears) == 14  # patch embedding, 2 x (q, k, v, out, 2 MLP), head
    assert not any(isinstance(m, nn.Linear) for m in int8.modules())  # no float linear left
    assert sum(isinstance(m, nn.LayerNorm) for m in int8.modules()) == 5  # float, between stubs
    images = torch.randn(32, *MNIST)
    fake, real = qat.eval()(images), int8(images)
    assert real.shape == (32, 10) and torch.isfinite(real).all()
    assert (fake.argmax(1) == real.argmax(1)).float().mean() >= 0.8
    assert all(m.weight().dtype == torch.qint8 for m in linears)


@pytest.mark.parametrize("arch, width", [("cnn", 2), ("vit", 4)])
def test_stages_run_each_family(splits, arch, width):
    settings = TrainSettings(max_epochs=1, batch_size=50)
    spec = RunSpec("mnist", arch, TOPOLOGY[arch], width, 0)
    model, frame = stages.train_run(spec, splits, settings)
    final = frame[frame["kind"] == "final"].iloc[0]
    assert frame["n_params"].iloc[0] == models.parameter_count(model)
    assert frame["arch"].eq(arch).all() and frame["topology"].eq(TOPOLOGY[arch]).all()
    pruned = stages.prune_run(model, spec, splits, settings, PruneSettings(ratios=(0.0, 1.0)))
    assert pruned.loc[pruned["ratio"] == 0.0, "test_acc"].iloc[0] == pytest.approx(final["test_acc"])
    qat = stages.qat_run(spec, splits, settings, QATSettings(), float(final["test_acc"]), model).iloc[0]
    assert bool(qat["int8_is_quantized"]) and 0 <= qat["int8_test_acc"] <= 100
    assert qat["gap_pp"] == pytest.approx(final["test_acc"] - qat["int8_test_acc"])
    assert qat["ptq_gap_pp"] == pytest.approx(final["test_acc"] - qat["ptq_int8_test_acc"])
    assert qat["qat_scope"] == "full"
