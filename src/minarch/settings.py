"""Small, typed settings for each stage, built from the validated config.

Each stage receives only its own slice of the config (as Snakemake ``params``), so editing
one stage's settings reruns that stage only. Everything here is torch-free: the Snakefile
imports it at parse time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The CNN and ViT have one fixed shape each (paper Sec. III-B); its name stands in the
# run paths where a DNN names its topology.
FIXED_TOPOLOGIES = {"cnn": "conv3x3", "vit": "enc2"}


@dataclass(frozen=True)
class RunSpec:
    """One trained model: what it is and where its files live."""

    dataset: str
    arch: str
    topology: str
    width: int
    seed: int

    @property
    def directory(self) -> Path:
        return run_directory(self.dataset, self.arch, self.topology, self.width, self.seed)

    def columns(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def run_directory(dataset, arch, topology, width, seed, root: str = "results/runs") -> Path:
    return Path(root, str(dataset), str(arch), str(topology), f"w{width}", f"seed{seed}")


@dataclass(frozen=True)
class TrainSettings:
    """The paper's recipe (Sec. IV-a): Adam, lr 1e-3, batch 100, <= 20 epochs, early stopping."""

    learning_rate: float = 0.001
    batch_size: int = 100
    max_epochs: int = 20
    patience: int = 5
    validation_fraction: float = 0.1
    split_seed: int = 0
    eval_batch_size: int = 10000
    threads: int = 1

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainSettings":
        return _from_dict(cls, values)


@dataclass(frozen=True)
class PruneSettings:
    ratios: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))
    finetune_epochs: int = 0

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "PruneSettings":
        values = dict(values)
        if "ratios" in values:
            values["ratios"] = tuple(float(r) for r in values["ratios"])
        return _from_dict(cls, values)


@dataclass(frozen=True)
class QATSettings:
    """8-bit W8A8 QAT; ``scratch`` retrains with the float recipe and seed, ``finetune`` starts
    from the trained float weights for ``finetune_epochs``."""

    mode: str = "scratch"
    finetune_epochs: int = 3
    backend: str = "qnnpack"

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "QATSettings":
        return _from_dict(cls, values)


def _from_dict(cls, values: dict[str, Any]):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown setting(s) {', '.join(unknown)}")
    return cls(**values)


def settings_columns(prefix: str, settings) -> dict[str, Any]:
    """Flatten a settings dataclass into ``prefix_name`` columns for a Parquet row."""
    columns = {}
    for name, value in dataclasses.asdict(settings).items():
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        columns[f"{prefix}_{name}"] = value
    return columns
