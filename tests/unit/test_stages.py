"""stages.py: one run through train, prune sweep and QAT on small synthetic data."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from minarch import io, models, quantize, registry, stages
from minarch.settings import PruneSettings, QATSettings, RunSpec, TrainSettings

SETTINGS = TrainSettings(batch_size=50, max_epochs=3, patience=5)
SPEC = RunSpec("mnist", "dnn", "L2e", 8, 0)


@pytest.fixture(scope="module")
def small_splits():
    import torch

    from minarch.data import Splits

    generator = torch.Generator().manual_seed(0)
    prototypes = torch.randn(10, 1, 28, 28, generator=generator)

    def part(n):
        y = torch.randint(0, 10, (n,), generator=generator)
        return prototypes[y] + torch.randn(n, 1, 28, 28, generator=generator), y

    return Splits(*part(300), *part(100), *part(200))


@pytest.fixture(scope="module")
def trained(small_splits):
    return stages.train_run(SPEC, small_splits, SETTINGS)


def test_train_run_rows(trained):
    model, frame = trained
    epochs = frame[frame["kind"] == "epoch"]
    final = frame[frame["kind"] == "final"]
    assert len(final) == 1 and len(epochs) == final["stopped_epoch"].iloc[0] <= SETTINGS.max_epochs
    assert list(epochs["epoch"]) == list(range(1, len(epochs) + 1))
    row = final.iloc[0]
    # the final row describes the restored best-validation-epoch weights
    assert row["val_loss"] == pytest.approx(epochs["val_loss"].min(), rel=1e-12)
    assert row["epoch"] == epochs.loc[epochs["val_loss"].idxmin(), "epoch"]
    assert row["test_acc"] == epochs.loc[epochs["val_loss"].idxmin(), "test_acc"]
    assert (frame["n_params"] == models.dnn_parameter_count(784, [8, 8])).all()
    assert (frame[["dataset", "arch", "topology", "width", "seed"]] == ["mnist", "dnn", "L2e", 8, 0]).all().all()
    for column in ("train_learning_rate", "train_batch_size", "train_max_epochs", "minarch_version", "torch_version"):
        assert column in frame.columns
    assert (frame["train_batch_size"] == 50).all()


def _metrics(path):
    return pd.read_parquet(path).drop(columns=["seconds"])


def test_same_seed_bit_identical_parquet(tmp_path, small_splits, trained):
    _, first = trained
    _, second = stages.train_run(SPEC, small_splits, SETTINGS)
    _, other_seed = stages.train_run(RunSpec("mnist", "dnn", "L2e", 8, 1), small_splits, SETTINGS)
    for name, frame in (("a", first), ("b", second), ("c", other_seed)):
        io.write_parquet(frame, tmp_path / name / "train.parquet")
    a, b, c = (_metrics(tmp_path / name / "train.parquet") for name in "abc")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert not a["train_loss"].equals(c["train_loss"])


def test_train_block_stacks_small_dnn_seeds_with_one_by_one_results(small_splits):
    specs = [RunSpec("mnist", "dnn", "L2e", 8, seed) for seed in (0, 1, 2)]
    alone = stages.train_block(specs, small_splits, SETTINGS, {"dnn": 0})
    stacked = stages.train_block(specs, small_splits, SETTINGS, {"dnn": 8})
    for (model_a, frame_a), (model_s, frame_s) in zip(alone, stacked):
        assert set(frame_a["stacked_seeds"]) == {1} and set(frame_s["stacked_seeds"]) == {3}
        assert list(frame_a.columns) == list(frame_s.columns)
        same = frame_a.drop(columns=["seconds", "stacked_seeds"])
        other = frame_s.drop(columns=["seconds", "stacked_seeds"])
        numeric = same.select_dtypes("number").columns
        pd.testing.assert_frame_equal(same.drop(columns=numeric), other.drop(columns=numeric))
        pd.testing.assert_frame_equal(same[numeric], other[numeric], check_exact=False, rtol=1e-4, atol=1e-4)
        for a, b in zip(model_a.state_dict().values(), model_s.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # one seed alone equals train_run to the bit
    _, frame = stages.train_block([specs[1]], small_splits, SETTINGS, {"dnn": 0})[0]
    pd.testing.assert_frame_equal(alone[1][1].drop(columns="seconds"), frame.drop(columns="seconds"), check_exact=True)
    # under the family's rule (small DNNs stack) a seed alone in its job runs the batched
    # kernels: the same bits as in the stack of three, whatever its block
    assert stages.stacks(specs[1])
    _, frame = stages.train_run(specs[1], small_splits, SETTINGS)
    assert int(frame["stacked_seeds"].iloc[0]) == 1
    pd.testing.assert_frame_equal(
        stacked[1][1].drop(columns=["seconds", "stacked_seeds"]),
        frame.drop(columns=["seconds", "stacked_seeds"]),
        check_exact=True,
    )


def test_train_block_stacks_only_within_the_family_width_limit(small_splits):
    wide = [RunSpec("mnist", "dnn", "L1", 9, seed) for seed in (0, 1)]
    assert {
        int(f["stacked_seeds"].iloc[0]) for _, f in stages.train_block(wide, small_splits, SETTINGS, {"dnn": 8})
    } == {1}
    cnn = [RunSpec("mnist", "cnn", "conv3x3", 1, seed) for seed in (0, 1)]
    one_epoch = TrainSettings(batch_size=100, max_epochs=1)
    limits = {"dnn": 100, "cnn": 0}
    assert {int(f["stacked_seeds"].iloc[0]) for _, f in stages.train_block(cnn, small_splits, one_epoch, limits)} == {1}
    limits = {"cnn": 1}
    assert {int(f["stacked_seeds"].iloc[0]) for _, f in stages.train_block(cnn, small_splits, one_epoch, limits)} == {2}


def test_prune_run_at_zero_equals_trained_accuracy(trained, small_splits):
    model, frame = trained
    final_acc = frame.loc[frame["kind"] == "final", "test_acc"].iloc[0]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model = models.build("dnn", "L2e", 8, (1, 28, 28))
    model.load_state_dict(state)
    rows = stages.prune_run(model, SPEC, small_splits, SETTINGS, PruneSettings(ratios=(0.0, 0.5, 1.0)))
    assert list(rows["ratio"]) == [0.0, 0.5, 1.0]
    assert rows["test_acc"].iloc[0] == final_acc
    n = 784 * 8 + 8 * 8 + 8 * 10
    assert list(rows["achieved_sparsity"]) == [0.0, round(0.5 * n) / n, 1.0]
    layers = json.loads(rows["layer_sparsity"].iloc[2])
    assert layers == {"1": 1.0, "3": 1.0, "5": 1.0}
    assert "prune_ratios" in rows.columns and (rows["n_params"] == models.dnn_parameter_count(784, [8, 8])).all()


def test_prune_run_each_ratio_starts_from_trained_weights(trained, small_splits):
    model, _ = trained
    state = {k: v.clone() for k, v in model.state_dict().items()}
    fresh = lambda: (m := models.build("dnn", "L2e", 8, (1, 28, 28)), m.load_state_dict(state))[0]  # noqa: E731
    forward = stages.prune_run(fresh(), SPEC, small_splits, SETTINGS, PruneSettings(ratios=(0.0, 0.9, 0.3)))
    alone = stages.prune_run(fresh(), SPEC, small_splits, SETTINGS, PruneSettings(ratios=(0.3,)))
    # 0.3 after 0.9 must not inherit the 0.9 masks
    assert forward["test_acc"].iloc[2] == alone["test_acc"].iloc[0]
    assert forward["achieved_sparsity"].iloc[2] == alone["achieved_sparsity"].iloc[0]


def test_qat_run(small_splits, trained):
    model, frame = trained
    float_acc = float(frame.loc[frame["kind"] == "final", "test_acc"].iloc[0])
    settings = TrainSettings(batch_size=50, max_epochs=2)
    # a DNN is quantized whole: one row, recorded as scope full, whatever qat.scope lists
    rows = stages.qat_run(SPEC, small_splits, settings, QATSettings(scope=("linear", "full")), float_acc, model)
    assert len(rows) == 1 and rows["qat_scope"].iloc[0] == "full"
    row = rows.iloc[0]
    assert bool(row["int8_is_quantized"]) is True
    assert row["float_test_acc"] == float_acc
    assert row["gap_pp"] == pytest.approx(row["float_test_acc"] - row["int8_test_acc"], abs=1e-12)
    assert 0 <= row["int8_test_acc"] <= 100 and 0 <= row["fake_quant_test_acc"] <= 100
    assert row["int8_bytes"] < row["float_bytes"]
    assert row["n_params"] == models.dnn_parameter_count(784, [8, 8])
    assert row["qat_mode"] == "scratch" and row["qat_backend"] == "qnnpack"
    # post-training quantization of the trained float model beside QAT
    assert row["qat_ptq"] and 0 <= row["ptq_int8_test_acc"] <= 100 and row["ptq_seconds"] > 0
    assert row["ptq_gap_pp"] == pytest.approx(float_acc - row["ptq_int8_test_acc"], abs=1e-12)
    assert abs(row["ptq_gap_pp"]) <= 10  # a sanity bound: PTQ keeps most of what the float model learnt


def test_vit_qat_gives_a_row_per_scope_each_with_its_ptq(small_splits, tmp_path):
    vit = RunSpec("mnist", "vit", "enc2learned", 4, 0)
    settings = TrainSettings(batch_size=50, max_epochs=1)
    model, frame = stages.train_run(vit, small_splits, settings)
    float_acc = float(frame.loc[frame["kind"] == "final", "test_acc"].iloc[0])
    qat = QATSettings(scope=("linear", "full"), ptq_batches=2)
    [rows] = stages.qat_block([vit], small_splits, settings, qat, [float_acc], [model], None, tmp_path)
    assert list(rows["qat_scope"]) == ["linear", "full"]
    assert rows["int8_is_quantized"].all() and (rows["float_test_acc"] == float_acc).all()
    for row in rows.itertuples():
        assert row.gap_pp == pytest.approx(float_acc - row.int8_test_acc, abs=1e-12)
        assert row.ptq_gap_pp == pytest.approx(float_acc - row.ptq_int8_test_acc, abs=1e-12)
        # the row's PTQ is the float model quantized under the row's scope
        calibration = stages.ptq_calibration(vit, small_splits, settings, 2)
        int8 = quantize.post_training(model, calibration, "qnnpack", row.qat_scope, settings.batch_size)
        assert quantize.evaluate_int8(int8, small_splits.x_test, small_splits.y_test)[1] == row.ptq_int8_test_acc
    # one checkpoint per scope; removing the job's checkpoints removes them all
    assert sorted(p.name for p in tmp_path.iterdir()) == [".qat-seed0.full.ckpt", ".qat-seed0.linear.ckpt"]
    (tmp_path / ".qat-seed10.full.ckpt").touch()  # another seed's
    stages.remove_checkpoints(tmp_path, "qat", [vit])
    assert [p.name for p in tmp_path.iterdir()] == [".qat-seed10.full.ckpt"]


def test_a_scope_that_stacks_stacks_its_seeds_and_leaves_the_others_alone(small_splits, tmp_path):
    """The ViT's linear-scope QAT stacks a job's seeds while its full-scope QAT runs them one
    at a time, in one ``qat_block``; a seed's rows are the same in the job of two as alone,
    and removing the job's checkpoints removes both kinds."""
    vits = [RunSpec("mnist", "vit", "enc2learned", 4, seed) for seed in (0, 1)]
    settings = TrainSettings(batch_size=50, max_epochs=1)
    qat = QATSettings(scope=("linear", "full"), ptq=False)
    both = stages.qat_block(vits, small_splits, settings, qat, [0.0, 0.0], None, None, tmp_path)
    for rows in both:
        assert dict(zip(rows["qat_scope"], rows["stacked_seeds"])) == {"linear": 2, "full": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".qat-seed0.full.ckpt",
        ".qat-seed1.full.ckpt",
        ".qat-seeds0-1.linear.ckpt",
    ]
    stages.remove_checkpoints(tmp_path, "qat", vits)
    assert list(tmp_path.iterdir()) == []
    [alone] = stages.qat_block(vits[1:], small_splits, settings, qat, [0.0], None, None, None)
    how = ["seconds", "stacked_seeds"]
    pd.testing.assert_frame_equal(both[1].drop(columns=how), alone.drop(columns=how), check_exact=True)


