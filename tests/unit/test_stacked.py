"""stacked.py and the training loop on stacks: S seeds trained as one stacked model agree with
S seeds trained one at a time, for every registered family (its ``examples``), float and QAT;
a seed's stacked form covers every parameter and fake-quant point of its eager model, found
by enumerating the eager modules; a seed's results do not depend on its stack-mates; a
killed loop resumes with the same results. A family a plugin registers
(``MINARCH_PLUGINS``) is checked alike."""

from __future__ import annotations

import copy
import dataclasses

import pandas as pd
import pytest
import torch

from minarch import models, prune, quantize, registry, stacked, stages, train
from minarch.settings import PruneSettings, QATSettings, RunSpec, TrainSettings

IMAGE = (1, 28, 28)
# case -> (arch, topology, width): each registered family's examples, the first named after
# the family, the others after their topology too (the ViT's learned positions: vit_enc2learned)
CASES = {
    name if i == 0 else f"{name}_{topology}": (name, topology, width)
    for name, family in registry.families().items()
    for i, (topology, width) in enumerate(family.examples)
}
# how each case trains: float, and QAT under every quantization scope its family has (DNN
# and CNN are quantized whole, ``full``; the ViT runs each scope)
RUNS = [
    (case, quant)
    for case in sorted(CASES)
    for quant in (None, *(quantize.SCOPES if registry.family(CASES[case][0]).scoped_qat else ("full",)))
]
RUN_IDS = [f"{case}-{quant or 'float'}" for case, quant in RUNS]
QAT_RUNS = [run for run in RUNS if run[1]]
QAT_IDS = [f"{case}-{quant}" for case, quant in QAT_RUNS]
METRICS = ["train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"]


def nets_for(case, seeds):
    arch, topology, width = CASES[case]
    return [models.seeded(seed, arch, topology, width, IMAGE) for seed in seeds]


def specs_for(case, seeds):
    arch, topology, width = CASES[case]
    return [RunSpec("mnist", arch, topology, width, seed) for seed in seeds]


@pytest.fixture(scope="module")
def small(splits_factory):
    """Learnable 1x28x28 data, small enough for every family to train in a second."""
    return splits_factory(n_train=200, n_val=60, n_test=100)


@pytest.mark.parametrize("case", sorted(CASES))
def test_round_trip_keeps_each_seeds_weights(case):
    nets = nets_for(case, [0, 3, 5])
    stack = stacked.Stack(CASES[case][0], nets)
    assert stack.size == 3
    for row, seed in enumerate([0, 3, 5]):
        arch, topology, width = CASES[case]
        fresh = stack.write_into(models.build(arch, topology, width, IMAGE), row)
        reference = models.seeded(seed, arch, topology, width, IMAGE)
        for (name, a), b in zip(fresh.state_dict().items(), reference.state_dict().values()):
            assert torch.equal(a, b), name
    names = {p.name for p in stack.family.params}
    assert names == {name for name, _ in nets[0].named_parameters()}, "every parameter is stacked"
    prunable = {p.name for p in stack.family.params if p.prunable}
    assert prunable == {f"{name}.weight" for name, _ in prune.prunable_weights(nets[0])}, "pruned as eager"


