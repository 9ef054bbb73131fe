"""quantize.py: eager-mode W8A8 QAT for the qnnpack engine, then a real int8 model."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from minarch import models, quantize, train

DEPRECATIONS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def _deprecations(caught):
    return [f"{w.category.__name__}: {w.message}" for w in caught if issubclass(w.category, DEPRECATIONS)]


def _train_steps(qat_model, steps=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(qat_model.parameters(), lr=1e-3)
    qat_model.train()
    for _ in range(steps):
        x = torch.randn(64, 1, 28, 28, generator=generator)
        y = torch.randint(0, 10, (64,), generator=generator)
        loss = F.cross_entropy(qat_model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@pytest.fixture(scope="module")
def pipeline():
    """float model (784x100 layer) -> prepare -> 5 steps -> freeze -> convert, recording warnings."""
    float_model = models.seeded(0, "dnn", "L1", 100, (1, 28, 28))
    float_bytes = quantize.serialized_bytes(float_model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        qat_model = quantize.prepare(models.seeded(0, "dnn", "L1", 100, (1, 28, 28)), "qnnpack")
        _train_steps(qat_model)
        quantize.freeze_observers(qat_model)
        int8_model = quantize.convert(qat_model, "qnnpack")
        int8_bytes = quantize.serialized_bytes(int8_model)
    return {
        "float": float_model,
        "qat": qat_model,
        "int8": int8_model,
        "warnings": list(caught),
        "float_bytes": float_bytes,
        "int8_bytes": int8_bytes,
    }


def test_no_deprecation_warning_escapes(pipeline):
    assert _deprecations(pipeline["warnings"]) == []


def test_no_deprecation_warning_escapes_fresh_calls():
    model = models.seeded(1, "dnn", "L2e", 8, (1, 28, 28))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        qat_model = quantize.prepare(model)
        _train_steps(qat_model, steps=1)
        quantize.freeze_observers(qat_model)
        int8 = quantize.convert(qat_model)
        quantize.evaluate_int8(int8, torch.randn(20, 1, 28, 28), torch.randint(0, 10, (20,)))
    assert _deprecations(caught) == []


def test_converted_model_is_quantized(pipeline):
    assert quantize.is_quantized(pipeline["int8"])
    assert not quantize.is_quantized(pipeline["float"])
    assert not quantize.is_quantized(pipeline["qat"])  # fake-quant modules are not int8 kernels
    kinds = {(type(m).__module__, type(m).__name__) for m in pipeline["int8"].modules()}
    # Linear+ReLU were fused into one int8 kernel; the logits layer is a plain int8 Linear
    assert any(mod.startswith("torch.ao.nn.intrinsic.quantized") and name == "LinearReLU" for mod, name in kinds)
    assert any(mod.startswith("torch.ao.nn.quantized") and name == "Linear" for mod, name in kinds)
    assert not any(name == "ReLU" for _, name in kinds)


def test_qconfig_is_qnnpack_default_w8a8(pipeline):
    qat = pipeline["qat"]
    fused = [m for m in qat.modules() if hasattr(m, "weight_fake_quant")]
    assert len(fused) == 2  # the two linear layers
    for layer in fused:
        weight_fq = layer.weight_fake_quant
        assert weight_fq.dtype == torch.qint8
        assert weight_fq.qscheme == torch.per_tensor_symmetric
        activation_fq = layer.activation_post_process
        assert activation_fq.dtype == torch.quint8
        assert activation_fq.qscheme == torch.per_tensor_affine
        assert type(activation_fq.activation_post_process).__name__ == "MovingAverageMinMaxObserver"
    input_fq = qat.quant.activation_post_process
    assert input_fq.dtype == torch.quint8 and input_fq.qscheme == torch.per_tensor_affine


def test_int8_runs_under_qnnpack_and_tracks_fake_quant(pipeline):
    assert torch.backends.quantized.engine == "qnnpack"
    x = torch.randn(200, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    pipeline["qat"].eval()
    with torch.no_grad():
        fake = pipeline["qat"](x)
        real = pipeline["int8"](x)
    assert real.shape == (200, 10) and real.dtype == torch.float32
    output_scale = pipeline["int8"].module[-1].scale
    # same quantization grid: the two differ by rounding only, a few output steps at most
    assert (fake - real).abs().max().item() <= 4 * output_scale
    assert (fake.argmax(1) == real.argmax(1)).float().mean().item() >= 0.9


def test_int8_is_smaller_than_float(pipeline):
    # 78,400 weights: 4 bytes each as float32, 1 byte as int8
    assert pipeline["int8_bytes"] < pipeline["float_bytes"]
    assert pipeline["int8_bytes"] < 0.5 * pipeline["float_bytes"]
    assert pipeline["float_bytes"] > 4 * 784 * 100


def test_freeze_observers_stops_range_tracking():
    qat_model = quantize.prepare(models.seeded(0, "dnn", "L1", 10, (1, 28, 28)))
    qat_model.train()
    scale = lambda: qat_model.quant.activation_post_process.scale.clone()  # noqa: E731
    qat_model(torch.randn(32, 1, 28, 28))
    first = scale()
    qat_model(100 * torch.randn(32, 1, 28, 28))
    assert not torch.equal(scale(), first)  # observers track the range while training
    quantize.freeze_observers(qat_model)
    frozen = scale()
    qat_model(1000 * torch.randn(32, 1, 28, 28))
    assert torch.equal(scale(), frozen)


def test_evaluate_int8_matches_manual_evaluation(pipeline):
    generator = torch.Generator().manual_seed(9)
    x = torch.randn(150, 1, 28, 28, generator=generator)
    y = torch.randint(0, 10, (150,), generator=generator)
    loss, acc = quantize.evaluate_int8(pipeline["int8"], x, y, batch_size=40)
    with torch.no_grad():
        logits = pipeline["int8"](x)
    assert loss == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    assert acc == pytest.approx(100.0 * (logits.argmax(1) == y).float().mean().item())
    assert (loss, acc) == pytest.approx(train.evaluate(pipeline["int8"], x, y))


def test_unavailable_backend_rejected():
    with pytest.raises(RuntimeError, match="not available"):
        quantize.use_backend("no_such_engine")


# ---- quantization scope of the ViT, post-training quantization -------------------------------

QUANTIZED_NAMESPACES = ("torch.ao.nn.quantized", "torch.ao.nn.intrinsic.quantized")


def _vit(seed=0, positions="enc2learned"):
    return models.seeded(seed, "vit", positions, 8, (1, 28, 28))


def _int8_vit(scope, positions="enc2learned"):
    qat_model = quantize.prepare(_vit(positions=positions), scope=scope)
    _train_steps(qat_model, steps=3)
    quantize.freeze_observers(qat_model)
    return qat_model, quantize.convert(qat_model)


def _int8_kinds(model):
    """How many modules of each int8 kind (torch.ao's quantized modules) ``model`` holds."""
    kinds = {}
    for m in model.modules():
        if type(m).__module__.startswith(QUANTIZED_NAMESPACES):
            kinds[type(m).__name__] = kinds.get(type(m).__name__, 0) + 1
    return kinds


def _output_kinds(model, x):
    """Per module name: whether its output in a forward of ``x`` is an int8 tensor."""
    found, hooks = {}, []
    for name, module in model.named_modules():
        if name:
            hooks.append(
                module.register_forward_hook(lambda m, i, o, name=name: found.__setitem__(name, o.is_quantized))
            )
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return found


def test_vit_scope_linear_runs_only_linear_layers_in_int8():
    _, int8 = _int8_vit("linear")
    kinds = _int8_kinds(int8)
    # 14 linear layers, each between its own quantize/dequantize; nothing else is int8
    assert kinds.pop("LinearPackedParams") == 14
    assert kinds == {"Linear": 14, "Quantize": 14, "DeQuantize": 14}
    outputs = _output_kinds(int8, torch.randn(4, 1, 28, 28))
    float_ops = [n for n, m in int8.named_modules() if isinstance(m, (torch.nn.LayerNorm, torch.nn.GELU))]
    assert len(float_ops) == 5 + 2  # every LayerNorm and GELU runs in float32
    assert not any(outputs[n] for n in float_ops)
    assert all(
        outputs[f"{n}.module"] for n, m in int8.named_modules() if isinstance(m, torch.ao.quantization.QuantWrapper)
    )


def test_vit_scope_attention_adds_each_whole_attention_in_int8():
    _, int8 = _int8_vit("attention")
    kinds = _int8_kinds(int8)
    assert kinds.pop("LinearPackedParams") == 14
    # per block one quantize/dequantize pair around the attention, whose 4 projections, q k^T,
    # softmax and probs v are int8; the 6 other linear layers each between their own stubs
    assert kinds == {"Linear": 14, "Softmax": 2, "QFunctional": 4, "Quantize": 2 + 6, "DeQuantize": 2 + 6}
    outputs = _output_kinds(int8, torch.randn(4, 1, 28, 28))
    for block in ("blocks.0", "blocks.1"):
        inside = [n for n in outputs if n.startswith(f"{block}.attention.module.")]
        assert len(inside) == 6 and all(outputs[n] for n in inside)  # q, k, v, 1/sqrt(D), softmax, out
        assert not outputs[f"{block}.attention"] and not outputs[f"{block}.attention_norm"]
        assert not outputs[f"{block}.mlp.1"]  # GELU stays float


@pytest.mark.parametrize("positions", ["enc2", "enc2learned"])
def test_vit_scope_full_runs_every_activation_in_int8(positions):
    """One quantize of the images (and of the class token and position table), one dequantize of
    the logits; every module between them computes on int8 tensors with an int8 kernel."""
    _, int8 = _int8_vit("full", positions)
    kinds = _int8_kinds(int8)
    assert kinds.pop("LinearPackedParams") == 14
    # 14 linear layers; 5 LayerNorms; 2 softmaxes; FloatFunctional ops: class-token cat, position
    # add and per block q k^T, probs v and two residual adds; the images, the class token and
    # the positions are quantized, the logits dequantized
    assert kinds == {"Linear": 14, "LayerNorm": 5, "Softmax": 2, "QFunctional": 10, "Quantize": 3, "DeQuantize": 1}
    assert not any(type(m) in (torch.nn.Linear, torch.nn.LayerNorm, torch.nn.Softmax) for m in int8.modules())
    outputs = _output_kinds(int8, torch.randn(4, 1, 28, 28))
    assert not outputs.pop("dequant")
    assert all(outputs.values()), [n for n, q in outputs.items() if not q]
    assert {"blocks.0.mlp.1", "blocks.1.mlp.1", "blocks.0.attention.scale"} <= set(outputs)  # GELU, 1/sqrt(D)


def test_int8_gelu_keeps_its_input_grid_and_qat_rounds_onto_it():
    """torch's int8 GELU writes its output on its input's scale and zero point; the QAT model
    rounds GELU's output onto the grid of the layer before it, so the two agree."""
    qat_model, int8 = _int8_vit("full")
    seen = {}
    int8.blocks[0].mlp[1].register_forward_hook(lambda m, i, o: seen.update(i=i[0], o=o))
    with torch.no_grad():
        int8(torch.randn(4, 1, 28, 28))
    assert seen["o"].q_scale() == seen["i"].q_scale() and seen["o"].q_zero_point() == seen["i"].q_zero_point()
    grid = qat_model.blocks[0].mlp[0].activation_post_process
    qat_model.eval()
    captured = {}
    qat_model.blocks[0].mlp[2].register_forward_pre_hook(lambda m, i: captured.update(x=i[0]))
    with torch.no_grad():
        qat_model(torch.randn(4, 1, 28, 28))
    steps = captured["x"] / grid.scale + grid.zero_point
    torch.testing.assert_close(steps, steps.round(), atol=1e-3, rtol=0)


def test_softmax_has_the_fixed_unit_grid_in_qat_and_int8():
    qat_model, int8 = _int8_vit("full")
    fake = qat_model.blocks[0].attention.softmax.activation_post_process
    assert isinstance(fake, torch.ao.quantization.FixedQParamsFakeQuantize)
    assert (float(fake.scale), int(fake.zero_point)) == (1 / 256, 0)
    softmax = int8.blocks[0].attention.softmax
    assert (softmax.scale, softmax.zero_point) == (1 / 256, 0)


@pytest.mark.parametrize("scope", quantize.SCOPES)
def test_dnn_and_cnn_ignore_the_scope(scope):
    for arch, topology, width in (("dnn", "L1", 10), ("cnn", "conv3x3", 2)):
        qat_model = quantize.prepare(models.seeded(0, arch, topology, width, (1, 28, 28)), scope=scope)
        assert qat_model.quant_scope == "full"
        assert isinstance(qat_model, torch.ao.quantization.QuantWrapper)


def test_unknown_scope_rejected():
    with pytest.raises(ValueError, match="scope"):
        quantize.prepare(_vit(), scope="everything")


def _learnt(arch, topology, width, splits_factory, epochs=4, learning_rate=0.01):
    from minarch import stages
    from minarch.settings import RunSpec, TrainSettings

    splits = splits_factory(n_train=500, n_val=100, n_test=400)
    settings = TrainSettings(batch_size=25, max_epochs=epochs, learning_rate=learning_rate)
    spec = RunSpec("mnist", arch, topology, width, 0)
    model, frame = stages.train_run(spec, splits, settings)
    return spec, splits, settings, model, float(frame.loc[frame["kind"] == "final", "test_acc"].iloc[0])


@pytest.fixture(scope="module")
def learnt_vit(splits_factory):
    return _learnt("vit", "enc2learned", 8, splits_factory)


def test_vit_fake_quant_and_int8_accuracies_agree_for_every_scope(learnt_vit):
    """QAT of each scope from the same start: the fake-quant model (float kernels on the int8
    grid) and the converted int8 model classify the test set alike, up to rounding: the
    kernels round requantization differently, a grid step here and there."""
    from minarch import stages
    from minarch.settings import QATSettings

    spec, splits, settings, model, float_acc = learnt_vit
    frame = stages.qat_run(spec, splits, settings, QATSettings(scope=quantize.SCOPES, ptq=False), float_acc, model)
    assert list(frame["qat_scope"]) == list(quantize.SCOPES)
    assert frame["int8_is_quantized"].all()
    assert frame["fake_quant_test_acc"].min() > 30  # learnt something (chance: 10%)
    for row in frame.itertuples():
        assert abs(row.fake_quant_test_acc - row.int8_test_acc) <= 3.0, row.qat_scope  # 12 of 400 images


@pytest.mark.parametrize("scope", quantize.SCOPES)
def test_post_training_quantization_of_a_trained_vit(learnt_vit, scope):
    """The float model calibrated and converted: the same int8 kernels as QAT of its scope,
    the float model untouched, and an int8 accuracy near the float one."""
    spec, splits, settings, model, float_acc = learnt_vit
    before = {k: v.clone() for k, v in model.state_dict().items()}
    int8 = quantize.post_training(model, splits.x_train[:200], scope=scope, batch_size=50)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    _, qat_int8 = _int8_vit(scope)
    assert _int8_kinds(int8) == _int8_kinds(qat_int8)
    _, acc = quantize.evaluate_int8(int8, splits.x_test, splits.y_test)
    assert abs(acc - float_acc) <= 10


def test_post_training_quantization_uses_the_default_static_qconfig():
    """Weights per-tensor symmetric int8 from their min/max; activations calibrated by the
    histogram observer of ``get_default_qconfig('qnnpack')``: images far outside the
    calibration batches saturate."""
    model = models.seeded(0, "dnn", "L1", 10, (1, 28, 28))
    calibration = torch.rand(64, 1, 28, 28)  # in [0, 1)
    int8 = quantize.post_training(model, calibration, batch_size=16)
    assert torch.backends.quantized.engine == "qnnpack"
    layer = int8.module[1]
    assert type(layer).__name__ == "LinearReLU" and layer.weight().q_zero_point() == 0  # symmetric
    weight = model[1].weight.detach()
    assert layer.weight().q_scale() == pytest.approx(weight.abs().max().item() / 127.5, rel=1e-5)
    scale, zero_point = float(int8.quant.scale), int(int8.quant.zero_point)
    assert 0.5 < scale * (255 - zero_point) <= 1.01 and scale * zero_point <= 0.01  # about [0, 1)
    with torch.no_grad():  # every pixel above the calibrated range: the same saturated input
        assert torch.equal(int8(calibration[:4] + 2), int8(calibration[:4] + 5))


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.int32)


