"""8-bit W8A8 quantization-aware training, eager mode (docs/design.md §1, paper Sec. III-A c).

Every use of ``torch.ao.quantization`` lives here: it is deprecated upstream but is the
paper's method, so its deprecation warnings are silenced in this module and nowhere else.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import torch
from torch import nn

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import torch.ao.quantization as tq

FUSABLE = (nn.Linear, nn.Conv2d)


@contextlib.contextmanager
def quiet():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization is deprecated.*")
        warnings.filterwarnings("ignore", message=r".*quantized tensor creation functions.*deprecated.*")
        yield


def use_backend(backend: str = "qnnpack") -> None:
    if backend not in torch.backends.quantized.supported_engines:
        raise RuntimeError(f"quantized engine {backend!r} is not available in this torch build")
    torch.backends.quantized.engine = backend


def _fusable_pairs(model: nn.Module) -> list[list[str]]:
    """Names of (Linear|Conv2d, ReLU) neighbours inside Sequential containers."""
    pairs = []
    for prefix, container in model.named_modules():
        if not isinstance(container, nn.Sequential):
            continue
        children = list(container.named_children())
        for (name, module), (next_name, next_module) in zip(children, children[1:]):
            if isinstance(module, FUSABLE) and isinstance(next_module, nn.ReLU):
                pairs.append([f"{prefix}.{name}" if prefix else name, f"{prefix}.{next_name}" if prefix else next_name])
    return pairs


def _wrap_linear_layers(model: nn.Module) -> list[nn.Module]:
    """Put every Linear between its own Quant/DeQuant stubs, so the float operations around
    it (LayerNorm, softmax, attention matmuls, residual adds) keep float inputs."""
    linears = [(parent, name, child) for parent in model.modules()
               for name, child in parent.named_children() if isinstance(child, nn.Linear)]
    wrappers = []
    for parent, name, child in linears:
        wrapper = tq.QuantWrapper(child)
        setattr(parent, name, wrapper)
        wrappers.append(wrapper)
    return wrappers


def prepare(model: nn.Module, backend: str = "qnnpack") -> nn.Module:
    """Attach the backend's default QAT qconfig (weights per-tensor symmetric qint8,
    activations per-tensor affine quint8, moving-average min/max observers) and insert fake
    quantization. Models whose every operation has an int8 kernel (DNN, CNN) run quantized end
    to end between one pair of stubs, conv/linear+ReLU fused; a model that sets
    ``quantize_linear_layers_only`` (the ViT) gets stubs around each linear layer instead."""
    use_backend(backend)
    qconfig = tq.get_default_qat_qconfig(backend)
    with quiet():
        if getattr(model, "quantize_linear_layers_only", False):
            wrapped = model
            for wrapper in _wrap_linear_layers(model):
                wrapper.qconfig = qconfig
        else:
            wrapped = tq.QuantWrapper(model)
            pairs = _fusable_pairs(wrapped.module)
            if pairs:
                wrapped.train()
                tq.fuse_modules_qat(wrapped.module, pairs, inplace=True)
            wrapped.qconfig = qconfig
        wrapped.train()
        tq.prepare_qat(wrapped, inplace=True)
    return wrapped


def freeze_observers(qat_model: nn.Module) -> None:
    """Stop range tracking so evaluation and conversion use the ranges learnt in training."""
    qat_model.apply(tq.disable_observer)


def convert(qat_model: nn.Module, backend: str = "qnnpack") -> nn.Module:
    """A real int8 model (quantized kernels of ``backend``, which run on the CPU), from a
    trained QAT model (moved to the CPU first if it trained on a GPU)."""
    use_backend(backend)
    with quiet():
        return tq.convert(qat_model.cpu().eval(), inplace=False)


def is_quantized(model: nn.Module) -> bool:
    return any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in model.modules())


def serialized_bytes(model: nn.Module) -> int:
    """Size of the model's state_dict as ``torch.save`` writes it."""
    buffer = io.BytesIO()
    with quiet():
        torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def evaluate_int8(int8_model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 10000,
                  backend: str = "qnnpack") -> tuple[float, float]:
    """Loss and accuracy (%) of a converted model, run on the CPU by the quantized engine."""
    from minarch.train import evaluate

    use_backend(backend)
    with quiet():
        return evaluate(int8_model, x.cpu(), y.cpu(), batch_size)
