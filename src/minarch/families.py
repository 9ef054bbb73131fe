"""The built-in model families (paper Sec. III-B), one registry entry each (``minarch.registry``).

Torch-free: the models themselves are built by ``minarch.models`` and stacked by
``minarch.stacked``, named here as ``"module:attribute"``; the closed-form sizes are
``minarch.sizes``'. Imported by the registry on its first lookup.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from minarch import topology as topo
from minarch.registry import Family, register_family
from minarch.settings import load_schema
from minarch.sizes import (
    NUM_CLASSES,
    VIT_GRID,
    VIT_IMAGE_SIDE,
    cnn_parameter_count,
    dnn_parameter_count,
    vit_parameter_count,
)

# The CNN has one fixed shape (paper Sec. III-B); its name stands in the run paths where a
# DNN names its topology.
CNN_TOPOLOGY = "conv3x3"

# The ViT's position embedding is part of its shape, so each kind has a topology name of its
# own: both kinds can run in one sweep (``families.vit.positions``) and never share files.
# ``enc2``, the fixed sinusoidal table, is the name every earlier run was stored under.
VIT_POSITIONS = {"sinusoidal": "enc2", "learned": "enc2learned"}


def vit_position_kind(topology: str) -> str:
    """``sinusoidal`` or ``learned``: the position embedding a ViT topology name stands for."""
    for kind, name in VIT_POSITIONS.items():
        if name == topology:
            return kind
    raise ValueError(f"unknown ViT topology {topology!r}; known: {', '.join(VIT_POSITIONS.values())}")


def _vit_topologies(spec: dict[str, Any]) -> list[str]:
    return [VIT_POSITIONS[kind] for kind in spec.get("positions", _default_vit_positions())]


@functools.cache  # read once: every sweeps() call of a Snakefile parse lands here
def _default_vit_positions() -> tuple[str, ...]:
    return tuple(load_schema()["properties"]["families"]["properties"]["vit"]["properties"]["positions"]["default"])


DNN = register_family(
    Family(
        name="dnn",
        title="DNN",
        figure="fig3_dnn",
        width_label="nodes in first hidden layer",
        width_symbol="width",
        width_noun="width",
        build="minarch.models:build_dnn",
        stacked="minarch.stacked:DNNStack",
        parameter_count=lambda shape, topology, width: dnn_parameter_count(
            math.prod(shape), topo.hidden_widths(topology, width)
        ),
        topologies=lambda spec: list(spec["topologies"]),
        pruning_label="smallest stable width per depth",
        depth=topo.depth,
        activation_floats=lambda shape, topology, width: (
            math.prod(shape) + sum(topo.hidden_widths(topology, width)) + NUM_CLASSES
        ),
        examples=(("L2e", 6),),
        stack_max_width={"train": 200, "qat": 200},  # stacked: train 1.2-2.2x, QAT 1.0-1.5x cheaper per seed
    )
)

CNN = register_family(
    Family(
        name="cnn",
        title="CNN",
        figure="fig4_cnn",
        width_label="conv channels",
        width_symbol="channels",
        width_noun="channel count",
        build="minarch.models:build_cnn",
        stacked="minarch.stacked:CNNStack",
        parameter_count=lambda shape, topology, width: cnn_parameter_count(shape, width),
        topologies=lambda spec: [CNN_TOPOLOGY],
        activation_floats=lambda shape, topology, width: math.prod(shape) + width * (shape[1] - 2) * (shape[2] - 2),
        # its QAT job peaks about this much above the model whatever its channels (1-16
        # measured: the eager int8 model's conversion and evaluation)
        qat_extra_mb=450.0,
        examples=((CNN_TOPOLOGY, 2),),
        # never stacked on the CPU: its grouped convolution is 2-4x slower than one seed at a time
    )
)

VIT = register_family(
    Family(
        name="vit",
        title="ViT",
        figure="fig5_vit",
        width_label="hidden dimension",
        width_symbol="D",
        width_noun="D",
        build="minarch.models:build_vit",
        stacked="minarch.stacked:ViTStack",
        parameter_count=lambda shape, topology, width: vit_parameter_count(
            shape, width, learned_positions=vit_position_kind(topology) == "learned"
        ),
        topologies=_vit_topologies,
        curve_label=lambda topology: f"{vit_position_kind(topology)} positions",
        # CIFAR-10's 32x32 images are resized for the 7x7 patch grid (docs/design.md §1)
        input_side=VIT_IMAGE_SIDE,
        scoped_qat=True,
        # ~8 D-wide tensors per token
        activation_floats=lambda shape, topology, width: math.prod(shape) + 8 * (VIT_GRID * VIT_GRID + 1) * width,
        examples=((VIT_POSITIONS["sinusoidal"], 4), (VIT_POSITIONS["learned"], 4)),
        # stacked per seed: training 1.04-1.1x cheaper at D = 4-8, dearer from 12; QAT of its
        # linear layers 1.24x at D = 4, 1.07x at 12, even at 16; under the other scopes QAT
        # stacked measured no cheaper (full 0.9-1.0x, attention 1.04x at D = 4)
        stack_max_width={"train": 8, "qat.linear": 12},
    )
)
