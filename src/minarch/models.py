"""The built-in families' torch modules (docs/design.md §1), and building, saving and loading
the model of any registered family (``minarch.registry``)."""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

from minarch import registry
from minarch import topology as topo
from minarch.families import CNN_TOPOLOGY, VIT_POSITIONS, vit_position_kind
from minarch.io import CheckpointError, atomic_path, permission_message

# The sizes and closed-form parameter counts live torch-free in minarch.sizes (the cost model
# and the paper comparison use them too); they are re-exported here beside the modules.
from minarch.sizes import (  # noqa: F401  (re-exported)
    NUM_CLASSES,
    VIT_BLOCKS,
    VIT_GRID,
    VIT_IMAGE_SIDE,
    cnn_parameter_count,
    dnn_parameter_count,
    vit_parameter_count,
)

# The attribute that names a built model's family (``arch_of``): a plain attribute, in no state dict.
FAMILY_ATTRIBUTE = "minarch_family"


def build(
    arch: str, topology: str, width: int, image_shape: tuple[int, ...], num_classes: int = NUM_CLASSES
) -> nn.Module:
    """A freshly initialised model of a registered family (its ``Family.build``); the caller
    seeds torch first (see ``seeded``). ``width`` is the first hidden layer (DNN), the conv
    channels (CNN) or the hidden dimension (ViT); ``image_shape`` what the model sees (after
    ``input_transform``)."""
    model = registry.family(arch).builder()(topology, width, tuple(image_shape), num_classes)
    setattr(model, FAMILY_ATTRIBUTE, arch)
    return model


def build_dnn(topology: str, width: int, image_shape: tuple[int, ...], num_classes: int = NUM_CLASSES) -> nn.Module:
    return dnn(math.prod(image_shape), topo.hidden_widths(topology, width), num_classes)


def build_cnn(topology: str, width: int, image_shape: tuple[int, ...], num_classes: int = NUM_CLASSES) -> nn.Module:
    if topology != CNN_TOPOLOGY:
        raise ValueError(f"cnn has the single topology {CNN_TOPOLOGY!r}, not {topology!r}")
    return cnn(image_shape, width, num_classes)


def build_vit(topology: str, width: int, image_shape: tuple[int, ...], num_classes: int = NUM_CLASSES) -> nn.Module:
    if topology not in VIT_POSITIONS.values():
        raise ValueError(f"vit topologies are {', '.join(VIT_POSITIONS.values())}, not {topology!r}")
    return ViT(image_shape, width, num_classes, positions=vit_position_kind(topology))


def seeded(seed: int, arch: str, topology: str, width: int, image_shape, num_classes: int = NUM_CLASSES) -> nn.Module:
    """The model a run's seed fixes: the float and the QAT run of one seed start identical."""
    torch.manual_seed(seed)
    return build(arch, topology, width, image_shape, num_classes)


def resize(images: torch.Tensor, side: int, chunk: int = 10000) -> torch.Tensor:
    """NCHW images at ``side`` x ``side`` (bilinear, antialiased; in chunks to bound memory)."""
    if tuple(images.shape[-2:]) == (side, side):
        return images
    return torch.cat(
        [
            nn.functional.interpolate(
                images[i : i + chunk], size=(side, side), mode="bilinear", antialias=True, align_corners=False
            )
            for i in range(0, len(images), chunk)
        ]
    )


def resize_for_vit(images: torch.Tensor, chunk: int = 10000) -> torch.Tensor:
    """NCHW images at the ViT's 28x28."""
    return resize(images, VIT_IMAGE_SIDE, chunk)


def input_transform(arch: str):
    """What a family does to the normalised images before its first layer (None: nothing):
    resize them to its ``input_side``."""
    side = registry.family(arch).input_side
    return None if side is None else functools.partial(resize, side=side)


def dnn(input_dim: int, hidden: list[int], num_classes: int = NUM_CLASSES) -> nn.Sequential:
    """Flatten -> (Linear, ReLU) per hidden layer -> Linear; He-normal weights, zero biases."""
    layers: list[nn.Module] = [nn.Flatten()]
    widths = [input_dim, *hidden]
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    layers.append(nn.Linear(widths[-1], num_classes))
    for layer in layers:
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, mean=0.0, std=math.sqrt(2.0 / layer.in_features))
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


