"""Where an aggregate's results come from, said in the aggregate itself.

Every per-seed row records the code version of its stage (``code_version``, see
``minarch.provenance``) and its stage's settings (``train_*``, ``prune_*``, ``qat_*``). The
aggregates (Table I, the regimes, the paper comparison, the report) state here which code
versions their rows come from, and say plainly when those are mixed or differ from the
checkout's current code; the report also describes the run from what the rows record, and
names any mismatch with the saved config and any output older than its inputs. Torch-free:
the report computes this when Snakemake parses the workflow.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from minarch import provenance
from minarch.io import CODE_VERSION

UNRECORDED = "unrecorded"  # rows made before code versions were recorded (minarch_source_hash only)
STAGE_TITLES = {"train": "train", "prune": "prune", "qat": "QAT"}
RUN_KEYS = ["dataset", "arch", "topology", "width", "seed"]
RERUN_HINT = "run snakemake to rerun the jobs whose code changed (snakemake -n lists them)"


# --------------------------------------------------------------------------- code versions
def row_versions(frame: pd.DataFrame | None) -> Counter:
    """Code version -> number of rows; rows that record none count as ``unrecorded``."""
    if frame is None or frame.empty:
        return Counter()
    if CODE_VERSION not in frame.columns:
        return Counter({UNRECORDED: len(frame)})
    return Counter(frame[CODE_VERSION].fillna(UNRECORDED).astype(str))


def _rows(n: int) -> str:
    return f"{n} row{'' if n == 1 else 's'}"


def _listing(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


@dataclass
class CodeCheck:
    """The code versions of an aggregate's rows, per stage, beside the checkout's current ones."""

    versions: dict[str, Counter]  # stage -> version -> rows (stages with rows only)
    current: dict[str, str] = field(default_factory=dict)  # stage -> the checkout's code version

    def mixed(self) -> list[str]:
        return [stage for stage, counts in self.versions.items() if len(counts) > 1]

    def outdated(self) -> list[str]:
        """Stages with rows from code other than the checkout's (mixed ones included)."""
        return [stage for stage, counts in self.versions.items() if set(counts) != {self.current[stage]}]

    @property
    def ok(self) -> bool:
        return not self.outdated()

    def _problem(self, stage: str) -> str:
        counts, current, title = self.versions[stage], self.current[stage], STAGE_TITLES.get(stage, stage)
        if len(counts) > 1:
            parts = ", ".join(f"{version}: {_rows(n)}" for version, n in counts.most_common())
            mixed = f"from {len(counts)} code versions ({parts}; the checkout's is {current})"
            return f"the {title} rows are mixed, {mixed}"
        [(version, n)] = counts.items()
        return f"the {title} rows ({_rows(n)}) come from code version {version}, not the checkout's current {current}"

    def summary(self) -> str:
        """One line for the aggregate's own output: the code its rows come from, and whether
        that is the checkout's current code."""
        if not self.versions:
            return "Code: no rows."
        if not self.ok:
            problems = "; ".join(self._problem(stage) for stage in self.outdated())
            return f"WARNING: not every row comes from the checkout's current code: {problems}; {RERUN_HINT}."
        by_version: dict[str, list[str]] = {}
        for stage in self.versions:
            by_version.setdefault(self.current[stage], []).append(STAGE_TITLES.get(stage, stage))
        parts = "; ".join(f"{_listing(stages)} rows: code version {v}" for v, stages in by_version.items())
        return f"Code: every row comes from the checkout's current code ({parts})."

    def warning(self) -> str | None:
        """The summary as a log warning, only when there is something to warn about."""
        return None if self.ok else self.summary()

    def log(self, logger) -> None:
        """The summary in a job's log, once: a warning when there is one, else information."""
        if self.ok:
            logger.info("%s", self.summary())
        else:
            logger.warning("%s", self.summary())


def check_code(frames: Mapping[str, pd.DataFrame | None], current: Mapping[str, str] | None = None) -> CodeCheck:
    """The code versions of the rows of ``frames`` (stage -> rows of that stage) against the
    checkout's current code versions (``current``; default ``provenance.code_version``)."""
    versions: dict[str, Counter] = {}
    for stage, frame in frames.items():
        counts = row_versions(frame)
        if counts:
            versions.setdefault(stage, Counter()).update(counts)
    now = dict(current or {})
    for stage in versions:
        if stage not in now:
            now[stage] = provenance.code_version(stage)
    return CodeCheck(versions, now)


