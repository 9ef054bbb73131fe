"""Model families and their closed-form parameter counts (DESIGN.md §1)."""

from __future__ import annotations

import math

import torch
from torch import nn

from minarch import topology as topo
from minarch.io import CheckpointError, atomic_path

NUM_CLASSES = 10


def build(arch: str, topology: str, width: int, image_shape: tuple[int, ...], num_classes: int = NUM_CLASSES) -> nn.Module:
    """A freshly initialised model; the caller seeds torch first (see ``seeded``)."""
    if arch == "dnn":
        return dnn(math.prod(image_shape), topo.hidden_widths(topology, width), num_classes)
    raise ValueError(f"unknown architecture {arch!r}; known: dnn")


def seeded(seed: int, arch: str, topology: str, width: int, image_shape, num_classes: int = NUM_CLASSES) -> nn.Module:
    """The model a run's seed fixes: the float and the QAT run of one seed start identical."""
    torch.manual_seed(seed)
    return build(arch, topology, width, image_shape, num_classes)


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


def dnn_parameter_count(input_dim: int, hidden: list[int], num_classes: int = NUM_CLASSES) -> int:
    widths = [input_dim, *hidden, num_classes]
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(widths[:-1], widths[1:]))


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save(path, model: nn.Module, spec: dict, image_shape: tuple[int, ...]) -> None:
    payload = {"state_dict": model.state_dict(), "spec": dict(spec), "image_shape": list(image_shape)}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load(path) -> tuple[nn.Module, dict]:
    """Rebuild the float model saved by ``save``; a damaged file gives one clear error."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        spec = payload["spec"]
        model = build(spec["arch"], spec["topology"], int(spec["width"]), tuple(payload["image_shape"]))
        model.load_state_dict(payload["state_dict"])
    except FileNotFoundError:
        raise
    except Exception as error:
        raise CheckpointError(
            f"{path} is corrupt or incompatible ({type(error).__name__}); delete it and rerun to retrain this seed"
        ) from None
    return model, spec
