"""models.py: DNN construction, parameter counts, initialisation, checkpoints."""

from __future__ import annotations

import math
import os

import pytest
import torch
from torch import nn

from minarch import io, models
from minarch import topology as topo


def hand_count(input_dim: int, hidden: list[int], classes: int = 10) -> int:
    """Weights plus biases, layer by layer, written out independently of the library."""
    total, previous = 0, input_dim
    for units in [*hidden, classes]:
        total += previous * units  # weight matrix
        total += units  # bias
        previous = units
    return total


@pytest.mark.parametrize(
    "input_dim, hidden, expected",
    [
        (784, [10], 784 * 10 + 10 + 10 * 10 + 10),  # 7960
        (784, [100, 100], 78500 + 10100 + 1010),
        (3072, [3, 1, 1], 3072 * 3 + 3 + 3 * 1 + 1 + 1 * 1 + 1 + 1 * 10 + 10),  # L3dd w3 on CIFAR-10
        (784, [1], 784 + 1 + 10 + 10),
    ],
)
def test_closed_form_count_by_hand(input_dim, hidden, expected):
    assert models.dnn_parameter_count(input_dim, hidden) == expected
    assert models.parameter_count(models.dnn(input_dim, hidden)) == expected


@pytest.mark.parametrize("image_shape", [(1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize("name", ["L1", "L2u", "L2d", "L3dd", "L3ud", "L4eee", "L4udu", "L4ddd"])
@pytest.mark.parametrize("width", [1, 3, 20])
def test_built_model_count_matches_closed_form(image_shape, name, width):
    input_dim = math.prod(image_shape)
    assert input_dim in (784, 3072)
    hidden = topo.hidden_widths(name, width)
    model = models.build("dnn", name, width, image_shape)
    expected = hand_count(input_dim, hidden)
    assert models.parameter_count(model) == expected
    assert models.dnn_parameter_count(input_dim, hidden) == expected


def test_architecture_layout():
    model = models.build("dnn", "L3ud", 4, (1, 28, 28))
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 4), (4, 8), (8, 4), (4, 10)]
    relus = [m for m in model if isinstance(m, nn.ReLU)]
    assert len(relus) == 3  # one per hidden layer, none after the logits
    assert not isinstance(list(model)[-1], nn.ReLU)


def test_he_normal_init_and_zero_biases():
    torch.manual_seed(0)
    model = models.dnn(784, [1000])
    first, second = [m for m in model if isinstance(m, nn.Linear)]
    w = first.weight.detach()
    assert w.mean().abs().item() < 0.01 * math.sqrt(2 / 784)
    assert w.std().item() == pytest.approx(math.sqrt(2 / 784), rel=0.02)
    assert second.weight.detach().std().item() == pytest.approx(math.sqrt(2 / 1000), rel=0.05)
    for layer in (first, second):
        assert torch.count_nonzero(layer.bias).item() == 0


@pytest.mark.parametrize("image_shape", [(1, 28, 28), (3, 32, 32)])
def test_output_shape(image_shape):
    model = models.build("dnn", "L2e", 5, image_shape)
    out = model(torch.randn(7, *image_shape))
    assert out.shape == (7, 10)


def test_unknown_architecture_rejected():
    with pytest.raises(ValueError, match="architecture"):
        models.build("rnn", "L1", 5, (1, 28, 28))


def test_seeded_is_reproducible():
    a = models.seeded(3, "dnn", "L2u", 8, (1, 28, 28))
    b = models.seeded(3, "dnn", "L2u", 8, (1, 28, 28))
    c = models.seeded(4, "dnn", "L2u", 8, (1, 28, 28))
    for (name, pa), pb, pc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(pa, pb), name
        if name.endswith("weight"):
            assert not torch.equal(pa, pc), name


SPEC = {"dataset": "mnist", "arch": "dnn", "topology": "L3ud", "width": 6, "seed": 2}


@pytest.fixture
def trained_like_model():
    model = models.seeded(2, "dnn", "L3ud", 6, (1, 28, 28))
    with torch.no_grad():  # non-zero biases, so a lost bias would show
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def test_save_load_round_trip(tmp_path, trained_like_model):
    path = tmp_path / "runs" / "seed2" / "model.pt"
    models.save(path, trained_like_model, SPEC, (1, 28, 28))
    assert sorted(os.listdir(path.parent)) == ["model.pt"]  # no temp file left behind
    loaded, spec = models.load(path)
    assert spec == SPEC
    x = torch.randn(16, 1, 28, 28)
    trained_like_model.eval()
    loaded.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), trained_like_model(x))
    for (name, a), b in zip(trained_like_model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name


def test_saving_twice_gives_identical_bytes(tmp_path, trained_like_model):
    first, second = tmp_path / "a" / "model.pt", tmp_path / "b" / "model.pt"
    models.save(first, trained_like_model, SPEC, (1, 28, 28))
    models.save(second, trained_like_model, SPEC, (1, 28, 28))
    assert first.read_bytes() == second.read_bytes()  # no temporary file name inside


def _assert_one_line_checkpoint_error(path):
    with pytest.raises(models.CheckpointError) as info:
        models.load(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message


def test_random_bytes_raise_checkpoint_error(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(os.urandom(4096))
    _assert_one_line_checkpoint_error(path)


@pytest.mark.parametrize("keep", [0.5, 0.1])
def test_truncated_file_raises_checkpoint_error(tmp_path, trained_like_model, keep):
    path = tmp_path / "model.pt"
    models.save(path, trained_like_model, SPEC, (1, 28, 28))
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    _assert_one_line_checkpoint_error(path)


def test_empty_file_raises_checkpoint_error(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"")
    _assert_one_line_checkpoint_error(path)


def test_mismatching_spec_raises_checkpoint_error(tmp_path, trained_like_model):
    path = tmp_path / "model.pt"
    models.save(path, trained_like_model, {**SPEC, "width": 7}, (1, 28, 28))  # weights of width 6
    _assert_one_line_checkpoint_error(path)


def test_missing_file_is_not_reported_as_corrupt(tmp_path):
    with pytest.raises(FileNotFoundError):
        models.load(tmp_path / "absent.pt")


# ---------------------------------------------------------------------------------------------
# minarch.sizes: the torch-free closed forms the cost model and the paper comparison use


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist", "cifar10"])
def test_size_of_every_family_matches_the_built_model(dataset):
    from minarch import registry, sizes

    for arch, topology, width in [
        ("dnn", "L1", 1),
        ("dnn", "L3ud", 7),
        ("dnn", "L4eee", 100),
        ("cnn", "conv3x3", 1),
        ("cnn", "conv3x3", 8),
        ("vit", "enc2", 1),
        ("vit", "enc2", 16),
        ("vit", "enc2learned", 16),
        # and every registered family's examples (a plugin's too)
        *(
            (name, topology, width)
            for name, family in registry.families().items()
            for topology, width in family.examples
        ),
    ]:
        model = models.build(arch, topology, width, sizes.input_shape(dataset, arch))
        assert models.arch_of(model) == arch
        assert sizes.parameter_count(dataset, arch, topology, width) == models.parameter_count(model), (arch, width)


def test_vit_input_is_resized_and_its_formula_is_its_count():
    from minarch import sizes

    assert sizes.input_shape("cifar10", "vit") == (3, models.VIT_IMAGE_SIDE, models.VIT_IMAGE_SIDE)
    assert sizes.input_shape("cifar10", "cnn") == (3, 32, 32)
    formula = sizes.vit_parameter_formula()  # "aD²+(bC+c)D+d"
    a, rest = formula.split("D²+(")
    b, rest = rest.split("C+")
    c, d = rest.split(")D+")
    for channels in (1, 3):
        for dim in (1, 6, 16):
            count = sizes.vit_parameter_count((channels, 28, 28), dim)
            assert int(a) * dim * dim + (int(b) * channels + int(c)) * dim + int(d) == count


@pytest.mark.parametrize("lead, channels", [((2,), 1), ((3,), 3), ((2, 3), 1)])
def test_patches_are_the_grid_of_image_tiles(lead, channels):
    """Patch (r, q) of an image is its tile at grid row r and column q, flattened channel by
    channel and row by row, for float and quantized images and a stack's (S, B) lead."""
    side, g = models.VIT_IMAGE_SIDE, models.VIT_GRID
    tile = side // g
    images = torch.randn(*lead, channels, side, side)
    patches = models.to_patches(images)
    assert patches.shape == (*lead, g * g, channels * tile * tile)
    for r, q in [(0, 0), (0, 6), (3, 2), (6, 6)]:
        expected = images[..., r * tile : (r + 1) * tile, q * tile : (q + 1) * tile].reshape(*lead, -1)
        assert torch.equal(patches[..., r * g + q, :], expected)
    shared = images[:1].expand(*images.shape)  # a stack's evaluation: one chunk seen by every seed
    assert torch.equal(models.to_patches(shared), models.to_patches(images[:1]).expand(*patches.shape))
    quantized = torch.quantize_per_tensor(images, 0.05, 128, torch.quint8)
    assert torch.equal(models.to_patches(quantized).int_repr(), models.to_patches(quantized.int_repr()))


def test_sizes_cost_and_comparison_do_not_import_torch():
    import subprocess
    import sys

    code = "import sys, minarch.sizes, minarch.cost, minarch.comparison; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_learned_vit_positions_are_trained_saved_and_counted(tmp_path):
    """``enc2learned``: one trained D-vector per token, kept in model.pt; ``enc2``'s sinusoidal
    table is no parameter. A seed's other weights are the same for both kinds."""
    from minarch import sizes

    fixed, learned = (models.seeded(3, "vit", t, 8, (1, 28, 28)) for t in ("enc2", "enc2learned"))
    assert "positions" not in dict(fixed.named_parameters())
    assert dict(learned.named_parameters())["positions"].shape == (1, models.VIT_GRID**2 + 1, 8)
    assert models.parameter_count(learned) - models.parameter_count(fixed) == (models.VIT_GRID**2 + 1) * 8
    assert sizes.parameter_count("mnist", "vit", "enc2learned", 8) == models.parameter_count(learned)
    assert torch.equal(fixed.head.weight, learned.head.weight)
    with torch.no_grad():
        learned.positions.add_(1.0)
    path = tmp_path / "model.pt"
    models.save(path, learned, {"arch": "vit", "topology": "enc2learned", "width": 8}, (1, 28, 28))
    loaded, _ = models.load(path)
    assert torch.equal(loaded.positions, learned.positions)
    with pytest.raises(ValueError, match="enc2learned"):
        models.build("vit", "enc3", 8, (1, 28, 28))


# ---------------------------------------------------------------------------------------------
# the stored spec against the job's, a full disk, an unreadable file


def test_load_with_the_expected_spec_returns_the_model(tmp_path, trained_like_model):
    path = tmp_path / "seed2" / "model.pt"
    models.save(path, trained_like_model, SPEC, (1, 28, 28))
    _, spec = models.load(path, expected=dict(SPEC))
    assert spec == SPEC
    models.load(path, expected={**SPEC, "width": str(SPEC["width"])})  # a wildcard's string is the same width


@pytest.mark.parametrize("key, value", [("seed", 0), ("dataset", "fashion_mnist"), ("topology", "L3du")])
def test_a_model_of_another_run_is_one_line_naming_both(tmp_path, trained_like_model, key, value):
    """A model file copied onto another run's path: its stored spec, not the path, used to
    decide which run the prune rows claim to be."""
    path = tmp_path / "seed2" / "model.pt"
    models.save(path, trained_like_model, SPEC, (1, 28, 28))
    with pytest.raises(models.CheckpointError) as info:
        models.load(path, expected={**SPEC, key: value})
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert f"holds the model of {key} {SPEC[key]}, not of {key} {value}" in message and "delete it" in message


def test_saving_onto_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, trained_like_model, monkeypatch):
    """torch.save's bytes go to /dev/full, which answers every write with ENOSPC like a full disk."""
    real_open = open
    monkeypatch.setattr(models, "open", lambda path, mode: real_open("/dev/full", mode), raising=False)
    path = tmp_path / "seed2" / "model.pt"
    with pytest.raises(io.OutputError) as info:
        models.save(path, trained_like_model, SPEC, (1, 28, 28))
    message = str(info.value)
    assert message.startswith(f"disk full while writing {path}") and "\n" not in message
    assert os.listdir(path.parent) == []


def test_an_unreadable_model_says_permission_not_corrupt(tmp_path, trained_like_model, monkeypatch):
    path = tmp_path / "model.pt"
    models.save(path, trained_like_model, SPEC, (1, 28, 28))

    def denied(target, *args, **kwargs):  # what the OS raises for a file this user may not read
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr(torch, "load", denied)
    with pytest.raises(models.CheckpointError) as info:
        models.load(path)
    assert f"permission denied reading the model {path}" in str(info.value)
    assert "corrupt" not in str(info.value)
