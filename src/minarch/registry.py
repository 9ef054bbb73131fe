"""The model families and datasets the workflow knows: each one entry, looked up by name.

A ``Family`` says everything the workflow needs of a model family: how to build its model
and its stacked form (and when a job's seeds of it train as one stack), its closed-form
parameter count, the input side it resizes images to, its topology names, how it is
quantized, its titles and figure, and what the cost model assumes of it. A ``Dataset`` says
what a dataset is: its image shape and split sizes, its content checksums and where its
arrays come from. Torch-free: the Snakefile reads the registry while it is parsed (wildcard
constraints, the figures, the config schema's families and datasets); a family's torch code
is named as ``"module:attribute"`` and imported only when a job builds a model.

The entries are registered by modules imported on first lookup: the built-in families
(``minarch.families``), the built-in datasets (``minarch.data``), then every module named,
comma-separated, in the environment variable ``MINARCH_PLUGINS``. A plugin module calls
``register_family`` / ``register_dataset`` at import; it must be importable (on
``PYTHONPATH``) in the Snakemake process and in every job, which inherit the environment.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PLUGINS_ENV = "MINARCH_PLUGINS"
# Imported (by name) on first lookup, before the plugins: they register the built-in entries.
BUILTIN = ("minarch.families", "minarch.data")
ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def _one(topology: str) -> int:
    return 1


def _same(topology: str) -> str:
    return topology


@dataclass(frozen=True)
class Family:
    """One model family. ``width`` is the one size the sweep varies (a DNN's first hidden
    layer, a CNN's channels, a ViT's hidden dimension)."""

    name: str  # the config's families.<name>, the runs' arch
    title: str  # Table I and figure titles
    figure: str  # results/figures/<figure>.png, named fig<number>_<name>
    width_label: str  # the figure's x axis
    width_symbol: str  # the width in the comparison's texts ("D >= 16")
    width_noun: str  # "minimum stable <width_noun>"
    # (topology, width, image_shape, num_classes) -> a fresh nn.Module, as "module:function"
    build: str
    # (input shape (C, H, W), topology, width) -> trainable parameters, without building the model
    parameter_count: Callable[[tuple[int, int, int], str, int], int]
    # the family's config section -> the topology names its runs are stored under
    topologies: Callable[[dict[str, Any]], list[str]]
    # its stacked form, as "module:Class": a class of minarch.stacked's kind, made from one built
    # model; the training loop runs every model through one (a seed alone is a stack of one)
    stacked: str
    input_side: int | None = None  # images are resized to this square side first; None: as they are
    scoped_qat: bool = False  # one QAT run per qat.scope; otherwise quantized whole, recorded as ``full``
    pruning_label: str = "smallest stable width"  # which configuration the figure's pruning panel shows
    curve_label: Callable[[str], str] = _same  # a topology's name in the figure's legends
    # the cost model: the depth of its measured curves, the floats one image's forward keeps
    # (input shape, topology, width), the family whose measured points stand in when it has
    # none, and what a QAT job needs beyond the model
    depth: Callable[[str], int] = _one
    activation_floats: Callable[[tuple[int, int, int], str, int], int] | None = None
    cost_like: str | None = None
    qat_extra_mb: float = 0.0
    # the JSON schema of its config section; None: the config schema file's own section, else
    # datasets, widths and seeds (``minarch.settings.with_registry``)
    config_schema: dict[str, Any] | None = None
    # small (topology, width) cases the unit tests check every family on
    examples: tuple[tuple[str, int], ...] = ()
    # where a configuration's seeds run as one stack on the CPU, one at a time elsewhere: per
    # stage ("train", "qat") or QAT scope ("qat.linear", before its stage's entry), the widest
    # width that stacks; a stage not named never does. Set where stacking measured cheaper
    # (benchmarks/reports/stage_speed.md)
    stack_max_width: dict[str, int] = field(default_factory=dict)

    def stacks(self, width: int, device: str = "cpu", stage: str = "train", scope: str | None = None) -> bool:
        """Whether the seeds of a configuration of ``width`` run ``stage`` (the QAT of ``scope``)
        as one stack on ``device`` (a device type): on the CPU up to the width
        ``stack_max_width`` names for it; on CUDA always, where one kernel launch then serves
        every seed (not measured yet)."""
        limits = self.stack_max_width
        return device == "cuda" or width <= limits.get(f"{stage}.{scope}", limits.get(stage, 0))

    def __post_init__(self):
        if not re.fullmatch(rf"fig\d+_{re.escape(self.name)}", self.figure):
            raise ValueError(f"family {self.name}: its figure is named fig<number>_{self.name}, not {self.figure!r}")
        # a misspelt stage or scope would silently never stack
        unknown = [k for k in self.stack_max_width if not re.fullmatch(r"train|qat(\.(linear|attention|full))?", k)]
        if unknown:
            raise ValueError(
                f"family {self.name}: stack_max_width keys are train, qat or qat.<linear|attention|full>, not {unknown}"
            )

    def builder(self) -> Callable[..., Any]:
        return resolve(self.build)

    def input_shape(self, image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """(C, H, W) of what the family's first layer sees."""
        channels, height, width = image_shape
        return (channels, height, width) if self.input_side is None else (channels, self.input_side, self.input_side)


