"""Sizes of the built-in model families, torch-free: class count, the ViT's fixed shape, the
closed-form parameter counts (docs/design.md §1), and the input shape and parameter count of
any registered family's configuration (``minarch.registry``).

One home for them: ``minarch.models`` builds its torch modules from these constants (and
tests/unit/test_models.py checks every family's closed form against a built model), while
the cost model and the paper comparison, which must not import torch, count parameters here.
"""

from __future__ import annotations

import itertools

from minarch import registry

NUM_CLASSES = 10  # every dataset here has ten balanced classes
VIT_GRID = 7  # patches per side
VIT_IMAGE_SIDE = 28  # CIFAR-10's 32x32 images are resized to this for the ViT (docs/design.md §1)
VIT_BLOCKS = 2  # encoder blocks
CONV_KERNEL = 3  # the CNN's one conv layer: 3x3, stride 1, no padding
# Evaluation chunks of a stack hold at most about this many activation floats per seed (64 MiB
# with 16 seeds); the chunk length depends on the model only, never on how many seeds are
# stacked (``minarch.stacked``; the cost model counts them in a stacked job's memory).
EVAL_ELEMENTS_PER_SEED = 1 << 20


def input_shape(dataset: str, arch: str) -> tuple[int, int, int]:
    """(C, H, W) of the images a family's first layer sees: the dataset's own, or square at the
    side the family resizes to (the ViT's ``VIT_IMAGE_SIDE``)."""
    return registry.family(arch).input_shape(registry.dataset(dataset).image_shape)


def dnn_parameter_count(input_dim: int, hidden: list[int], num_classes: int = NUM_CLASSES) -> int:
    """Weights and biases of Linear layers input_dim -> hidden... -> num_classes."""
    widths = [input_dim, *hidden, num_classes]
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in itertools.pairwise(widths))


def cnn_parameter_count(image_shape: tuple[int, ...], channels: int, num_classes: int = NUM_CLASSES) -> int:
    """One 3x3 conv (no padding) and a linear head on its flattened output."""
    in_channels, height, width = image_shape
    side = CONV_KERNEL - 1  # pixels a valid conv loses per axis
    conv = (CONV_KERNEL * CONV_KERNEL * in_channels + 1) * channels
    return conv + (channels * (height - side) * (width - side) + 1) * num_classes


def vit_parameter_count(
    image_shape: tuple[int, ...], dim: int, num_classes: int = NUM_CLASSES, learned_positions: bool = False
) -> int:
    """Patch embedding + class token + VIT_BLOCKS x (2 norms, 4 attention and 2 MLP linears)
    + norm + head, and with learned positions one D-vector per token (class token included)."""
    in_channels, height, width = image_shape
    patch_dim = in_channels * (height // VIT_GRID) * (width // VIT_GRID)
    block = 2 * 2 * dim + 6 * (dim * dim + dim)
    positions = (VIT_GRID * VIT_GRID + 1) * dim if learned_positions else 0
    return (patch_dim + 1) * dim + dim + VIT_BLOCKS * block + 2 * dim + (dim + 1) * num_classes + positions


def vit_parameter_formula() -> str:
    """``vit_parameter_count`` at the ViT's input side as a polynomial in D with C input
    channels, e.g. ``12D²+(16C+34)D+10``: the coefficients read off the same constants."""
    square = 6 * VIT_BLOCKS  # 4 attention and 2 MLP weight matrices per block
    patch_pixels = (VIT_IMAGE_SIDE // VIT_GRID) ** 2
    # patch bias, class token, per block 2 norms (2D each) and 6 biases, final norm, head weights
    linear = 1 + 1 + VIT_BLOCKS * (2 * 2 + 6) + 2 + NUM_CLASSES
    return f"{square}D²+({patch_pixels}C+{linear})D+{NUM_CLASSES}"


def parameter_count(dataset: str, arch: str, topology: str, width: int) -> int:
    """Trainable parameters of one configuration of the sweep."""
    return registry.family(arch).parameter_count(input_shape(dataset, arch), topology, width)
