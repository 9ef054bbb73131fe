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