def _awkward_values(rows: int, n: int, scale: torch.Tensor, zero_point: torch.Tensor, seed: int) -> torch.Tensor:
    """Activations with exact rounding ties, values past both ends of the grid, +-inf and NaN."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, n, generator=generator) * 300 * scale.view(-1, 1)
    ties = torch.randint(-400, 400, (rows, n // 3), generator=generator).float() + 0.5
    x[:, : n // 3] = (ties - zero_point.view(-1, 1)) * scale.view(-1, 1)
    x[:, n // 3 : n // 3 + 3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    return x


@pytest.mark.parametrize("quant_min, quant_max", [(0, 255), (-128, 127)])
@pytest.mark.parametrize("rows", [1, 3])
def test_vector_rounding_is_torchs_fake_quant_bit_for_bit(quant_min, quant_max, rows):
    """The fast path of large points rounds with element-wise ops; its outputs and gradient
    mask must be bit for bit those of torch's per-tensor (one row) and per-channel kernels."""
    generator = torch.Generator().manual_seed(rows)
    for trial in range(20):
        scale = torch.rand(rows, generator=generator) * 0.05 + 1e-4
        zero_point = torch.randint(quant_min, quant_max + 1, (rows,), generator=generator).to(torch.int32)
        x = _awkward_values(rows, 3001, scale, zero_point, trial)
        got, keep = quantize._rounded(x, scale, zero_point, quant_min, quant_max, mask=True)
        if rows == 1:
            on = torch.ones(1, dtype=torch.long)
            expected, mask = torch._fake_quantize_per_tensor_affine_cachemask_tensor_qparams(
                x, scale, zero_point, on, quant_min, quant_max
            )
        else:
            expected, mask = torch.ops.aten.fake_quantize_per_channel_affine_cachemask(
                x, scale, zero_point, 0, quant_min, quant_max
            )
        assert torch.equal(_bits(got), _bits(expected))
        assert torch.equal(keep, mask.float())
        finite = torch.isfinite(x).all(0)  # columns free of NaN and inf
        clean, _ = quantize._rounded(x[:, finite], scale, zero_point, quant_min, quant_max, True, finite=True)
        assert torch.equal(_bits(clean), _bits(expected[:, finite])), "finite=True skips only NaN and inf handling"