@dataclass(frozen=True)
class Dataset:
    """One dataset of ten classes with uint8 images: its arrays ``x_train, y_train, x_test,
    y_test`` (images NHW with one channel, NHWC with several) come from a data mirror folder
    (``<name>.npz``), an official download (``torchvision_class``) or, where given, ``loader``
    (a function returning the arrays), and are checked against ``checksums``."""

    name: str
    title: str
    image_shape: tuple[int, int, int]  # C, H, W
    # Accepted content checksums (SHA-256 of each array's bytes); several sets where sources differ.
    checksums: tuple[dict[str, str], ...]
    torchvision_class: str | None = None
    # whether an official download's content is not among ``checksums`` (its archive MD5 is
    # checked by torchvision instead), so that a cache of it is known by its recorded name only
    unlisted_download: bool = False
    train_images: int | None = None  # None: not checked
    test_images: int | None = None
    similar: str | None = None  # the dataset whose measured costs stand in for this one's
    loader: Callable[[], dict[str, Any]] | None = None

    @property
    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        channels, height, width = self.image_shape
        pixels = (height, width) if channels == 1 else (height, width, channels)
        counts = {"x_train": self.train_images, "x_test": self.test_images}
        return {name: (count, *pixels) for name, count in counts.items() if count is not None}

    @property
    def images(self) -> int:
        return (self.train_images or 0) + (self.test_images or 0)


@dataclass
class _Registry:
    families: dict[str, Family] = field(default_factory=dict)
    datasets: dict[str, Dataset] = field(default_factory=dict)
    loaded: bool = False


_REGISTRY = _Registry()


def register_family(family: Family) -> Family:
    return _register(_REGISTRY.families, family, "family")


def register_dataset(dataset: Dataset) -> Dataset:
    return _register(_REGISTRY.datasets, dataset, "dataset")


def _register(table: dict, entry, kind: str):
    if entry.name in table and table[entry.name] != entry:
        raise ValueError(f"a {kind} named {entry.name!r} is registered already")
    table[entry.name] = entry
    return entry


def _load() -> None:
    """Import the built-in entries' modules, then the plugins, once per process."""
    if _REGISTRY.loaded:
        return
    _REGISTRY.loaded = True
    plugins = [name.strip() for name in os.environ.get(PLUGINS_ENV, "").split(",") if name.strip()]
    for module in (*BUILTIN, *plugins):
        try:
            importlib.import_module(module)
        except ImportError as error:
            if module in plugins and error.name == module:
                raise ImportError(f"{PLUGINS_ENV} names {module!r}, which is not importable (on PYTHONPATH?)") from None
            raise


def families() -> dict[str, Family]:
    """Every registered family by name, the built-in ones first (the order of tables and figures)."""
    _load()
    return _REGISTRY.families


def datasets() -> dict[str, Dataset]:
    """Every registered dataset by name, the built-in ones first."""
    _load()
    return _REGISTRY.datasets


def family(name: str) -> Family:
    try:
        return families()[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(families())}") from None


def dataset(name: str) -> Dataset:
    try:
        return datasets()[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(datasets())}") from None


def resolve(reference: str) -> Any:
    """The attribute a ``"module:attribute"`` reference names."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


def wildcard_pattern(names) -> str:
    """A Snakemake wildcard constraint matching exactly ``names``."""
    return "|".join(sorted(names, key=len, reverse=True))