def cnn(image_shape: tuple[int, ...], channels: int, num_classes: int = NUM_CLASSES) -> nn.Sequential:
    """3x3 conv (stride 1, no padding) -> ReLU -> flatten -> linear (paper Sec. III-B, IV-b):
    Kaiming-He normal conv weights (fan_out), N(0, 0.01^2) linear weights, zero biases."""
    in_channels, height, width = image_shape
    conv = nn.Conv2d(in_channels, channels, kernel_size=3, stride=1, padding=0)
    linear = nn.Linear(channels * (height - 2) * (width - 2), num_classes)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    nn.init.zeros_(conv.bias)
    nn.init.normal_(linear.weight, mean=0.0, std=0.01)
    nn.init.zeros_(linear.bias)
    return nn.Sequential(conv, nn.ReLU(), nn.Flatten(), linear)


def sinusoidal_positions(n_positions: int, dim: int) -> torch.Tensor:
    """Fixed sine/cosine position embeddings (Vaswani et al.); any ``dim``, odd ones included."""
    position = torch.arange(n_positions, dtype=torch.float32)[:, None]
    index = torch.arange(dim)
    frequency = torch.pow(10000.0, -(2 * (index // 2)).float() / dim)
    angles = position * frequency
    return torch.where(index % 2 == 0, torch.sin(angles), torch.cos(angles))


@functools.cache
def _patch_index(channels: int, height: int, width: int, device: torch.device) -> torch.Tensor:
    """Where each of ``to_patches``'s outputs comes from in a flattened (C, H, W) image."""
    (ph, pw), g = (height // VIT_GRID, width // VIT_GRID), VIT_GRID
    image = torch.arange(channels * height * width).reshape(channels, g, ph, g, pw)
    return image.permute(1, 3, 0, 2, 4).reshape(-1).to(device)


def to_patches(images: torch.Tensor) -> torch.Tensor:
    """``(..., C, H, W)`` images as ``(..., 49, C * ph * pw)`` patches: a 7 x 7 grid, row-major,
    each patch's pixels channel by channel, row by row. One gather along each flattened image
    (``index_select``, float or quantized), 4-5x faster than permuting the image's axes, whose
    copy moves runs of ``pw`` floats (``ViT.patches`` and the stacked ViT's forward)."""
    *lead, c, h, w = images.shape
    index = _patch_index(c, h, w, images.device)
    return images.reshape(*lead, c * h * w).index_select(-1, index).view(*lead, VIT_GRID * VIT_GRID, -1)


class SelfAttention(nn.Module):
    """Single-head self-attention with its four projections as plain ``nn.Linear`` so that
    pruning and QAT reach them (``nn.MultiheadAttention`` hides them in a fused parameter)."""

    def __init__(self, dim: int):
        super().__init__()
        self.query, self.key, self.value, self.out = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attended = nn.functional.scaled_dot_product_attention(self.query(x), self.key(x), self.value(x))
        return self.out(attended)


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: x + attention(norm(x)), then x + MLP(norm(x)); MLP width = dim."""

    def __init__(self, dim: int):
        super().__init__()
        self.attention_norm = nn.LayerNorm(dim)
        self.attention = SelfAttention(dim)
        self.mlp_norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class ViT(nn.Module):
    """A minimal Vision Transformer (paper Sec. III-B, after Dosovitskiy et al.): a 7x7 grid of
    patches, linear patch embedding, learnable class token, position embeddings, two pre-norm
    single-head encoder blocks, LayerNorm and a linear head on the class token. Linear weights
    Xavier-uniform and biases zero (the original ViT's choice), class token zero.

    ``positions``: ``sinusoidal``, a fixed table (no parameters), or ``learned``, one trained
    D-vector per token as in Dosovitskiy et al., drawn from N(0, 0.02^2) as their reference
    code does (docs/design.md §1 says which matches the paper's parameter counts)."""

    def __init__(self, image_shape: tuple[int, ...], dim: int, num_classes: int = NUM_CLASSES, *, positions: str):
        super().__init__()
        in_channels, height, width = image_shape
        if height % VIT_GRID or width % VIT_GRID:
            raise ValueError(f"ViT needs image sides divisible by {VIT_GRID}, got {height}x{width}")
        self.patch = (height // VIT_GRID, width // VIT_GRID)
        self.patch_embedding = nn.Linear(in_channels * self.patch[0] * self.patch[1], dim)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        table = sinusoidal_positions(VIT_GRID * VIT_GRID + 1, dim)[None]
        if positions == "learned":  # drawn last (below): a seed's other weights are the same for both kinds
            self.positions = nn.Parameter(torch.empty_like(table))
        elif positions == "sinusoidal":
            self.register_buffer("positions", table, persistent=False)
        else:
            raise ValueError(f"ViT positions are 'sinusoidal' or 'learned', not {positions!r}")
        self.blocks = nn.Sequential(*(EncoderBlock(dim) for _ in range(VIT_BLOCKS)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        if isinstance(self.positions, nn.Parameter):
            nn.init.normal_(self.positions, std=0.02)

    def patches(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, 49, C * ph * pw), row-major over the grid (``to_patches``)."""
        return to_patches(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embedding(self.patches(images))
        tokens = torch.cat([self.class_token.expand(len(tokens), -1, -1), tokens], dim=1) + self.positions
        return self.head(self.norm(self.blocks(tokens)[:, 0]))


def arch_of(model: nn.Module) -> str:
    """The family of a model ``build`` made."""
    try:
        return getattr(model, FAMILY_ATTRIBUTE)
    except AttributeError:
        raise ValueError(f"not a model minarch.models.build made: {type(model).__name__}") from None


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save(path, model: nn.Module, spec: dict, image_shape: tuple[int, ...]) -> None:
    payload = {"state_dict": model.state_dict(), "spec": dict(spec), "image_shape": list(image_shape)}
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        # a file object, not the path: torch.save names the archive's folder after the file,
        # which would put the random temporary name into every model.pt
        torch.save(payload, handle)


def load(path, expected: dict | None = None) -> tuple[nn.Module, dict]:
    """Rebuild the float model saved by ``save``; a damaged file gives one clear error. With
    ``expected`` (the run spec its job's path and config name: ``RunSpec.columns()``), a model
    stored with another spec (a file copied onto another seed's path, say) is one clear error
    too, instead of results under the wrong seed."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        spec = payload["spec"]
        model = build(spec["arch"], spec["topology"], int(spec["width"]), tuple(payload["image_shape"]))
        model.load_state_dict(payload["state_dict"])
    except FileNotFoundError:
        raise
    except PermissionError:
        raise CheckpointError(permission_message(path, "the model")) from None
    except Exception as error:
        raise CheckpointError(
            f"{path} is corrupt or incompatible ({type(error).__name__}); delete it and rerun to retrain this seed"
        ) from None
    if expected is not None:
        check_spec(path, spec, expected)
    return model, spec


def load_checked(path, expected: dict) -> nn.Module:
    """``load`` with ``expected``: the model's stored spec must be the run its job's path names
    (a model copied from another seed or configuration is an error, not an input); a missing
    file is one line too."""
    try:
        return load(path, expected)[0]
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; rerun the workflow to retrain this seed") from None


def check_spec(path, stored: dict, expected: dict) -> None:
    """One line (CheckpointError) when the spec a model file stored differs from ``expected``
    in any of ``expected``'s keys."""
    wrong = [key for key, value in expected.items() if key not in stored or str(stored[key]) != str(value)]
    if wrong:
        found = ", ".join(f"{key} {stored.get(key, 'unrecorded')}" for key in wrong)
        wanted = ", ".join(f"{key} {expected[key]}" for key in wrong)
        raise CheckpointError(
            f"{path} holds the model of {found}, not of {wanted} as its job expects (a model copied onto "
            "another run's path?); delete it and rerun to retrain this seed"
        )
