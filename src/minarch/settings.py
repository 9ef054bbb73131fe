"""Small, typed settings for each stage, built from the validated config.

Each stage receives only its own slice of the config (as Snakemake ``params``), so editing
one stage's settings reruns that stage only. Everything here is torch-free: the Snakefile
imports it at parse time.

Defaults have one source, the config schema (workflow/schemas/config.schema.yaml): a
field left out when a settings object is built (in tests, benchmarks, the cost model)
takes the schema's default for its config key, read when first needed.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from minarch import registry

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


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


# ---------------------------------------------------------------------------- the schema's defaults
def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    """The config schema (``minarch.config`` checks configs against it; the defaults below are
    its), with the registered datasets and families (``with_registry``)."""
    with open(path) as handle:
        # libyaml's loader where PyYAML has it: the pure-Python one takes ~0.3 s for the schema,
        # read at every Snakefile parse
        return with_registry(yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))


def with_registry(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` naming the registered datasets (``definitions.dataset``) and with a
    ``families`` section for every registered family: its own ``config_schema``, else the
    file's section, else datasets, widths and seeds."""
    schema["definitions"]["dataset"]["enum"] = list(registry.datasets())
    sections = schema["properties"]["families"]["properties"]
    for name, family in registry.families().items():
        if family.config_schema is not None:
            sections[name] = copy.deepcopy(family.config_schema)
        elif name not in sections:
            sections[name] = {
                "type": "object",
                "additionalProperties": False,
                "required": ["datasets", "widths", "seeds"],
                "properties": {key: {"$ref": f"#/definitions/{key}"} for key in ("datasets", "widths", "seeds")},
            }
    return schema


@functools.cache
def _schema_sections() -> dict[str, Any]:
    return load_schema()["properties"]


def section_defaults(section: str) -> dict[str, Any]:
    """The schema's default of every key of a config section that has one (a fresh copy)."""
    properties = _schema_sections()[section]["properties"]
    return {key: copy.deepcopy(spec["default"]) for key, spec in properties.items() if "default" in spec}


def schema_default(section: str, key: str) -> Any:
    """The schema's default of ``section.key``; a KeyError names a key without one."""
    defaults = section_defaults(section)
    if key not in defaults:
        raise KeyError(f"the config schema gives no default for {section}.{key}")
    return defaults[key]


def schema_field(section: str, key: str, convert: Callable[[Any], Any] = lambda value: value):
    """A dataclass field whose default is the schema's for ``section.key``."""
    return dataclasses.field(default_factory=lambda: convert(schema_default(section, key)))


@dataclass(frozen=True)
class TrainSettings:
    """The paper's recipe (Sec. IV-a): Adam, batch size, epochs with early stopping; the
    held-out split comes from the config's ``data`` section."""

    learning_rate: float = schema_field("train", "learning_rate")
    batch_size: int = schema_field("train", "batch_size")
    max_epochs: int = schema_field("train", "max_epochs")
    patience: int = schema_field("train", "patience")
    validation_fraction: float = schema_field("data", "validation_fraction")
    split_seed: int = schema_field("data", "split_seed")
    eval_batch_size: int = schema_field("train", "eval_batch_size")
    threads: int = schema_field("train", "threads")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainSettings:
        return _from_dict(cls, values)


@dataclass(frozen=True)
class PruneSettings:
    ratios: tuple[float, ...] = schema_field("prune", "ratios", lambda ratios: tuple(float(r) for r in ratios))
    finetune_epochs: int = schema_field("prune", "finetune_epochs")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PruneSettings:
        values = dict(values)
        if "ratios" in values:
            values["ratios"] = tuple(float(r) for r in values["ratios"])
        return _from_dict(cls, values)


@dataclass(frozen=True)
class QATSettings:
    """8-bit W8A8 QAT; ``scratch`` retrains with the float recipe and seed, ``finetune`` starts
    from the trained float weights for ``finetune_epochs``. ``scope``: what of the ViT is
    quantized, one QAT run (and result row) per scope (``qat_scopes``). ``ptq``: also quantize
    the trained float model after training, calibrated on its first ``ptq_batches`` training
    batches (post-training quantization, the baseline of QAT)."""

    mode: str = schema_field("qat", "mode")
    finetune_epochs: int = schema_field("qat", "finetune_epochs")
    backend: str = schema_field("qat", "backend")
    scope: tuple[str, ...] = schema_field("qat", "scope", tuple)
    ptq: bool = schema_field("qat", "ptq")
    ptq_batches: int = schema_field("qat", "ptq_batches")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> QATSettings:
        values = dict(values)
        if "scope" in values:
            values["scope"] = tuple(values["scope"])
        return _from_dict(cls, values)


def qat_scopes(arch: str, scopes) -> tuple[str, ...]:
    """The quantization scopes a family runs: each listed scope for a family with
    ``scoped_qat`` (the ViT); the others (DNN, CNN) are quantized whole, once, recorded as
    ``full`` whatever ``qat.scope`` lists."""
    return tuple(scopes) if registry.family(arch).scoped_qat else ("full",)


def qat_params(qat: dict[str, Any], arch: str) -> dict[str, Any]:
    """A family's ``qat`` config section as its QAT jobs see it (Snakemake ``params``), with
    the scopes it runs: editing ``qat.scope`` reruns the ViT's QAT jobs only."""
    return {**qat, "scope": list(qat_scopes(arch, qat["scope"]))}


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
