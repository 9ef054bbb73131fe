"""Config checking and sweep planning, torch-free (imported by the Snakefile at parse time)."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import jsonschema

from minarch import registry
from minarch import topology as topo
from minarch.settings import SCHEMA_PATH, RunSpec, load_schema, section_defaults

DEFAULT_CONFIG = SCHEMA_PATH.parents[2] / "config" / "config.yaml"  # the workflow's own config
TOPOLOGY_SWEEP = "topology_sweep"
# The sections that say *what* runs: a config file that names one replaces it whole, so a
# small config never inherits the default config's families, seeds or phase 1.
SWEEP_SECTIONS = ("families", TOPOLOGY_SWEEP)


class ConfigError(ValueError):
    """A config problem, reported in one line that names the key."""


class DeviceError(ConfigError):
    """``train.device`` names a device this machine does not have."""


CUDA_MISSING = (
    "config error: train.device is 'cuda' but torch sees no CUDA GPU on this machine; set train.device to "
    "'auto' (the GPU where there is one, else the CPU) or 'cpu', or run the jobs on GPU nodes"
)


def cuda_available() -> bool:
    import torch  # only asked for train.device 'cuda': the Snakefile stays torch-free otherwise

    return torch.cuda.is_available()


def check_device(config: dict[str, Any], local: bool = True) -> None:
    """Stop with one line (``DeviceError``) when the config asks for CUDA (``train.device:
    cuda``) and the jobs run here (``local``), where torch sees no GPU: before any job starts,
    instead of every train, prune and QAT job failing alike. On a cluster (``local`` False)
    the nodes, not this machine, decide."""
    device = (config.get("train") or {}).get("device", "auto")
    if device == "cuda" and local and not cuda_available():
        raise DeviceError(CUDA_MISSING)


# ---------------------------------------------------------------------------- loading and merging
def load_yaml(path: str | Path) -> Any:
    """A YAML file's content; a syntax error is a ConfigError naming the file and line."""
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except OSError as error:
        raise ConfigError(f"config error: cannot read {path}: {error.strerror}") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = error.problem or error.context or "invalid YAML"
        start = error.context_mark
        if error.problem and error.context and start and mark and start.line != mark.line:
            problem += f" ({error.context}, line {start.line + 1})"  # e.g. where an unclosed [ opened
        raise ConfigError(f"config error in {where}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"config error in {path}: YAML syntax error: {error}") from None


def yaml_syntax_error(path: str | Path) -> str | None:
    """The one-line message for a YAML syntax error in ``path``, None when it reads or is
    absent. Snakemake's own message for one names neither the file nor the line."""
    if not Path(path).is_file():
        return None
    try:
        load_yaml(path)
    except ConfigError as error:
        return str(error)
    return None


def deep_merge(base: dict, override: dict) -> dict:
    """``override`` over ``base`` key by key, as Snakemake merges config files."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def sweeps_whole(merged: dict[str, Any], layers: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """``merged`` (the key-by-key merge of the default config and the user's ``layers``, as
    Snakemake makes it) with the sweep taken whole: ``families`` and ``topology_sweep`` each
    come from the last layer naming them, never mixed with the default's. A config that names
    its families and not ``topology_sweep`` runs no phase 1 (it says what runs); one that
    names no families keeps the default's, so ``topology_sweep: null`` alone is the paper's
    sweep without phase 1."""
    layers = [layer for layer in layers if isinstance(layer, dict)]
    resolved = dict(merged)
    for section in SWEEP_SECTIONS:
        named = [layer[section] for layer in layers if section in layer]
        if named:
            resolved[section] = copy.deepcopy(named[-1])
        elif section == TOPOLOGY_SWEEP and any("families" in layer for layer in layers):
            resolved.pop(section, None)
    return resolved


def merge_layers(default: dict[str, Any], *layers: dict[str, Any]) -> dict[str, Any]:
    """The default config and the user's layers (each ``--configfile``, then ``--config``)
    merged as the workflow merges them: key by key, but the sweep whole (``sweeps_whole``)."""
    merged = copy.deepcopy(default)
    for layer in layers:
        merged = deep_merge(merged, layer or {})
    return sweeps_whole(merged, layers)


# ---------------------------------------------------------------------------- types
_INTEGER = re.compile(r"[-+]?\d+")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_NULL = {"null", "Null", "NULL", "~", ""}


def _resolved(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """A schema node with its ``$ref`` (``#/definitions/...``) filled in."""
    while "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def coerce(value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """``value`` with strings read as numbers (or null) where the schema wants one and no
    string. PyYAML follows YAML 1.1, which reads ``1e-3`` (no dot) as a string, and
    ``--config key=...`` reads every nested value as a string; neither should be an error.
    Anything else is left for the schema check to name."""
    root = schema if root is None else root
    schema = _resolved(schema, root)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {k: coerce(v, properties[k], root) if k in properties else v for k, v in value.items()}
    if isinstance(value, list):
        items = schema.get("items")
        return [coerce(v, items, root) for v in value] if isinstance(items, dict) else value
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if isinstance(value, str) and "string" not in types:
        text = value.strip()
        if "integer" in types and _INTEGER.fullmatch(text):
            return int(text)
        if "number" in types and _NUMBER.fullmatch(text):
            return float(text)
        if "null" in types and text in _NULL:
            return None
    return value


def _location(error: jsonschema.ValidationError) -> str:
    parts = []
    for part in error.absolute_path:
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(parts).lstrip(".") or "(top level)"


def check(config: dict[str, Any], schema: dict[str, Any]) -> None:
    """Raise ConfigError naming the first problem, most specific error first."""
    import jsonschema  # here, not at the top: every job imports this module for ConfigError (0.1 s)

    errors = sorted(_validator(schema).iter_errors(config), key=lambda e: (len(e.absolute_path), str(e.path)))
    if not errors:
        return
    error = jsonschema.exceptions.best_match(errors)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        raise ConfigError(f"config error at {_location(error)}: {error.message}; known keys: {', '.join(known)}")
    if error.validator == "contains":  # "does not contain items matching the given schema" says too little
        raise ConfigError(
            f"config error at {_location(error)}: {error.instance!r} {error.schema.get('description', error.message)}"
        )
    value = error.instance if not isinstance(error.instance, (dict, list)) else None
    detail = error.message if value is None else f"{value!r} is not allowed ({error.message})"
    raise ConfigError(f"config error at {_location(error)}: {detail}")


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """Draft 2020-12, but a float is never an integer: JSON Schema counts 5.0 as one, and a
    width of 5.0 would pass and then name its run directory ``w5.0``."""
    import jsonschema

    base = jsonschema.Draft202012Validator
    strict = base.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    )
    return jsonschema.validators.extend(base, type_checker=strict)(schema)


def prepare(config: dict[str, Any], schema: dict[str, Any], layers: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """The config a run uses, checked: ``config`` is Snakemake's key-by-key merge of the
    default config and the user's ``layers`` (each ``--configfile``, then ``--config``). The
    sweep is taken whole from the layers (``sweeps_whole``), numbers given as strings are read
    as numbers (``coerce``), and ``topology_sweep: null`` (phase 1 off) drops the section.
    Raises ConfigError naming the first problem."""
    resolved = coerce(sweeps_whole(config, list(layers)), schema)
    check(resolved, schema)
    if resolved.get(TOPOLOGY_SWEEP, {}) is None:
        del resolved[TOPOLOGY_SWEEP]
    return resolved


def with_defaults(config: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``config`` (checked) with the schema's default of every key it leaves out, at every
    level the config reaches (a section's own default ``{}`` first, then its keys'), as
    Snakemake's ``validate`` fills them; the schema is ``load_schema``'s, with the registry's
    families and datasets."""
    import jsonschema

    base = jsonschema.Draft202012Validator
    validate_properties = base.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, node):
        for key, subschema in properties.items():
            if "default" in subschema and isinstance(instance, dict):
                instance.setdefault(key, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, node)

    filled = copy.deepcopy(config)
    jsonschema.validators.extend(base, {"properties": set_defaults})(schema).validate(filled)
    return filled


def load_config(path: str | Path | None = None, default: str | Path = DEFAULT_CONFIG) -> dict[str, Any]:
    """The config ``snakemake [--configfile path]`` runs: ``path`` merged over the default
    config as the workflow merges it (key by key, the sweep whole: ``merge_layers``), checked
    (``prepare``; a ConfigError names the problem) and with the schema's defaults for the keys
    of a section neither file gives."""
    layers = [] if path is None else [load_yaml(path) or {}]
    if layers and not isinstance(layers[0], dict):
        raise ConfigError(f"config error in {path}: the file must hold keys at the top level")
    schema = load_schema()
    config = prepare(merge_layers(load_yaml(default) or {}, *layers), schema, layers)
    for section, spec in schema["properties"].items():
        if spec.get("type") == "object" and "default" in spec:  # the settings sections
            config[section] = {**section_defaults(section), **config.get(section, {})}
    return config


def topologies_of(family: str, spec: dict[str, Any]) -> list[str]:
    """The topology names of a family's config section (``minarch.registry.Family.topologies``):
    a DNN section lists its topologies, a ViT section its position embeddings; the CNN has one
    fixed shape."""
    return registry.family(family).topologies(spec)


def sweeps(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every sweep of the config by name: the families of phase 2, and the phase-1
    ``topology_sweep`` of DNN shapes (its square members are the same runs as the DNN's)."""
    found = {
        family: {"arch": family, **spec, "topologies": topologies_of(family, spec)}
        for family, spec in config["families"].items()
    }
    if config.get(TOPOLOGY_SWEEP) is not None:  # absent or null: no phase 1
        spec = config[TOPOLOGY_SWEEP]
        found[TOPOLOGY_SWEEP] = {
            "arch": "dnn",
            "datasets": spec["datasets"],
            "widths": spec["widths"],
            "seeds": spec["seeds"],
            "topologies": [name for depth in spec["depths"] for name in topo.of_depth(depth)],
        }
    return found


def configurations(config: dict[str, Any]) -> dict[tuple[str, str, str, int], dict[str, Any]]:
    """Every (dataset, arch, topology, width) some sweep runs, with the seeds it needs trained
    (``train``: the most any sweep asks for) and pruned and quantised (``staged``: the most a
    family asks for; 0 for a phase-1-only shape, which is trained only), and the ``sweeps`` it
    is in, in config order. A square DNN of phase 1 is the same run as the DNN family's, so
    each configuration appears once."""
    found: dict[tuple[str, str, str, int], dict[str, Any]] = {}
    for name, spec in sweeps(config).items():
        for dataset in spec["datasets"]:
            for topology in spec["topologies"]:
                for width in spec["widths"]:
                    key = (dataset, spec["arch"], topology, int(width))
                    entry = found.setdefault(key, {"train": 0, "staged": 0, "sweeps": []})
                    entry["train"] = max(entry["train"], int(spec["seeds"]))
                    entry["sweeps"].append(name)
                    if name != TOPOLOGY_SWEEP:
                        entry["staged"] = max(entry["staged"], int(spec["seeds"]))
    return found


def family_runs(family: str, spec: dict[str, Any]) -> Iterator[RunSpec]:
    """Every (dataset, topology, width, seed) of one family section of the config."""
    for dataset in spec["datasets"]:
        for topology in topologies_of(family, spec):
            for width in spec["widths"]:
                for seed in range(spec["seeds"]):
                    yield RunSpec(dataset, family, topology, int(width), seed)


# ---------------------------------------------------------------------------- the plan in one line
def _sweep_text(name: str, spec: dict[str, Any], config: dict[str, Any]) -> str:
    parts = [", ".join(spec["datasets"])]
    if name == TOPOLOGY_SWEEP:
        parts.append(
            f"depths {', '.join(map(str, config[TOPOLOGY_SWEEP]['depths']))} ({len(spec['topologies'])} shapes)"
        )
    elif "topologies" in config["families"][name]:  # a family whose section lists its shapes
        parts.append(", ".join(spec["topologies"]))
    parts += [f"widths {', '.join(map(str, spec['widths']))}", f"{spec['seeds']} seeds"]
    return f"{'phase 1' if name == TOPOLOGY_SWEEP else name} [{'; '.join(parts)}]"


def plan_summary(config: dict[str, Any], jobs: dict[str, int] | None = None) -> str:
    """One line saying what a config runs, shown before any compute is spent: each sweep's
    datasets, shapes, widths and seeds, the epochs, the number of training runs, and with
    ``jobs`` (``minarch.cost.planned_jobs``: the blocks of seeds the cost model cut) the jobs."""
    found = sweeps(config)
    text = [_sweep_text(name, spec, config) for name, spec in found.items()]
    if TOPOLOGY_SWEEP not in found:
        text.append("no phase 1")
    runs = sum(entry["train"] for entry in configurations(config).values())
    epochs = config.get("train", {}).get("max_epochs", "?")
    line = f"minarch plan: {', '.join(text)}; max_epochs {epochs}; {runs} training runs"
    if jobs is not None:
        line += (
            f" in {jobs['train']} train + {jobs['prune']} prune + {jobs['qat']} qat jobs of blocks of seeds "
            "(plus data and aggregate jobs)"
        )
    return line


# ---------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    """``python -m minarch.config my.yaml [more.yaml ...]``: check config files the way the
    workflow reads them (merged over ``config/config.yaml``) and print the plan line, or the
    one-line problem. Snakemake reads a ``--configfile`` before the workflow starts, and its
    message for a YAML syntax error there names neither the file nor the line; this does."""
    import sys

    paths = sys.argv[1:] if argv is None else argv
    try:
        layers = [load_yaml(path) for path in paths]
        for path, layer in zip(paths, layers):
            if not isinstance(layer, dict):
                raise ConfigError(f"config error in {path}: the file must hold keys at the top level")
        schema = load_schema()
        default = load_yaml(DEFAULT_CONFIG)
        merged = default
        for layer in layers:
            merged = deep_merge(merged, layer)
        print(plan_summary(prepare(merged, schema, layers)))
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