def code_column(keys: list[str], *frames: pd.DataFrame | None) -> pd.DataFrame:
    """Per value of ``keys`` (e.g. dataset and arch for Table I): the code versions of the
    rows of ``frames`` behind it, joined by " + " when several (column ``code_version``)."""
    parts = []
    for frame in frames:
        if frame is None or frame.empty:
            continue
        part = frame[keys].copy()
        part[CODE_VERSION] = frame[CODE_VERSION].fillna(UNRECORDED) if CODE_VERSION in frame else UNRECORDED
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=[*keys, CODE_VERSION])
    rows = pd.concat(parts, ignore_index=True)
    joined = rows.groupby(keys, sort=False)[CODE_VERSION].agg(lambda v: " + ".join(sorted(set(map(str, v)))))
    return joined.reset_index()


def with_code_column(table: pd.DataFrame, keys: list[str], *frames: pd.DataFrame | None) -> pd.DataFrame:
    """``table`` with a ``code_version`` column: the code versions of its rows' sources."""
    column = code_column(keys, *frames)
    for key in keys:  # the same dtypes on both sides of the merge
        if key in table and len(column):
            column[key] = column[key].astype(table[key].dtype)
    return table.merge(column, on=keys, how="left")


def settings_columns(section: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """An aggregate's own settings (a config section) as ``{section}_{key}`` columns, as the
    per-seed rows record theirs: the report compares them with the saved config."""
    return {f"{section}_{key}": _flat(value) for key, value in settings.items()}


AGGREGATE_CODE = "aggregate_code_version"


def made_by(stage: str) -> str:
    """The line an aggregate adds below its code summary: the version of its own code."""
    return f"Made by the {stage} code version {provenance.code_version(stage)}."


def _flat(value: Any) -> Any:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value


# --------------------------------------------------------------------------- the report
# The settings a stage's rows record that change results, as (config section, key, column);
# eval_batch_size and threads change no result and are left out.
STAGE_SETTINGS = {
    "train": [
        ("train", "learning_rate", "train_learning_rate"),
        ("train", "batch_size", "train_batch_size"),
        ("train", "max_epochs", "train_max_epochs"),
        ("train", "patience", "train_patience"),
        ("data", "validation_fraction", "train_validation_fraction"),
        ("data", "split_seed", "train_split_seed"),
    ],
    "prune": [("prune", "ratios", "prune_ratios"), ("prune", "finetune_epochs", "prune_finetune_epochs")],
    "qat": [
        ("qat", "mode", "qat_mode"),
        ("qat", "finetune_epochs", "qat_finetune_epochs"),
        ("qat", "backend", "qat_backend"),
    ],
}
# aggregate outputs that record their own settings (``settings_columns``): file -> sections,
# and the version of their own code (column ``aggregate_code_version``): file -> its stage
AGGREGATE_SETTINGS = {"results/regimes.csv": ("regimes",), "results/table1.csv": ("regimes", "table1")}
AGGREGATE_STAGES = {"results/regimes.csv": "regimes", "results/table1.csv": "table1"}
MAX_LISTED = 10  # problems of one kind listed in the report; the rest are counted


def _normal(value: Any) -> Any:
    """A setting as rows and configs may spell it, made comparable (0.001 == "0.001",
    [0, 1] == "0.0,1.0")."""
    if isinstance(value, (list, tuple)):
        return tuple(_normal(v) for v in value)
    if isinstance(value, str) and "," in value:
        return tuple(_normal(v.strip()) for v in value.split(","))
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _shown(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, str) and "," in value:
        return ", ".join(part.strip() for part in value.split(","))
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1:
        return str(int(value))
    return str(value)


def _runs(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per run (the rows of a stage may hold several per run: epochs, ratios)."""
    keys = [k for k in RUN_KEYS if k in frame]
    return frame.drop_duplicates(keys) if keys else frame


def recorded_values(frames: Iterable[pd.DataFrame], column: str) -> Counter:
    """Value (as shown) -> number of runs recording it in any of ``frames`` (a run whose
    stages record different values counts for each); ``unrecorded`` where a frame lacks the
    column."""
    parts = []
    for frame in frames:
        part = frame[[k for k in RUN_KEYS if k in frame]].copy()
        part["value"] = frame[column].map(_shown) if column in frame else UNRECORDED
        parts.append(part)
    if not parts:
        return Counter()
    values = pd.concat(parts, ignore_index=True).drop_duplicates()
    return Counter(values["value"].tolist())


def _described(counts: Counter) -> str:
    if len(counts) == 1:
        return next(iter(counts))
    return " or ".join(f"{value} ({n} run{'' if n == 1 else 's'})" for value, n in counts.most_common())


def rst(text: str) -> str:
    """Plain text safe inside reStructuredText (the report's captions): no markup, no links."""
    return re.sub(r"([\\`*_|])", r"\\\1", text)


def stale_outputs(dependencies: Iterable[tuple[str, list[str]]], root: str | os.PathLike = ".") -> list[str]:
    """One line per existing output older than an existing input of its own (made before the
    input changed, so it does not show it)."""
    root = Path(root)
    mtimes: dict[str, float | None] = {}

    def mtime(path: str) -> float | None:
        if path not in mtimes:
            try:
                mtimes[path] = (root / path).stat().st_mtime
            except OSError:
                mtimes[path] = None
        return mtimes[path]

    lines = []
    for output, inputs in dependencies:
        made = mtime(output)
        if made is None:
            continue
        newer = [path for path in inputs if (mtime(path) or 0.0) > made]
        if newer:
            more = f" (and {len(newer) - 1} more)" if len(newer) > 1 else ""
            lines.append(f"{output} is older than its input {newer[0]}{more}: it does not show it; rerun snakemake")
    return lines


def _capped(lines: list[str], what: str) -> list[str]:
    if len(lines) <= MAX_LISTED:
        return lines
    return [*lines[:MAX_LISTED], f"and {len(lines) - MAX_LISTED} more {what}"]


def _sweep_from_rows(frame: pd.DataFrame) -> dict[str, str]:
    runs = _runs(frame)
    configurations = runs.groupby(["dataset", "arch", "topology", "width"]).size()
    seeds = sorted(set(configurations.tolist()))
    return {
        "datasets": ", ".join(sorted(runs["dataset"].astype(str).unique())),
        "topologies": ", ".join(sorted(runs["topology"].astype(str).unique())),
        "widths": ", ".join(str(w) for w in sorted(runs["width"].astype(int).unique())),
        "seeds": " to ".join(str(s) for s in (seeds if len(seeds) == 1 else [seeds[0], seeds[-1]])),
    }


def _sweep_mismatches(family: str, frame: pd.DataFrame, spec: Mapping[str, Any]) -> list[str]:
    runs = _runs(frame)
    found = {
        "datasets": set(runs["dataset"].astype(str)),
        "widths": set(runs["width"].astype(int)),
        "seeds": set(runs["seed"].astype(int)),
    }
    wanted = {
        "datasets": set(spec.get("datasets", [])),
        "widths": set(spec.get("widths", [])),
        "seeds": set(range(int(spec.get("seeds", 0)))),
    }
    if spec.get("topologies"):
        found["topologies"], wanted["topologies"] = set(runs["topology"].astype(str)), set(spec["topologies"])
    lines = []
    for key in found:
        if found[key] != wanted[key]:
            shown = (lambda s: ", ".join(map(str, sorted(s))) or "none") if key != "seeds" else _seed_text
            lines.append(
                f"{family}: the results hold {key} {shown(found[key])}, the saved config names {shown(wanted[key])}"
            )
    return lines


def _seed_text(seeds: set[int]) -> str:
    if not seeds:
        return "none"
    ordered = sorted(seeds)
    if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 2:
        return f"{ordered[0]}-{ordered[-1]}"
    return ", ".join(map(str, ordered))


def describe_results(
    collected: Mapping[str, Mapping[str, pd.DataFrame]],
    saved: Mapping[str, Any],
    sweeps: Mapping[str, Mapping[str, Any]],
    dependencies: Iterable[tuple[str, list[str]]] = (),
    aggregates: Mapping[str, pd.DataFrame] | None = None,
    saved_path: str = "results/config.yaml",
    root: str | os.PathLike = ".",
) -> dict[str, Any]:
    """What the report says about its results, from the rows themselves: per stage the
    settings they record, per sweep what they hold, their code versions (beside the
    checkout's) and every problem: a setting or sweep that differs from the saved config, an
    aggregate made with other settings, an output older than its inputs.

    ``collected``: sweep (family or topology_sweep) -> stage -> its collected rows;
    ``sweeps``: the saved config's sweeps (``minarch.config.sweeps``); ``dependencies``:
    (output, inputs) pairs to check for staleness; ``aggregates``: file -> table of
    aggregates recording their settings (``AGGREGATE_SETTINGS``). Values are text, ready for
    the report's reStructuredText (``rst``)."""
    by_stage: dict[str, list[pd.DataFrame]] = {}
    for stages in collected.values():
        for stage, frame in stages.items():
            if frame is not None and not frame.empty:
                by_stage.setdefault(stage, []).append(frame)
    rows = {stage: pd.concat(frames, ignore_index=True) for stage, frames in by_stage.items()}

    settings: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    for stage, entries in STAGE_SETTINGS.items():
        sources = [rows[s] for s in ((stage, "qat") if stage == "train" else (stage,)) if s in rows]
        if stage != "train" and stage not in rows:
            continue
        for section, key, column in entries:
            counts = recorded_values(sources, column)
            if not counts:
                continue
            settings.setdefault(section if section != "data" else "train", {})[key] = _described(counts)
            configured = (saved.get(section) or {}).get(key)
            differing = {value for value in counts if value == UNRECORDED or _normal(value) != _normal(configured)}
            if differing:
                problems.append(
                    f"{section}.{key}: the results record {_described(counts)}, the saved config "
                    f"{saved_path} says {_shown(configured)}"
                )

    families: dict[str, dict[str, str]] = {}
    for sweep, stages in collected.items():
        frame = stages.get("train")
        if frame is None or frame.empty:
            continue
        families[sweep] = _sweep_from_rows(frame)
        if sweep in sweeps:
            problems += _sweep_mismatches(sweep, frame, sweeps[sweep])
    for sweep in sweeps:
        if sweep not in families:
            problems.append(f"{sweep}: the saved config names it, but there are no results of it")

    for path, table in (aggregates or {}).items():
        stage = AGGREGATE_STAGES.get(path)
        if stage and AGGREGATE_CODE in table:
            made = sorted(set(table[AGGREGATE_CODE].astype(str)))
            if made != [provenance.code_version(stage)]:
                problems.append(
                    f"{path} was made by {stage} code version {', '.join(made)}, not the checkout's current "
                    f"{provenance.code_version(stage)}; rerun snakemake"
                )
        for section in AGGREGATE_SETTINGS.get(path, ()):
            for key, configured in (saved.get(section) or {}).items():
                column = f"{section}_{key}"
                if column not in table:
                    problems.append(f"{path} records no {section}.{key} (made by an older minarch); rerun snakemake")
                    break
                counts = Counter(_shown(v) for v in table[column].tolist())
                if any(_normal(value) != _normal(configured) for value in counts):
                    problems.append(
                        f"{path} was made with {section}.{key} {_described(counts)}, the saved config "
                        f"{saved_path} says {_shown(configured)}"
                    )

    code = check_code(rows)
    if not code.ok:
        problems.append(code.summary().removeprefix("WARNING: "))
    problems += _capped(stale_outputs(dependencies, root), "outputs older than their inputs")
    versions = sorted({f"minarch {m}, torch {t}" for frame in rows.values() for m, t in _version_pairs(frame)})
    return {
        "settings": {section: {k: rst(v) for k, v in values.items()} for section, values in settings.items()},
        "families": {sweep: {k: rst(v) for k, v in spec.items()} for sweep, spec in families.items()},
        "code": rst(code.summary()),
        "versions": rst("; ".join(versions) or UNRECORDED),
        "problems": [rst(line) for line in problems],
    }


def _version_pairs(frame: pd.DataFrame) -> set[tuple[str, str]]:
    if "minarch_version" not in frame or "torch_version" not in frame:
        return {(UNRECORDED, UNRECORDED)}
    return set(zip(frame["minarch_version"].astype(str), frame["torch_version"].astype(str)))
