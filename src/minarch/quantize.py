"""8-bit W8A8 quantization-aware training, eager mode (docs/design.md §1, paper Sec. III-A c).

Every use of ``torch.ao.quantization`` lives here: it is deprecated upstream but is the
paper's method, so its deprecation warnings are silenced in this module and nowhere else.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import warnings

import torch
from torch import nn

from minarch.errors import NonFiniteRows

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import torch.ao.nn.quantized as nnq
    import torch.ao.quantization as tq
    from torch.ao.quantization.quantization_mappings import (
        get_default_qat_module_mappings,
        get_default_qconfig_propagation_list,
        get_default_static_quant_module_mappings,
    )

from minarch import models

FUSABLE = (nn.Linear, nn.Conv2d)

# What is quantized (``qat.scope``; docs/design.md §1). DNN and CNN have one answer, their
# whole graph, recorded as ``full``; the ViT has three, each adding to the one before:
# - ``linear``: each nn.Linear between its own quant/dequant stubs; LayerNorm, the attention
#   products and softmax, GELU, the class token, position and residual additions stay float;
# - ``attention``: as ``linear``, but each attention (its four projections, q k^T, softmax
#   and probs v) runs between one pair of stubs (``_Attention``);
# - ``full``: the whole ViT between one pair of stubs, every activation 8-bit (``_FullViT``):
#   adds LayerNorm, GELU, the residual stream, class token and positions.
SCOPES = ("linear", "attention", "full")

# The softmax has a quantized kernel but no entry in torch's default mappings: it is added
# here, with the fixed output grid torch gives fixed-range ops (scale 1/256, zero point 0:
# [0, 1) in 256 steps) in QAT and post-training quantization alike.
_OBSERVED = get_default_qconfig_propagation_list() | {nn.Softmax}
_QAT_MAPPING = get_default_qat_module_mappings()
_INT8_MAPPING = {**get_default_static_quant_module_mappings(), nn.Softmax: nnq.Softmax}


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
    it (LayerNorm, softmax, attention matmuls, residual adds) keep float inputs; the Linears
    of an int8 attention (``_Attention``, already between stubs) are left as they are."""
    linears = [
        (parent, name, child)
        for parent in model.modules()
        if not isinstance(parent, _Attention)
        for name, child in parent.named_children()
        if isinstance(child, nn.Linear)
    ]
    wrappers = []
    for parent, name, child in linears:
        wrapper = tq.QuantWrapper(child)
        setattr(parent, name, wrapper)
        wrappers.append(wrapper)
    return wrappers


# --- the ViT with every activation in 8 bits (scope ``full``) -------------------------------
#
# Every operation of the ViT has a quantized kernel in torch 2.14.1 once the attention is
# written out: scaled_dot_product_attention has none, so it is q @ k^T, a scalar product,
# softmax and probs @ v here (FloatFunctional.matmul, quantized::mul_scalar, nnq.Softmax).
# LayerNorm -> nnq.LayerNorm; additions and the class-token concatenation -> FloatFunctional;
# GELU -> torch's quantized GELU, which keeps its input's grid (scale and zero point), so QAT
# rounds GELU's output onto the grid of the layer before it (``_MLP``). The class token and
# the position table are parameters: each gets its own QuantStub. Parameters and fake-quant
# points keep the float ViT's names (``blocks.0.attention.query.weight`` ...), so the stacked
# engine (``stacked.ViTStack``) fake-quantizes at the same points by name.