def test_ptq_calibrates_on_the_seeds_first_training_batches(small_splits):
    images = stages.ptq_calibration(SPEC, small_splits, SETTINGS, 2)
    order = torch.randperm(len(small_splits.y_train), generator=torch.Generator().manual_seed(SPEC.seed))
    assert torch.equal(images, small_splits.x_train[order[: 2 * SETTINGS.batch_size]])


def test_ptq_needs_float_model(small_splits):
    with pytest.raises(ValueError, match="ptq"):
        stages.qat_run(SPEC, small_splits, SETTINGS, QATSettings(), 50.0, None)
    stages.qat_run(SPEC, small_splits, TrainSettings(batch_size=50, max_epochs=1), QATSettings(ptq=False), 50.0)


def test_qat_finetune_needs_float_model(small_splits):
    with pytest.raises(ValueError, match="finetune"):
        stages.qat_run(SPEC, small_splits, SETTINGS, QATSettings(mode="finetune", ptq=False), 50.0, None)


def test_qat_unknown_mode(small_splits):
    with pytest.raises(ValueError, match="mode"):
        stages.qat_run(SPEC, small_splits, SETTINGS, QATSettings(mode="sometimes", ptq=False), 50.0, None)


def test_prune_run_leaves_the_callers_model_trained(small_splits, trained):
    import torch

    model, _ = trained
    before = {name: value.clone() for name, value in model.state_dict().items()}
    stages.prune_run(model, SPEC, small_splits, SETTINGS, PruneSettings(ratios=(0.0, 0.5, 1.0)))
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[name], after[name]) for name in before)


