"""Config checking and sweep planning, torch-free (imported by the Snakefile at parse time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import yaml

from minarch import topology as topo
from minarch.settings import FIXED_TOPOLOGIES, RunSpec

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A config problem, reported in one line that names the key."""


def _location(error: "jsonschema.ValidationError") -> str:
    parts = []
    for part in error.absolute_path:
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(parts).lstrip(".") or "(top level)"


def check(config: dict[str, Any], schema: dict[str, Any]) -> None:
    """Raise ConfigError naming the first problem, most specific error first."""
    import jsonschema  # here, not at the top: every job imports this module for ConfigError (0.1 s)

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), str(e.path)))
    if not errors:
        return
    error = jsonschema.exceptions.best_match(errors)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        raise ConfigError(f"config error at {_location(error)}: {error.message}; known keys: {', '.join(known)}")
    value = error.instance if not isinstance(error.instance, (dict, list)) else None
    detail = error.message if value is None else f"{value!r} is not allowed ({error.message})"
    raise ConfigError(f"config error at {_location(error)}: {detail}")


def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    with open(path) as handle:
        return yaml.safe_load(handle)


def topologies_of(family: str, spec: dict[str, Any]) -> list[str]:
    """A DNN section lists its topologies; the CNN and ViT have one fixed shape each."""
    return list(spec["topologies"]) if family == "dnn" else [FIXED_TOPOLOGIES[family]]


TOPOLOGY_SWEEP = "topology_sweep"


def sweeps(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every sweep of the config by name: the families of phase 2, and the phase-1
    ``topology_sweep`` of DNN shapes (its square members are the same runs as the DNN's)."""
    found = {family: {"arch": family, **spec, "topologies": topologies_of(family, spec)}
             for family, spec in config["families"].items()}
    if TOPOLOGY_SWEEP in config:
        spec = config[TOPOLOGY_SWEEP]
        found[TOPOLOGY_SWEEP] = {
            "arch": "dnn", "datasets": spec["datasets"], "widths": spec["widths"], "seeds": spec["seeds"],
            "topologies": [name for depth in spec["depths"] for name in topo.of_depth(depth)],
        }
    return found


def seeds_per_arch(config: dict[str, Any]) -> dict[str, int]:
    """Seeds each architecture's jobs must cover: a DNN in both phases is one set of runs."""
    counts: dict[str, int] = {}
    for spec in sweeps(config).values():
        counts[spec["arch"]] = max(counts.get(spec["arch"], 0), spec["seeds"])
    return counts


def family_runs(family: str, spec: dict[str, Any]) -> Iterator[RunSpec]:
    """Every (dataset, topology, width, seed) of one family section of the config."""
    for dataset in spec["datasets"]:
        for topology in topologies_of(family, spec):
            for width in spec["widths"]:
                for seed in range(spec["seeds"]):
                    yield RunSpec(dataset, family, topology, int(width), seed)


def seed_blocks(n_seeds: int, seeds_per_job: int) -> list[list[int]]:
    """Seeds grouped into jobs; ``seeds_per_job`` 0 means all seeds of a configuration in one job."""
    size = n_seeds if seeds_per_job <= 0 else seeds_per_job
    return [list(range(start, min(start + size, n_seeds))) for start in range(0, n_seeds, size)]