@pytest.mark.parametrize("rows", [1, 3])
def test_large_points_observe_round_and_pass_gradients_as_the_fused_op(rows):
    """A point past quantize._FAST_FROM elements against torch.fused_moving_avg_obs_fake_quant
    itself over training steps and an evaluation: outputs, input gradients, running ranges,
    scales and zero points bit for bit (a small point uses the op, so this is the fast path)."""
    template = quantize.prepare(models.seeded(0, "dnn", "L1", 5, (1, 28, 28)))
    name = "quant.activation_post_process"
    quant = quantize.StackedFakeQuant(template, rows)
    averaging, quant_min, quant_max, symmetric = quant.points[name]
    state = [torch.full((rows,), float("inf")), torch.full((rows,), -float("inf")), torch.ones(rows)]
    state.append(torch.zeros(rows, dtype=torch.int32))
    on, off = torch.ones(1, dtype=torch.long), torch.zeros(1, dtype=torch.long)
    generator = torch.Generator().manual_seed(5)
    n = quantize._FAST_FROM // rows + 7
    for step, observe in enumerate([True, True, True, False]):
        x = torch.randn(rows, n, generator=generator) * (1 + step) + step
        if not observe:  # evaluation keeps the grid, whatever a diverged model feeds it
            x[:, :3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
        weights = torch.randn(rows, n, generator=generator)
        quant.observe = observe
        mine = x.clone().requires_grad_(True)
        out = quant.act(name, mine)
        (out * weights).sum().backward()
        theirs = x.clone().requires_grad_(True)
        expected = torch.fused_moving_avg_obs_fake_quant(
            theirs, on if observe else off, on, *state, averaging, quant_min, quant_max, 0, rows > 1, symmetric
        )
        (expected * weights).sum().backward()
        assert torch.equal(_bits(out.detach()), _bits(expected.detach())), step
        assert torch.equal(_bits(mine.grad), _bits(theirs.grad)), step
        ours = [quant.running_min[name], quant.running_max[name], quant.scale[name], quant.zero_point[name]]
        for a, b in zip(ours, state):
            assert torch.equal(a, b), step
    again = quant.again(name, x)  # the eager modules' op for one row, the per-channel one for several
    if rows == 1:
        expected = torch.fake_quantize_per_tensor_affine(x, state[2], state[3], quant_min, quant_max)
    else:
        expected = torch.fake_quantize_per_channel_affine(x, state[2], state[3], 0, quant_min, quant_max)
    assert torch.equal(_bits(again), _bits(expected))


@pytest.mark.parametrize("seeds", [1, 3])
@pytest.mark.parametrize("size", [100, quantize._FAST_FROM + 5])
def test_fixed_grid_points_round_as_the_eager_module(seeds, size):
    """The full-scope ViT's softmax point has a fixed grid, one for every seed: below
    quantize._FAST_FROM elements torch's op rounds it, past it the vector ops; both bit for
    bit what the eager QAT model's module computes (NaN and inf included)."""
    template = quantize.prepare(_vit(), scope="full")
    quant = quantize.StackedFakeQuant(template, seeds)
    name = next(n for n in quant.fixed if "softmax" in n)
    module = quantize.fake_quant_points(template)[name]
    x = torch.rand(seeds, size, generator=torch.Generator().manual_seed(0)) * 1.2 - 0.1
    x[0, :3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    with torch.no_grad():
        expected = module(x.clone())
    assert torch.equal(_bits(quant.act(name, x)), _bits(expected))