class _MulScalar(nn.Module):
    """``x * factor``; on an int8 tensor quantized::mul_scalar, which keeps the integers and
    multiplies the scale (exact for a positive factor), so it needs no observer of its own."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized.mul_scalar(x, self.factor) if x.is_quantized else x * self.factor


class _Attention(nn.Module):
    """``models.SelfAttention`` with its scaled dot product written out as int8 operations."""

    def __init__(self, attention: nn.Module):
        super().__init__()
        self.query, self.key, self.value, self.out = attention.query, attention.key, attention.value, attention.out
        self.scores = nnq.FloatFunctional()
        self.scale = _MulScalar(attention.query.out_features**-0.5)
        self.softmax = nn.Softmax(dim=-1)
        self.context = nnq.FloatFunctional()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        query, key, value = self.query(x), self.key(x), self.value(x)
        scores = self.scale(self.scores.matmul(query, key.transpose(-2, -1)))
        return self.out(self.context.matmul(self.softmax(scores), value))


class _MLP(nn.Sequential):
    """Linear, GELU, Linear. torch's int8 GELU writes its output on its input's grid, so in QAT
    the GELU's output is fake-quantized with the first layer's output scale and zero point
    (no observer of its own); before QAT (float, or observers of post-training calibration)
    it is the plain GELU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, gelu, second = self
        h = gelu(first(x))
        grid = getattr(first, "activation_post_process", None)
        if isinstance(grid, tq.FakeQuantizeBase) and bool(grid.fake_quant_enabled[0]):
            h = torch.fake_quantize_per_tensor_affine(h, grid.scale, grid.zero_point, grid.quant_min, grid.quant_max)
        return second(h)


class _Block(nn.Module):
    def __init__(self, block: nn.Module):
        super().__init__()
        self.attention_norm, self.mlp_norm = block.attention_norm, block.mlp_norm
        self.attention = _Attention(block.attention)
        self.mlp = _MLP(*block.mlp)
        self.attention_residual, self.mlp_residual = nnq.FloatFunctional(), nnq.FloatFunctional()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attention_residual.add(x, self.attention(self.attention_norm(x)))
        return self.mlp_residual.add(x, self.mlp(self.mlp_norm(x)))


class _FullViT(nn.Module):
    """``models.ViT`` (its modules and parameters, not copies) between one pair of stubs."""

    def __init__(self, vit: nn.Module):
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.patch_embedding = vit.patch_embedding
        self.class_token = vit.class_token
        if isinstance(vit.positions, nn.Parameter):
            self.positions = vit.positions
        else:
            self.register_buffer("positions", vit.positions, persistent=False)
        self.class_quant, self.positions_quant = tq.QuantStub(), tq.QuantStub()
        self.cat, self.add_positions = nnq.FloatFunctional(), nnq.FloatFunctional()
        self.blocks = nn.Sequential(*(_Block(block) for block in vit.blocks))
        self.norm, self.head = vit.norm, vit.head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embedding(models.to_patches(self.quant(images)))
        cls = self.class_quant(self.class_token).expand(len(tokens), -1, -1)
        tokens = self.add_positions.add(self.cat.cat([cls, tokens], dim=1), self.positions_quant(self.positions))
        return self.dequant(self.head(self.norm(self.blocks(tokens)[:, 0])))


def _between_stubs(model: nn.Module, scope: str, qat: bool) -> tuple[nn.Module, list[nn.Module]]:
    """``model`` with quant/dequant stubs as ``scope`` places them (``model``'s modules are
    reused, not copied), and the modules whose qconfig covers what is quantized. DNN and CNN
    are quantized whole whatever the scope, Linear/Conv2d fused with the ReLU after them."""
    if scope not in SCOPES:
        raise ValueError(f"unknown quantization scope {scope!r}; known: {', '.join(SCOPES)}")
    if isinstance(model, models.ViT):
        attentions = []
        if scope == "attention":
            for block in model.blocks:
                block.attention = tq.QuantWrapper(_Attention(block.attention))
                attentions.append(block.attention)
        if scope in ("linear", "attention"):
            return model, attentions + _wrap_linear_layers(model)
        full = _FullViT(model)
        return full, [full]
    wrapped = tq.QuantWrapper(model)
    pairs = _fusable_pairs(wrapped.module)
    if pairs and qat:
        wrapped.train()
        tq.fuse_modules_qat(wrapped.module, pairs, inplace=True)
    elif pairs:
        wrapped.eval()
        tq.fuse_modules(wrapped.module, pairs, inplace=True)
    return wrapped, [wrapped]


