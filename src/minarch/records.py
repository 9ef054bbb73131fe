"""What a job of a block of seeds leaves behind, and how a later job knows a seed is finished.

A stage job (train, prune or QAT) runs a block of seeds of one configuration in one process.
Its outputs stay per seed, at ``results/runs/{dataset}/{arch}/{topology}/w{width}/seed{seed}/``;
what Snakemake tracks is the block's **record**, ``results/blocks/{stage}/.../seeds{first}-{last}.json``,
written last, once every seed of the block is in place. (Every output of a Snakemake rule
carries the same wildcards, so one job cannot declare a variable number of per-seed files.)

Every row a seed's stage writes carries a **stamp**: a hash of what determines the result --
the stage, the run (dataset, arch, topology, width, seed), the stage's settings, the code
version of the stage (``provenance.code_version``), the dataset's content, and for prune and
QAT the stamp of the trained model they start from. A seed is finished for a job when its
files exist and their stamp is the one the job would write (and, for a trained model, when
``model.pt`` still has the content its rows record). So a job whose record is missing -- a
block grown by new seeds, blocks cut differently after a change of ``cluster.job_minutes`` or of
the cost model, a deleted record -- skips the seeds that are finished and runs only the others;
a change of settings, code or data changes the stamp and reruns them.

Torch-free: the Snakefile and the cost model's planner (``benchmarks/planner.py``) import it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from minarch.io import CheckpointError, atomic_path
from minarch.settings import RunSpec, run_directory

STAGES = ("train", "prune", "qat")
STAMP = "stamp"  # the column every per-seed row carries
MODEL_SHA256 = "model_sha256"  # train rows: the content of the model.pt they describe
RECORD = "results/blocks/{stage}/{dataset}/{arch}/{topology}/w{width}/seeds{first}-{last}.json"
# The files of one seed a stage writes (in this order; the table last, with the stamp).
SEED_FILES = {"train": ("model.pt", "train.parquet"), "prune": ("prune.parquet",), "qat": ("qat.parquet",)}


def block_record(stage: str, dataset: str, arch: str, topology: str, width: int, first: int, last: int) -> str:
    """The record of one block's job (relative to the working directory)."""
    return RECORD.format(
        stage=stage, dataset=dataset, arch=arch, topology=topology, width=width, first=first, last=last
    )


def seed_file(stage: str, spec: RunSpec, name: str | None = None) -> Path:
    """A seed's file of ``stage``: its table (``{stage}.parquet``) unless ``name`` is given."""
    return run_directory(spec.dataset, spec.arch, spec.topology, spec.width, spec.seed) / (name or f"{stage}.parquet")


# A job's checkpoints sit in its configuration's folder (``.../w{width}``, beside the seeds'
# folders) under hidden names that no rule produces: ``.{stage}-seed{n}.ckpt`` for one seed,
# ``.{stage}-seeds{first}-{last}.ckpt`` for a stack, with ``.{part}`` before ``.ckpt`` for one of
# a stage's several trainings (QAT: one per quantization scope).
_CHECKPOINT = re.compile(r"\.(?P<stage>[a-z]+)-seeds?(?P<first>\d+)(?:-(?P<last>\d+))?(?:\.\w+)?\.ckpt")


def checkpoint_file(directory, stage: str, first: int, last: int, part: str = "") -> Path:
    """The checkpoint of a stack of seeds ``first``-``last`` (one seed: ``first == last``)."""
    seeds = f"seed{first}" if first == last else f"seeds{first}-{last}"
    return Path(directory) / f".{stage}-{seeds}{'.' + part if part else ''}.ckpt"


def remove_checkpoints(directory, stage: str, first: int, last: int) -> None:
    """Remove every checkpoint of ``stage`` in ``directory`` whose seeds lie within
    ``first``-``last``, whether kept for a stack, one seed or one of a stage's several
    trainings. A job calls it for each stack of seeds once their outputs are written
    (``stages.remove_checkpoints``) and for its whole block before writing the block's record
    (``blockjob.BlockJob.finish``): a job killed between its last outputs and the first call
    leaves them, and its rerun, with nothing left to compute, removes them then. The blocks of
    a configuration do not overlap, so none belongs to another job."""
    for path in Path(directory).glob(f".{stage}-seed*.ckpt"):
        found = _CHECKPOINT.fullmatch(path.name)
        if found and found["stage"] == stage:
            low, high = int(found["first"]), int(found["last"] or found["first"])
            if first <= low and high <= last:
                path.unlink(missing_ok=True)


