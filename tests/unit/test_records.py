"""records.py and blockjob.py: stamps say what made a seed's result, a seed counts as finished
only with its files in place and the expected stamp, and a block's record is what collect trusts."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from minarch import records
from minarch.blockjob import BlockJob
from minarch.io import CheckpointError, write_parquet
from minarch.settings import RunSpec

SPEC = RunSpec("mnist", "dnn", "L1", 5, 0)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # records' paths are relative to the working directory, as in the workflow
    return tmp_path


def stamp_of(**changes):
    args = {"stage": "prune", "spec": SPEC, "settings": {"lr": 0.001}, "code": "c1", "data": "d1", "upstream": "u1"}
    return records.stamp(**{**args, **changes})


def test_a_stamp_changes_with_everything_that_determines_a_result():
    base = stamp_of()
    assert stamp_of() == base and len(base) == 16
    for change in [
        {"stage": "qat"},
        {"spec": RunSpec("mnist", "dnn", "L1", 5, 1)},
        {"spec": RunSpec("fashion_mnist", "dnn", "L1", 5, 0)},
        {"settings": {"lr": 0.002}},
        {"code": "c2"},
        {"data": "d2"},
        {"upstream": "u2"},
    ]:
        assert stamp_of(**change) != base, change
    # key order of the settings is no change
    assert records.stamp("t", SPEC, {"a": 1, "b": 2}, "c", "d", None) == records.stamp(
        "t", SPEC, {"b": 2, "a": 1}, "c", "d", None
    )


def write_seed(stage, spec, stamp, model_bytes=b"weights"):
    frame = pd.DataFrame({"seed": [spec.seed], "test_acc": [90.0 + spec.seed], records.STAMP: [stamp]})
    if stage == "train":
        model = records.seed_file("train", spec, "model.pt")
        model.parent.mkdir(parents=True, exist_ok=True)
        model.write_bytes(model_bytes)
        frame[records.MODEL_SHA256] = records.file_sha256(model)
    write_parquet(frame, records.seed_file(stage, spec))


def test_finished_needs_the_files_the_stamp_and_the_models_content(workdir):
    assert not records.finished("train", SPEC, "s1")  # nothing written yet
    write_seed("train", SPEC, "s1")
    assert records.finished("train", SPEC, "s1")
    assert not records.finished("train", SPEC, "s2")  # other settings, code or data
    records.seed_file("train", SPEC, "model.pt").write_bytes(b"another model")
    assert not records.finished("train", SPEC, "s1")  # model.pt replaced after its rows were written
    records.seed_file("train", SPEC, "model.pt").unlink()
    assert not records.finished("train", SPEC, "s1")
    write_parquet(pd.DataFrame({"seed": [0]}), records.seed_file("prune", SPEC))  # rows from before stamps
    assert not records.finished("prune", SPEC, "s1")
    records.seed_file("qat", SPEC).write_bytes(b"junk")
    assert not records.finished("qat", SPEC, "s1")


def test_block_records_round_trip_are_deterministic_and_notice_changed_files(workdir):
    specs = [RunSpec("mnist", "dnn", "L1", 5, seed) for seed in (3, 2)]
    for spec in specs:
        write_seed("prune", spec, f"s{spec.seed}")
    path = records.block_record("prune", "mnist", "dnn", "L1", 5, 2, 3)
    assert path == "results/blocks/prune/mnist/dnn/L1/w5/seeds2-3.json"
    records.write_block_record(path, "prune", {spec: f"s{spec.seed}" for spec in specs})
    first = (workdir / path).read_bytes()
    records.write_block_record(path, "prune", {spec: f"s{spec.seed}" for spec in reversed(specs)})
    assert (workdir / path).read_bytes() == first
    record = records.read_block_record(path)
    assert [entry["seed"] for entry in record["seeds"]] == [2, 3]
    seed2 = "results/runs/mnist/dnn/L1/w5/seed2/prune.parquet"
    assert record["seeds"][0]["files"][0]["path"] == seed2
    assert records.changed_files(path) == []
    (workdir / seed2).write_bytes((workdir / seed2).read_bytes() + b"x")  # overwritten
    assert records.changed_files(path) == [seed2]
    (workdir / seed2).unlink()  # deleted
    assert records.changed_files(path) == [seed2]
    (workdir / path).write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt") as error:
        records.read_block_record(path)
    assert "\n" not in str(error.value)
    assert records.changed_files(path) == [path]


def test_collect_rows_rejects_a_seed_file_its_block_did_not_make(workdir):
    specs = [RunSpec("mnist", "dnn", "L1", 5, seed) for seed in (0, 1, 2)]
    for spec in specs:
        write_seed("qat", spec, f"s{spec.seed}")
    path = records.block_record("qat", "mnist", "dnn", "L1", 5, 0, 2)
    records.write_block_record(path, "qat", {spec: f"s{spec.seed}" for spec in specs})
    rows = records.collect_rows([path], "qat")
    assert rows["seed"].tolist() == [0, 1, 2]
    assert records.collect_rows([path], "qat", seeds=2)["seed"].tolist() == [0, 1]  # a sweep of 2 seeds
    seed0, seed1 = (records.seed_file("qat", spec) for spec in specs[:2])
    seed1.write_bytes(seed0.read_bytes())  # a swapped or stale copy
    with pytest.raises(CheckpointError, match="seed1/qat.parquet is not the file its block made"):
        records.collect_rows([path], "qat")


def test_dataset_version_follows_the_recorded_content(workdir):
    arrays = {"x_train": np.zeros(2, np.uint8)}
    np.savez(workdir / "a.npz", **arrays, sha256=np.array(["1", "2"]))
    np.savez(workdir / "b.npz", **arrays, sha256=np.array(["1", "2"]))
    np.savez(workdir / "c.npz", **arrays, sha256=np.array(["1", "3"]))
    np.savez(workdir / "old.npz", **arrays)
    assert records.dataset_version(workdir / "a.npz") == records.dataset_version(workdir / "b.npz")
    assert records.dataset_version(workdir / "a.npz") != records.dataset_version(workdir / "c.npz")
    assert records.dataset_version(workdir / "old.npz") == "unrecorded"
    with pytest.raises(CheckpointError, match="missing"):
        records.dataset_version(workdir / "absent.npz")


def fake_job(stage, first, last, train_records=()):
    wildcards = SimpleNamespace(dataset="mnist", topology="L1", width="5", first=str(first), last=str(last))
    return SimpleNamespace(
        wildcards=wildcards,
        params=SimpleNamespace(arch="dnn"),
        input=SimpleNamespace(dataset="data.npz", train=list(train_records)),
        output=SimpleNamespace(block=records.block_record(stage, "mnist", "dnn", "L1", 5, first, last)),
    )


def test_a_block_job_runs_only_its_unfinished_seeds_and_records_them(workdir):
    np.savez(workdir / "data.npz", sha256=np.array(["1"]))
    train = BlockJob.from_snakemake(fake_job("train", 0, 2), "train", {"train": {"lr": 0.001}})
    assert [spec.seed for spec in train.pending()] == [0, 1, 2]
    write_seed("train", train.specs[1], train.stamp(train.specs[1]))
    assert [spec.seed for spec in train.pending()] == [0, 2]
    with pytest.raises(CheckpointError, match="seeds 0, 2 did not finish"):
        train.finish()
    for spec in train.pending():
        write_seed("train", spec, train.stamp(spec))
    train.finish()
    record = json.loads((workdir / train.record).read_text())
    assert [entry["stamp"] for entry in record["seeds"]] == [train.stamp(spec) for spec in train.specs]

    # another block size finds the same seeds finished: same stamps, nothing to run
    alone = BlockJob.from_snakemake(fake_job("train", 1, 1), "train", {"train": {"lr": 0.001}})
    assert alone.pending() == [] and alone.stamp(alone.specs[0]) == train.stamp(train.specs[1])
    changed = BlockJob.from_snakemake(fake_job("train", 1, 1), "train", {"train": {"lr": 0.002}})
    assert [spec.seed for spec in changed.pending()] == [1]

    prune = BlockJob.from_snakemake(fake_job("prune", 0, 2, [train.record]), "prune", {"prune": {}})
    model_sha = records.file_sha256(records.seed_file("train", train.specs[0], "model.pt"))
    assert prune.upstream == {spec.seed: f"{train.stamp(spec)}:{model_sha}" for spec in train.specs}
    prune.check_upstream(prune.specs[0])
    records.seed_file("train", prune.specs[0], "model.pt").write_bytes(b"a copied model")
    with pytest.raises(CheckpointError, match="not what its train block recorded"):
        prune.check_upstream(prune.specs[0])
    beyond = BlockJob.from_snakemake(fake_job("prune", 3, 3, [train.record]), "prune", {"prune": {}})
    with pytest.raises(CheckpointError, match="no trained model of seed 3"):
        beyond.pending()


def test_a_finished_block_leaves_none_of_its_checkpoints(workdir):
    """A job killed after its seeds' files were written but before it removed its checkpoints
    leaves them behind; its block's rerun, with nothing to compute, removes every checkpoint of
    its stage and seeds (stacked, single, per QAT scope), and no other block's or stage's
    (``records.remove_checkpoints``, which ``stages.remove_checkpoints`` also calls)."""
    np.savez(workdir / "data.npz", sha256=np.array(["1"]))
    block = BlockJob.from_snakemake(fake_job("train", 3, 5), "train", {"train": {"lr": 0.001}})
    for spec in block.specs:
        write_seed("train", spec, block.stamp(spec))
    folder = records.seed_file("train", block.specs[0]).parent.parent
    ours = [
        records.checkpoint_file(folder, "train", 3, 5),
        records.checkpoint_file(folder, "train", 4, 4),
        records.checkpoint_file(folder, "train", 4, 5),
        records.checkpoint_file(folder, "train", 3, 5, "linear"),
    ]
    others = [
        records.checkpoint_file(folder, "train", 0, 2),  # the block before
        records.checkpoint_file(folder, "train", 6, 6),  # the block after
        records.checkpoint_file(folder, "train", 2, 3),  # not one of this block's stacks
        records.checkpoint_file(folder, "qat", 3, 5, "full"),  # another stage's
    ]
    for path in ours + others:
        path.write_bytes(b"state")
    assert [p.name for p in ours[:2]] == [".train-seeds3-5.ckpt", ".train-seed4.ckpt"]
    assert ours[3].name == ".train-seeds3-5.linear.ckpt"
    block.finish()
    assert not any(path.exists() for path in ours)
    assert all(path.exists() for path in others)
    assert (workdir / block.record).is_file()