def scope_of(model: nn.Module, scope: str) -> str:
    """The scope a model is quantized under: ``scope`` for the ViT, ``full`` for the others."""
    return scope if isinstance(model, models.ViT) else "full"


def _set_qconfig(root: nn.Module, targets: list[nn.Module], qconfig, softmax_qconfig) -> None:
    for target in targets:
        target.qconfig = qconfig
    for module in root.modules():
        if isinstance(module, nn.Softmax):
            module.qconfig = softmax_qconfig


def prepare(model: nn.Module, backend: str = "qnnpack", scope: str = "full") -> nn.Module:
    """Attach the backend's default QAT qconfig (weights per-tensor symmetric qint8,
    activations per-tensor affine quint8, moving-average min/max observers) and insert fake
    quantization where ``scope`` puts stubs (``_between_stubs``). ``model`` is reused."""
    use_backend(backend)
    with quiet():
        root, targets = _between_stubs(model, scope, qat=True)
        softmax = tq.QConfig(activation=tq.default_fixed_qparams_range_0to1_fake_quant, weight=None)
        _set_qconfig(root, targets, tq.get_default_qat_qconfig(backend), softmax)
        root.train()
        # torch's prepare_qat, with the softmax among the observed modules
        tq.propagate_qconfig_(root)
        tq.convert(root, mapping=_QAT_MAPPING, inplace=True, remove_qconfig=False)
        tq.prepare(root, inplace=True, allow_list=_OBSERVED, observer_non_leaf_module_list=set(_QAT_MAPPING.values()))
    root.quant_scope = scope_of(model, scope)
    return root


def freeze_observers(qat_model: nn.Module) -> None:
    """Stop range tracking so evaluation and conversion use the ranges learnt in training."""
    qat_model.apply(tq.disable_observer)


def convert(qat_model: nn.Module, backend: str = "qnnpack") -> nn.Module:
    """A real int8 model (quantized kernels of ``backend``, which run on the CPU), from a
    trained QAT model (moved to the CPU first if it trained on a GPU)."""
    use_backend(backend)
    with quiet():
        return tq.convert(qat_model.cpu().eval(), mapping=_INT8_MAPPING, inplace=False)


def post_training(
    model: nn.Module, calibration: torch.Tensor, backend: str = "qnnpack", scope: str = "full", batch_size: int = 100
) -> nn.Module:
    """Post-training static quantization: a real int8 model of the trained float ``model``
    (left as it is), stubs placed as in QAT of ``scope``, observed with the backend's default
    static qconfig (``get_default_qconfig``: histogram observer for activations, min/max for
    per-tensor symmetric weights) on ``calibration`` images in batches, then converted."""
    use_backend(backend)
    with quiet():
        root, targets = _between_stubs(copy.deepcopy(model).cpu().eval(), scope, qat=False)
        softmax = tq.QConfig(activation=tq.default_fixed_qparams_range_0to1_observer, weight=None)
        _set_qconfig(root, targets, tq.get_default_qconfig(backend), softmax)
        root.eval()
        tq.prepare(root, inplace=True, allow_list=_OBSERVED)
        with torch.no_grad():
            for start in range(0, len(calibration), batch_size):
                root(calibration[start : start + batch_size].cpu())
        return tq.convert(root, mapping=_INT8_MAPPING, inplace=True)


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


# Below this many elements a point keeps torch's fused observer and fake-quant op: its one
# call beats the dozen element-wise passes and calls of the fast path there. Measured on the
# 2-core machine, forward and backward of one training point, fused op against fast path:
# 69 vs 83 us at 8,192 elements, 104 vs 96 us at 16,384, 448 vs 317 us at 80,000.
_FAST_FROM = 16384