def test_the_family_rule_decides_which_configurations_stack():
    """On the CPU a family stacks a stage up to the width its rule names (small DNNs; small
    ViTs' training and linear-scope QAT; the CNN never), on CUDA every family at every width;
    the choice is the configuration's, stage's and scope's, never the job's seed count."""

    def spec(arch, width, seed=0):
        topology = {"dnn": "L1", "cnn": "conv3x3", "vit": "enc2"}[arch]
        return RunSpec("mnist", arch, topology, width, seed)

    for arch in ("dnn", "cnn", "vit"):
        for stage, scope in (("train", None), ("qat", "linear"), ("qat", "full"), ("prune", None)):
            rule = registry.family(arch).stack_max_width
            limit = rule.get(f"{stage}.{scope}", rule.get(stage, 0))
            assert stages.stacks(spec(arch, max(limit, 1)), "cpu", None, stage, scope) == (limit > 0)
            assert not stages.stacks(spec(arch, limit + 1), "cpu", None, stage, scope)
            assert stages.stacks(spec(arch, 1000), "cuda", None, stage, scope)
    assert registry.family("dnn").stacks(10, "cpu", "qat", "full") and not registry.family("cnn").stacks(1)
    vit = registry.family("vit")  # its linear-scope QAT stacks where its full-scope QAT does not
    assert vit.stacks(4, "cpu", "train") and vit.stacks(4, "cpu", "qat", "linear")
    assert not vit.stacks(4, "cpu", "qat", "full") and not vit.stacks(4, "cpu", "qat", "attention")
    seeds = [spec("dnn", 10, seed) for seed in range(4)]
    assert stages.stack_blocks(seeds) == [seeds]
    wide = [spec("dnn", 1000, seed) for seed in range(3)]
    assert stages.stack_blocks(wide) == [[s] for s in wide]
    assert stages.stack_blocks(wide, device="cuda") == [wide]
    assert stages.stack_blocks(seeds, {}) == [[s] for s in seeds]  # a caller's limits: none
    small_vit = [spec("vit", 4, seed) for seed in range(3)]  # a job's seeds stack if any scope does
    assert stages.stack_blocks(small_vit, stage="qat", scopes=("full",)) == [[s] for s in small_vit]
    assert stages.stack_blocks(small_vit, stage="qat", scopes=("full", "linear")) == [small_vit]