def stamp(stage: str, spec: RunSpec, settings: dict[str, Any], code: str, data: str, upstream: str | None) -> str:
    """The stamp of one seed's stage result (module docstring)."""
    content = {
        "stage": stage,
        "run": spec.columns(),
        "settings": settings,
        "code": code,
        "data": data,
        "upstream": upstream,
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dataset_version(path: str | os.PathLike) -> str:
    """The content of a dataset cache as one short hash of the checksums recorded in it when it
    was made (``minarch.data.cache_record``; checked against the content whenever a job loads
    it), so a cache rebuilt with the same content has the same version."""
    from minarch.data import DataError, cache_path, cache_record

    try:
        # the cache itself, or the .version file beside it (the stage rules' input)
        _, checksums = cache_record(cache_path(path))
    except DataError as error:
        raise CheckpointError(str(error)) from None
    if checksums is None:
        return "unrecorded"
    return hashlib.sha256(" ".join(str(value) for value in checksums).encode()).hexdigest()[:16]


def _table_stamps(path: Path, columns: list[str]) -> dict[str, set] | None:
    """The distinct values of ``columns`` in a Parquet table, or None when the file is missing,
    unreadable or lacks a column (then the seed is simply not finished)."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=columns)
    except Exception:  # missing, truncated, junk, or written before stamps: not finished
        return None
    return {name: set(table.column(name).to_pylist()) for name in columns}


def finished(stage: str, spec: RunSpec, expected: str) -> bool:
    """Whether ``spec``'s files of ``stage`` are in place with the stamp ``expected`` (and a
    trained model with the content its rows record)."""
    table = seed_file(stage, spec)
    columns = [STAMP, MODEL_SHA256] if stage == "train" else [STAMP]
    values = _table_stamps(table, columns)
    if values is None or values[STAMP] != {expected}:
        return False
    if stage == "train":
        model = seed_file(stage, spec, "model.pt")
        shas = values[MODEL_SHA256]
        return len(shas) == 1 and model.is_file() and file_sha256(model) == next(iter(shas))
    return True


def _file_entry(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"path": path.as_posix(), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def write_block_record(path: str | os.PathLike, stage: str, stamps: dict[RunSpec, str]) -> None:
    """The block's record: for each seed, its stamp and its files (with size and modification
    time, so a file changed afterwards is noticed, ``changed_files``); a train block also
    records each model's content. Deterministic (no clock), so a job that found every seed
    finished writes the same record again."""
    seeds = []
    for spec, value in sorted(stamps.items(), key=lambda item: item[0].seed):
        entry = {
            "seed": spec.seed,
            STAMP: value,
            "files": [_file_entry(seed_file(stage, spec, name)) for name in SEED_FILES[stage]],
        }
        if stage == "train":
            entry[MODEL_SHA256] = file_sha256(seed_file(stage, spec, "model.pt"))
        seeds.append(entry)
    first = next(iter(stamps))
    record = {"stage": stage, "run": {k: v for k, v in first.columns().items() if k != "seed"}, "seeds": seeds}
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=1) + "\n")


def read_block_record(path: str | os.PathLike) -> dict[str, Any]:
    try:
        record = json.loads(Path(path).read_text())
        record["seeds"] = [{**entry, "seed": int(entry["seed"])} for entry in record["seeds"]]
        for entry in record["seeds"]:
            entry["files"] = [{**item, "path": str(item["path"])} for item in entry["files"]]
        return record
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; rerun the workflow to rebuild it") from None
    except Exception as error:
        raise CheckpointError(
            f"{path} is corrupt ({type(error).__name__}); delete it and rerun the workflow (finished seeds are kept)"
        ) from None


def upstream_stamps(paths: Iterable[str | os.PathLike]) -> dict[int, str]:
    """Seed -> what a prune or QAT seed starts from, over the train records ``paths``: the
    trained run's stamp and its model's content (a model retrained to other weights, on
    another machine say, reruns what follows it; one retrained to the same bits does not)."""
    return {
        entry["seed"]: f"{entry[STAMP]}:{entry.get(MODEL_SHA256, '')}"
        for path in paths
        for entry in read_block_record(path)["seeds"]
    }


def changed_files(path: str | os.PathLike) -> list[str]:
    """The files an existing record lists that are gone or changed since (another size or
    modification time: deleted, overwritten, copied over); an unreadable record counts as
    changed (it is rewritten by its job)."""
    try:
        record = read_block_record(path)
    except CheckpointError:
        return [str(path)]
    changed = []
    for entry in record["seeds"]:
        for item in entry["files"]:
            try:
                stat = os.stat(item["path"])
            except OSError:
                changed.append(item["path"])
                continue
            if (stat.st_size, stat.st_mtime_ns) != (item.get("size"), item.get("mtime_ns")):
                changed.append(item["path"])
    return changed


def collect_rows(paths: Iterable[str | os.PathLike], stage: str, seeds: int | None = None):
    """The rows of every seed (below ``seeds`` when given) of the block records ``paths``, in
    record order and seed order, each checked against the stamp its record holds: a seed file
    replaced after its block finished (another seed's, a stale copy) is an error, not a row."""
    import pandas as pd

    from minarch.io import read_parquet

    frames = []
    for path in paths:
        record = read_block_record(path)
        for entry in record["seeds"]:
            if seeds is not None and entry["seed"] >= seeds:
                continue
            table = entry["files"][-1]["path"]
            frame = read_parquet(table)
            found = set(frame[STAMP].astype(str)) if STAMP in frame.columns else {"none"}
            if found != {entry[STAMP]}:
                raise CheckpointError(
                    f"{table} is not the file its block made (stamp {', '.join(sorted(found))}, record {path} says "
                    f"{entry[STAMP]}): it was replaced or is stale; delete it and {path}, then rerun the workflow"
                )
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