def _rounded(
    x: torch.Tensor,
    scale: torch.Tensor,
    zero_point: torch.Tensor,
    quant_min: int,
    quant_max: int,
    mask: bool,
    finite: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-row fake quantization of ``x`` (rows, n) with (rows,) scales and zero points, and
    with ``mask`` where the gradient passes (the value was not clamped): bit for bit what
    torch's CPU kernels write, per tensor for one row (``fake_quantize_per_tensor_affine``)
    and per channel for several (``tests/unit/test_quantize.py`` compares them). Both compute
    ``zero_point + nearbyint(x * (1.0f / scale))`` in float32, clamp it to the range, subtract
    the zero point and multiply by the scale; they differ for values no finite grid of ``x``
    reaches: the per-tensor kernel clamps NaN to ``quant_min`` and +inf to ``quant_max``, the
    per-channel one casts to int64 first, which sends NaN, +-inf and anything past 2^63 to
    ``quant_min``. ``finite``: ``x`` holds no NaN or inf (its grid, just chosen from its own
    range, is finite), so that handling is skipped (two passes fewer). Element-wise vector
    ops: 1.5-3x faster than those scalar kernels on large activations (``_FAST_FROM``)."""
    scale, zero_point = scale.view(-1, 1), zero_point.view(-1, 1).to(torch.float32)
    r = torch.mul(x, torch.reciprocal(scale)).round_().add_(zero_point)  # round: half to even, as nearbyint
    if finite:
        q = torch.clamp(r, quant_min, quant_max)
    elif len(r) == 1:
        q = torch.clamp(r.nan_to_num(nan=quant_min), quant_min, quant_max)
    else:
        q = torch.where(r < 2.0**63, r, quant_min).clamp_(quant_min, quant_max)  # NaN < c is False
    keep = None
    if mask:  # 1.0 where q == r, 0.0 where clamped or NaN: float, as a bool mask costs ~3x more
        keep = torch.sub(q, r).abs_().clamp_(max=1.0).neg_().add_(1.0)
        if not finite:
            keep.nan_to_num_(0.0)
    return q.sub_(zero_point).mul_(scale), keep


class _FakeQuant(torch.autograd.Function):
    """``_rounded`` with the straight-through gradient of torch's fake quantization: the
    incoming gradient times the mask (zero where the value was clamped; torch multiplies by
    its bool mask, the same products)."""

    @staticmethod
    def forward(ctx, x, scale, zero_point, quant_min, quant_max, finite):
        out, keep = _rounded(x, scale, zero_point, quant_min, quant_max, True, finite)
        ctx.save_for_backward(keep)
        return out

    @staticmethod
    def backward(ctx, grad):
        (keep,) = ctx.saved_tensors
        return grad * keep, None, None, None, None, None


def _fake_quant(x: torch.Tensor, scale, zero_point, quant_min: int, quant_max: int, finite=False) -> torch.Tensor:
    if torch.is_grad_enabled() and x.requires_grad:
        return _FakeQuant.apply(x, scale, zero_point, quant_min, quant_max, finite)
    return _rounded(x, scale, zero_point, quant_min, quant_max, False, finite)[0]


def _vector_ops(x: torch.Tensor) -> bool:
    """Whether fake quantization of ``x`` rounds with vector ops (``_rounded``): on the CPU,
    from ``_FAST_FROM`` elements; below it one call of torch's scalar kernel is cheaper."""
    return x.numel() >= _FAST_FROM and x.device.type == "cpu"


def _on_grid(flat: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, quant_min: int, quant_max: int):
    """``flat`` (rows, n) rounded per row onto given grids, without observing: vector ops for a
    large tensor on the CPU, else torch's op, per tensor for one row (the eager modules' op)
    and per channel for several; bit for bit the same either way."""
    if _vector_ops(flat):
        return _fake_quant(flat, scale, zero_point, quant_min, quant_max)
    if len(flat) == 1:
        return torch.fake_quantize_per_tensor_affine(flat, scale, zero_point, quant_min, quant_max)
    return torch.fake_quantize_per_channel_affine(flat, scale, zero_point, 0, quant_min, quant_max)


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
    A point of fixed scale and zero point (the softmax's, ``fixed``) has no state, and
    ``again`` rounds onto a point's current grid without observing (the ViT's GELU, whose int8
    kernel keeps its input's grid). ``scope`` is the template's quantization scope.

    On the CPU, a point of ``_FAST_FROM`` elements or more leaves the rounding to ``_rounded``
    (vector ops; torch's fake-quant kernels are scalar code) and gives the fused op only each
    row's min and max: the same ranges, scales, zero points, outputs and gradients, bit for
    bit; QAT then takes 0.82-0.94x the CPU for the ViT, the CNN and the wide DNNs
    (``benchmarks/reports/fake_quant.md``).
    """

    def __init__(self, template: nn.Module, seeds: int, device: torch.device | str = "cpu"):
        self.scope = getattr(template, "quant_scope", "full")
        self.points, self.fixed = {}, {}
        for name, module in fake_quant_points(template).items():
            if isinstance(module, tq.FixedQParamsFakeQuantize):  # one grid for every seed
                self.fixed[name] = (
                    torch.tensor([float(module.scale)], dtype=torch.float32, device=device),
                    torch.tensor([int(module.zero_point)], dtype=torch.int32, device=device),
                    int(module.quant_min),
                    int(module.quant_max),
                )
                continue
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

    @property
    def names(self) -> set[str]:
        """Every fake-quant point, observed or fixed."""
        return set(self.points) | set(self.fixed)

    def _fixed(self, name: str, x: torch.Tensor) -> torch.Tensor:
        self.used.add(name)
        return _on_grid(x.reshape(1, -1), *self.fixed[name]).view(x.shape)

    def again(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """``x`` rounded per row onto point ``name``'s current grid; the point's observer
        neither sees ``x`` nor changes."""
        _, quant_min, quant_max, _ = self.points[name]
        flat = x.reshape(x.shape[0], -1)
        return _on_grid(flat, self.scale[name], self.zero_point[name], quant_min, quant_max).view(x.shape)

    def _apply(self, name: str, x: torch.Tensor) -> torch.Tensor:
        if name in self.fixed:
            return self._fixed(name, x)
        averaging, quant_min, quant_max, symmetric = self.points[name]
        self.used.add(name)
        flat = x.reshape(x.shape[0], -1)
        fast = _vector_ops(flat)
        if fast:
            # The fused op's observer sees a tensor only through its per-row min and max, so
            # running it on those two values per row moves the same ranges and chooses the
            # same scales and zero points; its fake quantization of them is discarded, and
            # ``_fake_quant`` rounds ``x`` (its scalar kernel is the op's main cost). For one
            # row, aminmax is the op's own reduction; per row, amin/amax are ~10x faster than
            # aminmax(dim=1) and can differ from it only in the sign of a zero extreme, which
            # neither the moving average's value nor the chosen scale and zero point see.
            with torch.no_grad():
                if not self.observe:  # the op reads only the running ranges
                    seen = flat.new_zeros(len(flat), 2)
                elif len(flat) == 1:
                    seen = torch.stack(torch.aminmax(flat)).view(1, 2)
                else:
                    seen = torch.stack((flat.amin(1), flat.amax(1)), 1)
        try:
            out = torch.fused_moving_avg_obs_fake_quant(
                seen if fast else flat,
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
        if fast:
            scale = self.scale[name]
            # a NaN or inf in x has just made its grid non-finite; a finite grid vouches for x
            finite = self.observe and bool(torch.isfinite(scale).all())
            out = _fake_quant(flat, scale, self.zero_point[name], quant_min, quant_max, finite)
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
        if set(modules) != self.names:
            raise ValueError("the QAT model's fake-quant points differ from the stack's")
        for name, module in modules.items():
            if name in self.fixed:  # nothing learnt
                continue
            low, high, scale, zero = (t[row] for t in state[name])
            module.activation_post_process.min_val.copy_(low)
            module.activation_post_process.max_val.copy_(high)
            module.scale.copy_(scale.reshape(module.scale.shape))
            module.zero_point.copy_(zero.reshape(module.zero_point.shape))
        return qat_model
