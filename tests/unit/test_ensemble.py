"""ensemble.py: S seeds trained as one stacked DNN agree with S separate ``train.fit`` runs."""

from __future__ import annotations

import pytest
import torch

from minarch import ensemble, models, train
from minarch.settings import RunSpec, TrainSettings

IMAGE = (1, 28, 28)
METRICS = ["train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"]


def specs_for(topology: str, width: int, seeds) -> list[RunSpec]:
    return [RunSpec("mnist", "dnn", topology, width, seed) for seed in seeds]


def one_by_one(specs, splits, settings, optimizer="fused"):
    runs = []
    for spec in specs:
        model = models.seeded(spec.seed, "dnn", spec.topology, spec.width, IMAGE)
        runs.append((model, train.fit(model, splits, settings, spec.seed, optimizer=optimizer)))
    return runs


def assert_same_runs(stacked, separate, atol=1e-5, exact=False):
    assert len(stacked) == len(separate)
    for (model_e, result_e), (model_f, result_f) in zip(stacked, separate):
        assert type(model_e) is type(model_f)
        assert [n for n, _ in model_e.named_parameters()] == [n for n, _ in model_f.named_parameters()]
        for p_e, p_f in zip(model_e.parameters(), model_f.parameters()):
            assert p_e.shape == p_f.shape
            if exact:
                assert torch.equal(p_e, p_f)
            else:
                torch.testing.assert_close(p_e, p_f, atol=atol, rtol=1e-4)
        assert (result_e.best_epoch, result_e.stopped_epoch) == (result_f.best_epoch, result_f.stopped_epoch)
        assert len(result_e.history) == len(result_f.history)
        for row_e, row_f in zip(result_e.history, result_f.history):
            assert set(row_e) == set(row_f)
            assert row_e["epoch"] == row_f["epoch"]
            for name in METRICS:
                assert row_e[name] == pytest.approx(row_f[name], abs=1e-4, rel=1e-4), name


def test_stack_round_trip_keeps_each_seeds_initial_weights():
    specs = specs_for("L3ee", 7, [0, 1, 5])
    nets = [models.seeded(s.seed, "dnn", s.topology, s.width, IMAGE) for s in specs]
    params = ensemble.stack(nets)
    assert [tuple(p.shape) for p in params] == [(3, 784, 7), (3, 1, 7), (3, 7, 7), (3, 1, 7), (3, 7, 7),
                                                (3, 1, 7), (3, 7, 10), (3, 1, 10)]
    for row, spec in enumerate(specs):
        fresh = models.build("dnn", spec.topology, spec.width, IMAGE)
        ensemble.unstack_into(fresh, params, row)
        reference = models.seeded(spec.seed, "dnn", spec.topology, spec.width, IMAGE)
        for a, b in zip(fresh.state_dict().values(), reference.state_dict().values()):
            assert torch.equal(a, b)


def test_stacked_forward_matches_each_model(splits):
    specs = specs_for("L2e", 6, [0, 1, 2])
    nets = [models.seeded(s.seed, "dnn", s.topology, s.width, IMAGE) for s in specs]
    params = ensemble.stack(nets)
    x = splits.x_test[:50]
    with torch.no_grad():
        expected = torch.stack([net(x) for net in nets])
        flat = x.reshape(50, -1)
        torch.testing.assert_close(ensemble.stacked_forward(params, flat.expand(3, -1, -1)), expected)
        torch.testing.assert_close(ensemble.shared_forward(params, flat), expected)


@pytest.mark.parametrize("optimizer", ["lean", "fused", "torch"])
def test_ensemble_matches_one_by_one_training(splits, optimizer):
    specs = specs_for("L2e", 8, [0, 1, 2])
    settings = TrainSettings(batch_size=32, max_epochs=3, patience=5)  # 300 = 9 * 32 + 12: a short last batch
    stacked = ensemble.train_dnn_ensemble(specs, splits, settings, optimizer=optimizer)
    assert_same_runs(stacked, one_by_one(specs, splits, settings, optimizer))
    assert all(result.stopped_epoch == 3 for _, result in stacked)


def test_per_seed_early_stopping_matches_fit(splits_factory):
    # random labels and a high learning rate: validation loss soon rises, and the seeds stop
    # at different epochs; each keeps its best epoch's weights
    splits = splits_factory(random_labels=True)
    specs = specs_for("L1", 30, [0, 1, 2, 3])
    settings = TrainSettings(learning_rate=0.02, batch_size=50, max_epochs=12, patience=2)
    separate = one_by_one(specs, splits, settings)
    stopped = [result.stopped_epoch for _, result in separate]
    assert min(stopped) < settings.max_epochs, f"precondition: some seed stops early ({stopped})"
    assert len(set(stopped)) > 1 or len({r.best_epoch for _, r in separate}) > 1, "precondition: seeds differ"
    assert_same_runs(ensemble.train_dnn_ensemble(specs, splits, settings), separate)
    lean = ensemble.train_dnn_ensemble(specs, splits, settings, optimizer="lean")
    assert_same_runs(lean, one_by_one(specs, splits, settings, "lean"), exact=True)


def test_max_stack_splits_the_seeds_without_changing_results(splits):
    specs = specs_for("L1", 5, [3, 4, 5])
    settings = TrainSettings(batch_size=50, max_epochs=2)
    whole = ensemble.train_dnn_ensemble(specs, splits, settings)
    parts = ensemble.train_dnn_ensemble(specs, splits, settings, max_stack=2)
    assert_same_runs(parts, [(m, r) for m, r in whole], atol=1e-6)


def test_final_metrics_stacked_matches_final_metrics(splits):
    nets = [models.seeded(seed, "dnn", "L2e", 4, IMAGE) for seed in (0, 1)]
    stacked = ensemble.final_metrics_stacked(nets, splits, batch_size=64)
    for net, metrics in zip(nets, stacked):
        expected = train.final_metrics(net, splits)
        assert set(metrics) == set(expected)
        for name, value in expected.items():
            assert metrics[name] == pytest.approx(value, rel=1e-5, abs=1e-6)


def test_rejects_mixed_configurations(splits):
    settings = TrainSettings(max_epochs=1)
    with pytest.raises(ValueError, match="one configuration"):
        ensemble.train_dnn_ensemble(specs_for("L1", 5, [0]) + specs_for("L1", 6, [1]), splits, settings)
    with pytest.raises(ValueError, match="only the DNN"):
        ensemble.train_dnn_ensemble([RunSpec("mnist", "cnn", "conv3x3", 4, 0)], splits, settings)
    with pytest.raises(ValueError, match="duplicate"):
        ensemble.train_dnn_ensemble(specs_for("L1", 5, [0, 0]), splits, settings)
