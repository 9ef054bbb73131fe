"""8-bit W8A8 quantization-aware training, eager mode (docs/design.md §1, paper Sec. III-A c).

Every use of ``torch.ao.quantization`` lives here: it is deprecated upstream but is the
paper's method, so its deprecation warnings are silenced in this module and nowhere else.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings

import torch
from torch import nn

from minarch.errors import NonFiniteRows

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
    linears = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if isinstance(child, nn.Linear)
    ]
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


def evaluate_int8(
    int8_model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 10000, backend: str = "qnnpack"
) -> tuple[float, float]:
    """Loss and accuracy (%) of a converted model, run on the CPU by the quantized engine."""
    from minarch.train import evaluate

    use_backend(backend)
    with quiet():
        return evaluate(int8_model, x.cpu(), y.cpu(), batch_size)


def fake_quant_points(qat_model: nn.Module) -> dict[str, nn.Module]:
    """The fake-quant modules of a prepared QAT model by name, in module order."""
    return {name: m for name, m in qat_model.named_modules() if isinstance(m, tq.FakeQuantizeBase)}


class StackedFakeQuant:
    """Fake quantization of S stacked models (``minarch.stacked``), one observer state per
    seed at every point where the eager QAT model has a fake-quant module, named as there.

    A qnnpack default point is per-tensor: a moving-average min/max observer and one scale
    and zero point. For S models at once that is per-row fake quantization along the seed
    axis: ``torch.fused_moving_avg_obs_fake_quant`` with ``per_row_fake_quant=True`` on a
    ``(S, -1)`` view gives each row exactly what S separate modules give (outputs, ranges,
    scales, zero points; ``tests/unit/test_stacked.py``). Each point's constants (range,
    symmetry, averaging) are read from the eager module of ``template``, so the qconfig is
    defined once, by ``prepare``. ``observe`` switches range tracking (on for training
    batches, off for evaluation); ``keep``/``state``/``load_state`` follow the stack's seeds.
    """

    def __init__(self, template: nn.Module, seeds: int, device: torch.device | str = "cpu"):
        self.points = {}
        for name, module in fake_quant_points(template).items():
            observer = module.activation_post_process
            self.points[name] = (
                float(observer.averaging_constant),
                int(observer.quant_min),
                int(observer.quant_max),
                bool(module.is_symmetric_quant),
            )
        self.running_min = {n: torch.full((seeds,), math.inf, device=device) for n in self.points}
        self.running_max = {n: torch.full((seeds,), -math.inf, device=device) for n in self.points}
        self.scale = {n: torch.ones(seeds, device=device) for n in self.points}
        self.zero_point = {n: torch.zeros(seeds, dtype=torch.int32, device=device) for n in self.points}
        self.used: set[str] = set()
        self._on = torch.ones(1, dtype=torch.long, device=device)
        self._off = torch.zeros(1, dtype=torch.long, device=device)
        self.observe = True

    def _apply(self, name: str, x: torch.Tensor) -> torch.Tensor:
        averaging, quant_min, quant_max, symmetric = self.points[name]
        self.used.add(name)
        flat = x.reshape(x.shape[0], -1)
        try:
            out = torch.fused_moving_avg_obs_fake_quant(
                flat,
                self._on if self.observe else self._off,
                self._on,
                self.running_min[name],
                self.running_max[name],
                self.scale[name],
                self.zero_point[name],
                averaging,
                quant_min,
                quant_max,
                0,
                len(flat) > 1,
                symmetric,
            )  # one row: the per-tensor path of the eager modules (cheaper min/max)
        except RuntimeError:
            # a row with non-finite values has no valid scale, and the op stops for all rows:
            # name the rows (checked only now, as a check on every call costs 20% of the op)
            finite = torch.isfinite(flat).all(1)
            if bool(finite.all()):
                raise
            raise NonFiniteRows((~finite).nonzero().flatten().tolist()) from None
        return out.view(x.shape)

    act = _apply
    weight = _apply

    def state(self) -> dict[str, list[torch.Tensor]]:
        return {
            n: [
                self.running_min[n].clone(),
                self.running_max[n].clone(),
                self.scale[n].clone(),
                self.zero_point[n].clone(),
            ]
            for n in self.points
        }

    def load_state(self, state: dict[str, list[torch.Tensor]]) -> None:
        for n, (low, high, scale, zero) in state.items():
            self.running_min[n], self.running_max[n] = low.clone(), high.clone()
            self.scale[n], self.zero_point[n] = scale.clone(), zero.clone()

    def keep(self, rows: torch.Tensor) -> None:
        for table in (self.running_min, self.running_max, self.scale, self.zero_point):
            for n in table:
                table[n] = table[n][rows].clone()

    @torch.no_grad()
    def write_into(self, qat_model: nn.Module, row: int, state: dict | None = None) -> nn.Module:
        """Give the eager QAT model (``prepare``'s output) seed ``row``'s observer state."""
        state = self.state() if state is None else state
        modules = fake_quant_points(qat_model)
        if set(modules) != set(self.points):
            raise ValueError("the QAT model's fake-quant points differ from the stack's")
        for name, module in modules.items():
            low, high, scale, zero = (t[row] for t in state[name])
            module.activation_post_process.min_val.copy_(low)
            module.activation_post_process.max_val.copy_(high)
            module.scale.copy_(scale.reshape(module.scale.shape))
            module.zero_point.copy_(zero.reshape(module.zero_point.shape))
        return qat_model