@pytest.mark.parametrize("case", sorted(CASES))
def test_stacked_forward_matches_each_model(case):
    nets = nets_for(case, [0, 1, 2])
    x = torch.randn(3, 20, *IMAGE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = torch.stack([net(x[i]) for i, net in enumerate(nets)])
        torch.testing.assert_close(stacked.Stack(CASES[case][0], nets).forward(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case, scope", QAT_RUNS, ids=QAT_IDS)
def test_stacked_fake_quant_matches_eager_qat_models(case, scope):
    """Training-mode forwards of S eager QAT models and of the stack with StackedFakeQuant give
    the same outputs and leave every observer, scale and zero point with the same values."""
    nets = nets_for(case, [0, 1, 2])
    eager = [quantize.prepare(copy.deepcopy(net), scope=scope) for net in nets]
    stack = stacked.Stack(CASES[case][0], nets)
    quant = quantize.StackedFakeQuant(eager[0], 3)
    generator = torch.Generator().manual_seed(1)
    for step in range(3):
        x = torch.randn(3, 16, *IMAGE, generator=generator) * (1 + step)
        with torch.no_grad():
            expected = torch.stack([m(x[i]) for i, m in enumerate(eager)])
            got = stack.forward(x, quant)
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert quant.scope == quantize.scope_of(nets[0], scope)
    assert quant.used == quant.names == set(quantize.fake_quant_points(eager[0]))
    arch, topology, width = CASES[case]
    for row, reference in enumerate(eager):
        copied = quant.write_into(
            quantize.prepare(stack.write_into(models.build(arch, topology, width, IMAGE), row), scope=scope), row
        )
        theirs = reference.state_dict()
        for name, value in copied.state_dict().items():
            if value.dtype == torch.int32:  # zero points: integers from the same ranges
                assert (value.long() - theirs[name].long()).abs().max() <= 1, name
            else:
                torch.testing.assert_close(value, theirs[name], rtol=1e-4, atol=1e-5, msg=name)


def test_per_row_fake_quant_equals_separate_modules():
    """One point: S separate qnnpack-default activation fake-quant modules against one stacked
    per-row point (the claim the stacked QAT rests on)."""
    template = quantize.prepare(models.seeded(0, "dnn", "L1", 5, IMAGE))
    modules = [copy.deepcopy(template.quant.activation_post_process) for _ in range(4)]
    quant = quantize.StackedFakeQuant(template, 4)
    generator = torch.Generator().manual_seed(2)
    for _ in range(4):
        x = torch.randn(4, 7, 5, generator=generator) * torch.arange(1, 5).view(4, 1, 1) + torch.arange(4).view(4, 1, 1)
        expected = torch.stack([m(x[i]) for i, m in enumerate(modules)])
        torch.testing.assert_close(quant.act("quant.activation_post_process", x), expected, rtol=1e-6, atol=1e-6)
    name = "quant.activation_post_process"
    torch.testing.assert_close(
        quant.running_min[name], torch.stack([m.activation_post_process.min_val for m in modules])
    )
    torch.testing.assert_close(quant.scale[name], torch.cat([m.scale for m in modules]))


def test_batched_linear_gives_autograds_gradients_in_the_weights_layout():
    """``stacked._BatchedLinear`` against autograd's own ``baddbmm`` backward: the same output
    and gradients (up to float rounding: the weight gradient is a product in another order),
    the weight's already in its ``(S, out, in)`` layout where autograd's comes transposed (and
    is copied into the parameter's layout at every step)."""
    generator = torch.Generator().manual_seed(3)
    h = torch.randn(3, 40, 17, generator=generator)
    weight = torch.randn(3, 6, 17, generator=generator)
    bias = torch.randn(3, 1, 6, generator=generator)
    grad = torch.randn(3, 40, 6, generator=generator)
    ours = [t.clone().requires_grad_(True) for t in (h, weight, bias)]
    theirs = [t.clone().requires_grad_(True) for t in (h, weight, bias)]
    out = stacked._BatchedLinear.apply(*ours)
    expected = torch.baddbmm(theirs[2], theirs[0], theirs[1].transpose(1, 2))
    assert torch.equal(out, expected)  # the forward is the same call
    our_grads = torch.autograd.grad(out, ours, grad)
    their_grads = torch.autograd.grad(expected, theirs, grad)
    for a, b in zip(our_grads, their_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert our_grads[1].is_contiguous() and not their_grads[1].is_contiguous()


def _assert_same_runs(a, b, n_val: int, n_test: int, loss_rel: float = 1e-3):
    """Equal up to float rounding. Batched and single products round differently, and Adam
    turns a rounding-level difference in a near-zero gradient into a step of up to the
    learning rate, so weights may differ by a few learning rates; losses by ``loss_rel``
    (a thousandth in float training); accuracies by at most two images."""
    images = {"train": None, "val": n_val, "test": n_test}
    for (model_a, result_a), (model_b, result_b) in zip(a, b):
        assert (result_a.best_epoch, result_a.stopped_epoch) == (result_b.best_epoch, result_b.stopped_epoch)
        for row_a, row_b in zip(result_a.history, result_b.history):
            for name in METRICS:
                part, kind = name.split("_")
                if kind == "loss":
                    assert row_a[name] == pytest.approx(row_b[name], rel=loss_rel), name
                elif images[part] is not None:
                    assert abs(row_a[name] - row_b[name]) <= 2 * 100.0 / images[part] + 1e-9, name
        for p_a, p_b in zip(model_a.parameters(), model_b.parameters()):
            torch.testing.assert_close(p_a, p_b, rtol=1e-3, atol=5e-3)


def _stacked_quant(nets, scope):
    """``scope``'s StackedFakeQuant for a stack of ``nets`` (None: float training)."""
    if scope is None:
        return None
    return quantize.StackedFakeQuant(quantize.prepare(copy.deepcopy(nets[0]), scope=scope), len(nets))


def _train(case, seeds, splits, settings, quant=None, batched=False):
    nets = nets_for(case, seeds)
    stack = stacked.Stack(CASES[case][0], nets, batched)
    q = _stacked_quant(nets, quant)
    results = train.fit_stack(stack, splits, settings, seeds, quant=q)
    return [(stack.write_into(net, row), result) for row, (net, result) in enumerate(zip(nets, results))], q


@pytest.mark.parametrize("case, quant", RUNS, ids=RUN_IDS)
def test_stacked_training_matches_one_seed_at_a_time(case, quant, small):
    settings = TrainSettings(batch_size=32, max_epochs=2, patience=5)  # 200 = 6 * 32 + 8: a short last batch
    together, _ = _train(case, [0, 1, 2], small, settings, quant)
    alone = [_train(case, [seed], small, settings, quant)[0][0] for seed in (0, 1, 2)]
    # Under fake quantization a rounding-level difference that crosses a step of the 8-bit grid
    # moves a value by a whole step, so QAT losses drift further apart than float ones: the
    # ViT under `attention` differed by 1.2e-3 on a Sapphire Rapids VM (AMX kernels).
    loss_rel = 1e-3 if quant is None else 5e-3
    _assert_same_runs(together, alone, len(small.y_val), len(small.y_test), loss_rel)


@pytest.mark.parametrize("case, quant", RUNS, ids=RUN_IDS)
def test_a_seeds_results_do_not_depend_on_its_stack_mates(case, quant, small):
    """Seeds [0, 1] and [0, 1, 2], and seed 1 alone with the batched kernels (a stacked
    configuration's seed alone in its job, ``stages.stacks``): seeds 0 and 1 end identical, to
    the bit (the same code on the same machine); patience 1 makes seeds leave the stack at
    different epochs."""
    settings = TrainSettings(batch_size=32, max_epochs=4, patience=1, learning_rate=0.01)
    two, q2 = _train(case, [0, 1], small, settings, quant)
    three, q3 = _train(case, [0, 1, 2], small, settings, quant)
    one, q1 = _train(case, [1], small, settings, quant, batched=True)
    for (model_a, result_a, q_a, row_a), (model_b, result_b, q_b, row_b) in (
        (two[0] + (q2, 0), three[0] + (q3, 0)),
        (two[1] + (q2, 1), three[1] + (q3, 1)),
        (one[0] + (q1, 0), three[1] + (q3, 1)),
    ):
        assert [{k: r[k] for k in METRICS} for r in result_a.history] == [
            {k: r[k] for k in METRICS} for r in result_b.history
        ]
        for p_a, p_b in zip(model_a.parameters(), model_b.parameters()):
            assert torch.equal(p_a, p_b)
        if quant:
            for name in q_a.points:
                assert torch.equal(q_a.scale[name][row_a], q_b.scale[name][row_b])


@pytest.mark.parametrize("case, quant", RUNS, ids=RUN_IDS)
def test_final_validation_and_test_metrics_are_the_best_epochs_rows(case, quant, splits_factory):
    """``final_metrics_stack`` (and QAT's fake-quant test accuracy) read a seed's validation
    and test metrics from its best epoch's history row instead of evaluating the restored
    state again: the two are the same computation, equal to the bit, also for seeds that left
    the stack at different epochs (patience 1) and whose best epoch is not their last."""
    # random labels: validation loss rises once the training set is being memorised
    small = splits_factory(n_train=200, n_val=60, n_test=100, random_labels=True)
    settings = TrainSettings(batch_size=32, max_epochs=5, patience=1, learning_rate=0.03)
    seeds = [0, 1, 2]
    nets = nets_for(case, seeds)
    stack = stacked.Stack(CASES[case][0], nets)
    q = _stacked_quant(nets, quant)
    results = train.fit_stack(stack, small, settings, seeds, quant=q)
    assert any(r.best_epoch < r.stopped_epoch for r in results), "precondition: a best epoch that is not the last"
    evaluated = train.final_metrics_stack(stack, small, quant=q)  # every split evaluated again
    assert train.final_metrics_stack(stack, small, quant=q, results=results) == evaluated
    for result, metrics in zip(results, evaluated):
        row = train.best_epoch_row(result)
        assert row["epoch"] == result.best_epoch
        assert {k: row[k] for k in METRICS if not k.startswith("train")} == {
            k: metrics[k] for k in METRICS if not k.startswith("train")
        }


def test_final_metrics_evaluate_where_a_seed_has_no_best_epoch(small):
    """A seed that never improved on its start (best epoch 0) has no row to read: the stack is
    evaluated on every split."""
    nets = nets_for("dnn", [0, 1])
    stack = stacked.Stack("dnn", nets)
    never = train.FitResult(history=[{"epoch": 1, **dict.fromkeys(METRICS, float("nan"))}], stopped_epoch=1)
    assert train.best_epoch_row(never) is None
    fake = {"epoch": 1, **dict.fromkeys(METRICS, -1.0)}
    improved = train.FitResult(history=[fake], best_epoch=1, stopped_epoch=1)
    assert train.best_epoch_row(improved) is fake
    evaluated = train.final_metrics_stack(stack, small)
    assert train.final_metrics_stack(stack, small, results=[improved, never]) == evaluated
    assert train.final_metrics_stack(stack, small, results=[improved, improved])[0]["val_loss"] == -1.0


def test_train_block_stacked_equals_alone_and_qat_int8_agrees(small):
    specs = specs_for("dnn", [0, 1])
    settings = TrainSettings(batch_size=32, max_epochs=2)
    stacked_frames = stages.qat_block(specs, small, settings, QATSettings(ptq=False), [50.0, 50.0], None, {"dnn": 100})
    alone_frames = stages.qat_block(specs, small, settings, QATSettings(ptq=False), [50.0, 50.0], None, {})
    for a, b in zip(stacked_frames, alone_frames):
        ra, rb = a.iloc[0], b.iloc[0]
        assert (ra.stacked_seeds, rb.stacked_seeds) == (2, 1)
        assert ra.int8_is_quantized and rb.int8_is_quantized
        assert (ra.best_epoch, ra.stopped_epoch) == (rb.best_epoch, rb.stopped_epoch)
        # a real int8 model of the same weights up to float rounding: at most one test image apart
        assert abs(ra.int8_test_acc - rb.int8_test_acc) <= 100.0 / len(small.y_test) + 1e-9
        assert ra.fake_quant_test_acc == pytest.approx(rb.fake_quant_test_acc, abs=100.0 / len(small.y_test) + 1e-9)


@pytest.mark.parametrize("stack_models", [1, 8])
@pytest.mark.parametrize("case", sorted(CASES))
def test_prune_block_matches_eager_pruning(case, stack_models, small):
    """Every (seed, ratio) evaluated, stacked or alone (the default: each pruned CNN and ViT as
    the eager model in its own chunks), gives the rows the eager models give."""
    nets = nets_for(case, [0, 1])
    specs = specs_for(case, [0, 1])
    ratios = (0.0, 0.3, 0.7, 1.0)
    frames = stages.prune_block(
        nets, specs, small, TrainSettings(), PruneSettings(ratios=ratios), stack_models=stack_models
    )
    for net, frame in zip(nets, frames):
        assert list(frame["ratio"]) == list(ratios)
        for ratio, row in zip(ratios, frame.itertuples()):
            pruned = copy.deepcopy(net)
            prune.prune_globally(pruned, ratio)
            achieved, _ = prune.sparsity(pruned)
            loss, acc = train.evaluate(pruned, small.x_test, small.y_test)
            assert row.achieved_sparsity == achieved
            assert row.test_loss == pytest.approx(loss, rel=1e-5)
            assert abs(row.test_acc - acc) <= 100.0 / len(small.y_test) + 1e-9


def test_prune_block_needs_only_the_test_split(small):
    """The workflow's prune job loads only the test split when it does not fine-tune: the
    same rows as with every split, bit for bit."""
    nets, specs = nets_for("dnn", [0, 1]), specs_for("dnn", [0, 1])
    test_only = dataclasses.replace(small, x_train=None, y_train=None, x_val=None, y_val=None)
    settings = PruneSettings(ratios=(0.0, 0.5, 1.0))
    for a, b in zip(
        stages.prune_block(nets, specs, small, TrainSettings(), settings),
        stages.prune_block(nets, specs, test_only, TrainSettings(), settings),
    ):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.mark.parametrize("case", sorted(CASES))
def test_forward_shared_gives_each_models_logits(case):
    """Every model of the stack on the same images: the DNN's first layer as one wide product
    (the same logits up to rounding), any other family through ``forward`` (exactly)."""
    nets = nets_for(case, [0, 1, 2])
    stack = stacked.Stack(CASES[case][0], nets)
    x = torch.randn(7, *IMAGE)
    with torch.no_grad():
        shared = stack.forward_shared(x)
        expanded = stack.forward(x.unsqueeze(0).expand(3, *x.shape))
    assert stack.shares_input == stacked.shares_input(CASES[case][0]) == (CASES[case][0] == "dnn")
    torch.testing.assert_close(shared, expanded, rtol=1e-5, atol=1e-5)
    if not stack.shares_input:
        assert torch.equal(shared, expanded)


@pytest.mark.parametrize("arch, topology, width", [*CASES.values(), ("dnn", "L1", 50)])
def test_a_seeds_prune_rows_do_not_depend_on_the_jobs_other_seeds(arch, topology, width, splits_factory):
    """Seed 1 pruned alone and beside seeds 0 and 2: the same rows, bit for bit (a DNN's
    shared-input stack holds one seed's ratios, never the job's other seeds). At width 50 one
    seed's product has 100 columns and three seeds' would have 300: MKL's sgemm rounds a
    column differently across that range (on the development machine from about 200)."""
    small = splits_factory(n_train=100, n_val=20, n_test=1500)  # MKL treats 100 rows apart
    settings = PruneSettings(ratios=(0.0, 0.5))
    nets = [models.seeded(seed, arch, topology, width, IMAGE) for seed in (0, 1, 2)]
    specs = [RunSpec("mnist", arch, topology, width, seed) for seed in (0, 1, 2)]
    together = stages.prune_block(nets, specs, small, TrainSettings(), settings)
    alone = stages.prune_block(nets[1:2], specs[1:2], small, TrainSettings(), settings)
    pd.testing.assert_frame_equal(together[1], alone[0], check_exact=True)


class _Killed(Exception):
    pass


@pytest.mark.parametrize("case, quant", [run for run in RUNS if run[0] in ("dnn", "vit")])
def test_killed_loop_resumes_from_its_checkpoint_with_the_same_results(case, quant, small, tmp_path, monkeypatch):
    settings = TrainSettings(batch_size=32, max_epochs=4, patience=2, learning_rate=0.01)
    seeds = [0, 1, 2]
    reference, q_ref = _train(case, seeds, small, settings, quant)

    def run(checkpoint):
        nets = nets_for(case, seeds)
        stack = stacked.Stack(CASES[case][0], nets)
        q = _stacked_quant(nets, quant)
        results = train.fit_stack(stack, small, settings, seeds, quant=q, checkpoint=checkpoint)
        return [(stack.write_into(net, row), result) for row, (net, result) in enumerate(zip(nets, results))], q

    path = tmp_path / ".train-seeds0-2.ckpt"
    real_evaluate = train.evaluate_stack
    calls = {"n": 0}

    def dies_in_epoch_3(*args, **kwargs):  # 2 evaluations per epoch: die inside epoch 3
        calls["n"] += 1
        if calls["n"] == 5:
            raise _Killed
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(train, "evaluate_stack", dies_in_epoch_3)
    with pytest.raises(_Killed):
        run(train.Checkpoint(path, "key"))
    assert path.exists()
    monkeypatch.setattr(train, "evaluate_stack", real_evaluate)
    resumed, q_res = run(train.Checkpoint(path, "key"))
    for (model_a, result_a), (model_b, result_b) in zip(reference, resumed):
        assert (result_a.best_epoch, result_a.stopped_epoch) == (result_b.best_epoch, result_b.stopped_epoch)
        assert [{k: r[k] for k in METRICS} for r in result_a.history] == [
            {k: r[k] for k in METRICS} for r in result_b.history
        ]
        for p_a, p_b in zip(model_a.parameters(), model_b.parameters()):
            assert torch.equal(p_a, p_b)
    if quant:
        for name in q_ref.points:
            assert torch.equal(q_ref.scale[name], q_res.scale[name])
            assert torch.equal(q_ref.running_max[name], q_res.running_max[name])


def test_checkpoint_of_another_run_is_ignored(small, tmp_path):
    settings = TrainSettings(batch_size=50, max_epochs=2)
    path = tmp_path / "c.ckpt"
    stack = stacked.Stack("dnn", nets_for("dnn", [0]))
    train.fit_stack(stack, small, settings, [0], checkpoint=train.Checkpoint(path, "one run"))
    assert path.exists()
    fresh = stacked.Stack("dnn", nets_for("dnn", [0]))
    results = train.fit_stack(fresh, small, settings, [0], checkpoint=train.Checkpoint(path, "another run"))
    assert [r["epoch"] for r in results[0].history] == [1, 2], "trained from the start, not resumed"
    path.write_bytes(b"not a checkpoint")
    again = stacked.Stack("dnn", nets_for("dnn", [0]))
    results = train.fit_stack(again, small, settings, [0], checkpoint=train.Checkpoint(path, "another run"))
    assert [r["epoch"] for r in results[0].history] == [1, 2]


def test_pruned_finetuning_keeps_pruned_weights_at_zero(small):
    from minarch import prune

    model = nets_for("dnn", [0])[0]
    frame = stages.prune_block(
        [model],
        specs_for("dnn", [0]),
        small,
        TrainSettings(batch_size=50),
        PruneSettings(ratios=(0.0, 0.5), finetune_epochs=1),
    )[0]
    assert frame["achieved_sparsity"].iloc[1] >= 0.5
    pruned = copy.deepcopy(model)
    prune.prune_globally(pruned, 0.5)
    prune.make_permanent(pruned)
    stages._finetune_pruned(pruned, 0.5, specs_for("dnn", [0])[0], small, TrainSettings(batch_size=50), 1)
    assert prune.sparsity(pruned)[0] >= 0.5


def test_a_diverging_qat_seed_leaves_its_stack_instead_of_stopping_it(small):
    """A learning rate of 1e30 sends activations to infinity: no valid quantization scale
    exists then. The seed stops with a non-finite epoch row and its best state so far (here
    its initial weights: best epoch 0), which the regime labels call failed; the job goes on."""
    settings = TrainSettings(batch_size=32, max_epochs=2, learning_rate=1e30)
    frames = stages.qat_block(
        specs_for("dnn", [0, 1]), small, settings, QATSettings(ptq=False), [50.0, 50.0], None, {"dnn": 100}
    )
    for frame in frames:
        row = frame.iloc[0]
        assert row.best_epoch == 0 and row.stopped_epoch >= 1
        assert row.int8_is_quantized


def test_a_finished_stack_is_not_trained_again_from_its_checkpoint(small, tmp_path, monkeypatch):
    """A job with several stacks killed in a later one keeps the earlier stacks' work."""
    settings = TrainSettings(batch_size=50, max_epochs=2)
    path = tmp_path / "c.ckpt"
    first = stacked.Stack("dnn", nets_for("dnn", [0, 1]))
    done = train.fit_stack(first, small, settings, [0, 1], checkpoint=train.Checkpoint(path, "run"))

    def no_training(*args, **kwargs):
        raise AssertionError("a finished stack was trained again")

    monkeypatch.setattr(train, "evaluate_stack", no_training)
    again = stacked.Stack("dnn", nets_for("dnn", [0, 1]))
    resumed = train.fit_stack(again, small, settings, [0, 1], checkpoint=train.Checkpoint(path, "run"))
    assert [r.history for r in resumed] == [r.history for r in done]
    for a, b in zip(first.buffers, again.buffers):
        assert torch.equal(a, b)


def test_every_registered_family_has_examples_to_check_its_stacked_form_on():
    """The training loop runs every model as a stack (one seed alone is a stack of one): the
    checks above run on every family's examples."""
    for name, family in registry.families().items():
        assert family.examples, name
        assert any(arch == name for arch, _, _ in CASES.values()), name
