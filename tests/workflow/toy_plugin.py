"""A plugin that registers a toy family and a toy dataset from outside the package, the way a
researcher adds theirs (``MINARCH_PLUGINS=toy_plugin``, this folder on ``PYTHONPATH``):

- ``toy8``: ten classes of 1x8x8 uint8 images, each a fixed random prototype plus noise,
  made by its ``loader`` (no mirror, no download) and checked against its own checksums;
- ``mlp1``: one hidden ReLU layer of ``width`` units under its own name and initialisation,
  stacked by the DNN's stacked form (same layer structure), its cost read off the DNN's.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from minarch.data import content_checksums
from minarch.registry import Dataset, Family, register_dataset, register_family

SIDE, TRAIN, TEST = 8, 600, 200


@functools.cache
def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(8)
    prototypes = rng.integers(0, 256, size=(10, SIDE, SIDE))

    def split(n):
        labels = np.arange(n) % 10
        noise = rng.normal(0, 40, size=(n, SIDE, SIDE))
        images = np.clip(prototypes[labels] + noise, 0, 255).astype(np.uint8)
        return images, labels.astype(np.uint8)

    x_train, y_train = split(TRAIN)
    x_test, y_test = split(TEST)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def arrays() -> dict[str, np.ndarray]:
    return {name: array.copy() for name, array in _arrays().items()}


def build(topology: str, width: int, image_shape, num_classes: int = 10):
    from torch import nn

    if topology != "h1":
        raise ValueError(f"mlp1 has the single topology 'h1', not {topology!r}")
    return nn.Sequential(
        nn.Flatten(), nn.Linear(math.prod(image_shape), width), nn.ReLU(), nn.Linear(width, num_classes)
    )


register_dataset(
    Dataset(
        "toy8",
        "Toy-8",
        (1, SIDE, SIDE),
        (content_checksums(_arrays()),),
        train_images=TRAIN,
        test_images=TEST,
        similar="mnist",
        loader=arrays,
    )
)

register_family(
    Family(
        name="mlp1",
        title="MLP-1",
        figure="fig6_mlp1",
        width_label="hidden units",
        width_symbol="units",
        width_noun="hidden units",
        build="toy_plugin:build",
        stacked="minarch.stacked:DNNStack",
        parameter_count=lambda shape, topology, width: (math.prod(shape) + 1) * width + (width + 1) * 10,
        topologies=lambda spec: ["h1"],
        cost_like="dnn",
        examples=(("h1", 3),),
    )
)
