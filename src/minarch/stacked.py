"""S same-shaped models of one family as one stacked model (docs/design.md §4).

A ``Stack`` holds the seeds of one (dataset, arch, topology, width) as parameters with a
leading seed axis and runs them with batched operations, so that one Python step (forward,
backward, optimizer) serves every seed:

- DNN: each linear layer is one ``baddbmm`` over the seed axis;
- CNN: the convolution is one grouped convolution (``groups = S``, each seed's batch in its
  own channel group), the head a ``baddbmm``;
- ViT: batched linear layers, LayerNorm and attention over a ``(S, B, tokens, D)`` layout.

Every seed sees its own inputs ``x[s]``; nothing mixes seeds, so seed ``s`` of a stack computes
what the model of seed ``s`` computes alone, up to float rounding (batched kernels sum in their
own order). ``forward`` takes an optional ``quant`` (``minarch.quantize.StackedFakeQuant``)
that fake-quantizes weights and activations at the points where the eager QAT model has its
fake-quant modules, named as there. A family's stacked form is the class its registry entry
names (``minarch.registry.Family.stacked``); tests/unit/test_stacked.py checks every
registered family's against its eager model: outputs, every parameter and every fake-quant
point.

A seed's results do not depend on its stack-mates, to the bit on one machine: every batched
kernel here computes each seed's slice on its own, element-wise kernels treat every element
alike, the optimizer steps each seed's row as a tensor of its own (``optim.Adam(rows=True)``:
the fused kernel's scalar tail would otherwise fall on whichever seed is last), evaluation
chunks do not depend on the stack's size, and a stack of several seeds keeps its grouped
convolution when seeds leave it (``tests/unit/test_stacked.py`` trains seeds [0, 1] and
[0, 1, 2] and compares).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from minarch import models, registry
from minarch.sizes import EVAL_ELEMENTS_PER_SEED


@dataclass(frozen=True)
class Param:
    """One parameter of the float model: its name there and its per-seed stacked shape (None:
    as in the model). Linear weights keep ``nn.Linear``'s ``(out, in)`` layout, so that masks,
    checkpoints and fake-quant points read as in the model; they enter ``baddbmm`` transposed,
    and ``_BatchedLinear`` gives their gradient in that layout."""

    name: str
    shape: tuple[int, ...] | None = None
    prunable: bool = False

    def to_stacked(self, value: torch.Tensor) -> torch.Tensor:
        value = value.detach()
        return value.reshape(self.shape) if self.shape is not None else value

    def to_model(self, value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return value.reshape(like.shape)


class _NoQuant:
    """The float forward: every fake-quant point is the identity."""

    scope = None

    @staticmethod
    def act(_name: str, x: torch.Tensor) -> torch.Tensor:
        return x

    weight = again = act


NO_QUANT = _NoQuant()


class _BatchedLinear(torch.autograd.Function):
    """``baddbmm(bias, h, weight^T)`` whose weight gradient comes out in the weight's own
    ``(S, out, in)`` layout: ``grad^T @ h``. Autograd's ``baddbmm`` backward computes it as
    ``h^T @ grad`` and transposes, so every step then copied the whole gradient into the
    parameter's layout, element by strided element (``mm`` has a layout-aware backward,
    ``bmm`` not). Without that copy a step of 10 stacked 784-100-10 DNNs is 1.13-1.33x
    faster, of 3072-100-10 ones 1.22x (``benchmarks/reports/batched_linear.md``)."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(h, weight)
        return torch.baddbmm(bias, h, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        h, weight = ctx.saved_tensors
        grad_h = torch.bmm(grad, weight) if ctx.needs_input_grad[0] else None
        grad_weight = torch.bmm(grad.transpose(1, 2), h) if ctx.needs_input_grad[1] else None
        grad_bias = grad.sum(1, keepdim=True) if ctx.needs_input_grad[2] else None
        return grad_h, grad_weight, grad_bias


def _linear(
    h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, alone: bool, own_backward: bool = True
) -> torch.Tensor:
    """``h (S, rows, in) @ weight (S, out, in)^T + bias (S, 1, out)``. A model trained alone
    uses the 2-D product: for one matrix torch's CPU ``bmm`` is about 3x slower than ``mm``. A
    stack of several seeds keeps the batched product when one seed is left, so that no seed
    changes kernel (and rounding) mid-training. ``own_backward``: the batched product's
    backward is ``_BatchedLinear``'s; False keeps autograd's, faster where the rows far
    outnumber the weight's sides (the ViT's batch x tokens rows: 0.94-0.99x with ours at
    D = 4-64, ``benchmarks/reports/batched_linear.md``). A family's choice, never a stack's."""
    if alone:  # squeeze, not [0]: a view whose gradient is a view too (indexing's copies a zeroed tensor)
        return torch.addmm(bias.squeeze(0), h.squeeze(0), weight.squeeze(0).t()).unsqueeze(0)
    if own_backward:
        return _BatchedLinear.apply(h, weight, bias)
    return torch.baddbmm(bias, h, weight.transpose(1, 2))


def _eval_rows(floats_per_image: int, limit: int) -> int:
    """Images per evaluation chunk: about ``EVAL_ELEMENTS_PER_SEED`` floats, 1 to ``limit``."""
    return max(1, min(limit, EVAL_ELEMENTS_PER_SEED // floats_per_image))


def eager_eval_rows(arch: str, model: nn.Module, image_shape: tuple[int, ...], limit: int) -> int:
    """Rows per evaluation chunk of the eager ``model`` (family ``arch``) evaluated alone
    (``stages.prune_block``): a function of the model only, from its family's
    ``eager_activation_floats`` (``benchmarks/reports/prune_eval.md``)."""
    family = registry.resolve(registry.family(arch).stacked)(model)
    return _eval_rows(family.eager_activation_floats(image_shape), limit)


def shares_input(arch: str) -> bool:
    """Whether family ``arch``'s stacked form has ``forward_shared``: every model of a stack
    on the same images, its first layer one product of them with the models' weights side by
    side."""
    return hasattr(registry.resolve(registry.family(arch).stacked), "forward_shared")


class Stack:
    """S models of one family (same architecture and width) as stacked parameters."""

    def __init__(self, arch: str, nets: Sequence[nn.Module], batched: bool = False):
        if not nets:
            raise ValueError("a stack needs at least one model")
        self.arch = arch
        self.family = registry.resolve(registry.family(arch).stacked)(nets[0])
        # A stack of several seeds keeps the batched kernels when seeds leave it: a kernel
        # chosen for one model alone (groups=1 convolution, 2-D products) rounds differently
        # from the batched one, so the last seed left would otherwise change kernel
        # mid-training. ``batched`` gives one seed the batched kernels from the start, so
        # that it computes what it computes in any stack (``stages.stack_blocks``).
        self.family.min_stack = 2 if batched or len(nets) > 1 else 1
        # one leaf tensor (S, *shape) per parameter of the model
        self.buffers: list[torch.Tensor] = [
            torch.stack([spec.to_stacked(net.get_parameter(spec.name)) for net in nets])
            .contiguous()
            .requires_grad_(True)
            for spec in self.family.params
        ]
        self.masks: list[torch.Tensor | None] = [None] * len(self.buffers)

    @property
    def size(self) -> int:
        return self.buffers[0].shape[0]

    @property
    def device(self) -> torch.device:
        return self.buffers[0].device

    def views(self, buffers: Sequence[torch.Tensor] | None = None) -> list[torch.Tensor]:
        """The parameters ``(S, *shape)`` as the forward uses them (masks applied)."""
        buffers = self.buffers if buffers is None else buffers
        return [b if m is None else b * m for b, m in zip(buffers, self.masks)]

    def forward(self, x: torch.Tensor, quant=None) -> torch.Tensor:
        """Logits ``(S, B, classes)`` for per-seed inputs ``x`` ``(S, B, *image)``."""
        return self.family.forward(self.views(), x, NO_QUANT if quant is None else quant)

    @property
    def shares_input(self) -> bool:
        """``shares_input`` of the stack's family."""
        return hasattr(self.family, "forward_shared")

    def forward_shared(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(S, B, classes)`` of every model on the same float images ``x``
        ``(B, *image)``: the family's ``forward_shared`` where it has one, else ``forward``.
        The first layer's product then has ``S x width`` columns, so its rounding may depend
        on S: for a stack whose size the configuration fixes, such as the prune sweep's
        ratios of one seed (``stages.prune_block``), never for a block's seeds."""
        if self.shares_input:
            return self.family.forward_shared(self.views(), x)
        return self.forward(x.unsqueeze(0).expand(self.size, *x.shape))

    def set_masks(self, masks: Sequence[torch.Tensor | None]) -> None:
        """Per parameter, a ``(S, *shape)`` 0/1 mask that multiplies it in every forward
        (``torch.nn.utils.prune``'s semantics: masked weights stay zero under training)."""
        self.masks = [None if m is None else m.to(self.device) for m in masks]

    @torch.no_grad()
    def write_into(self, model: nn.Module, row: int, buffers: Sequence[torch.Tensor] | None = None) -> nn.Module:
        """Copy seed ``row`` into the float model ``model`` (same family and width)."""
        for spec, view in zip(self.family.params, self.views(buffers)):
            target = model.get_parameter(spec.name)
            target.copy_(spec.to_model(view[row], target))
        return model

    def state(self) -> list[torch.Tensor]:
        return [b.detach().clone() for b in self.buffers]

    @torch.no_grad()
    def load_state(self, buffers: Sequence[torch.Tensor]) -> None:
        self.buffers = [b.detach().clone().requires_grad_(True) for b in buffers]

    def eval_rows(self, image_shape: tuple[int, ...], limit: int) -> int:
        """Rows per evaluation chunk: a function of the model only (not of the stack's size),
        so a seed's evaluation sums in the same order in any stack."""
        return _eval_rows(self.family.activation_floats(image_shape), limit)


# --- families ---------------------------------------------------------------------------


def _linear_names(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]


class _Family:
    """What every family's stacked form shares."""

    # set by Stack: 2 for a stack built from several seeds, which then keeps its batched kernels
    min_stack = 1

    def eager_activation_floats(self, image_shape) -> int:
        """Floats per image that set the chunks of the family's eager model evaluated alone
        (``eager_eval_rows``): by default those of its stack's chunks, which suit the CNN,
        whose CPU convolution ran 3-4x slower from about 800 images a call (W = 1-4 measured)."""
        return self.activation_floats(image_shape)


class DNNStack(_Family):
    """``models.dnn``: Sequential(Flatten, Linear, ReLU, ..., Linear)."""

    def __init__(self, model: nn.Module):
        self.layers = _linear_names(model)
        self.params = []
        for name in self.layers:
            out = model.get_submodule(name).out_features
            self.params += [Param(f"{name}.weight", prunable=True), Param(f"{name}.bias", shape=(1, out))]
        self.widest = max(model.get_submodule(name).out_features for name in self.layers)

    def activation_floats(self, image_shape) -> int:
        return math.prod(image_shape) + 2 * self.widest

    def forward(self, p, x, quant):
        q_act, q_weight = quant.act, quant.weight
        s, b = x.shape[:2]
        h = q_act("quant.activation_post_process", x.reshape(s, b, -1))
        last = len(self.layers) - 1
        for i, name in enumerate(self.layers):
            weight = q_weight(f"module.{name}.weight_fake_quant", p[2 * i])
            h = _linear(h, weight, p[2 * i + 1], self.min_stack == 1)
            if i < last:
                h = torch.relu(h)
            h = q_act(f"module.{name}.activation_post_process", h)
        return h

    def forward_shared(self, p, x):
        """Float logits of every model on the same images ``x`` ``(B, *image)``: the first
        layer as one ``(B, in) @ (in, S x width)`` product, the others batched as in
        ``forward``: a seed's prune sweep 1.15-2.1x faster than one pruned model at a time,
        the narrowest most (``benchmarks/reports/prune_eval.md``)."""
        s, (out, fan_in) = p[0].shape[0], p[0].shape[1:]
        b = x.shape[0]
        h = torch.addmm(p[1].reshape(s * out), x.reshape(b, fan_in), p[0].reshape(s * out, fan_in).t())
        h = h.view(b, s, out).transpose(0, 1)  # (S, B, width)
        for i in range(1, len(self.layers)):
            h = _linear(torch.relu(h), p[2 * i], p[2 * i + 1], False)
        return h


class CNNStack(_Family):
    """``models.cnn``: Sequential(Conv2d, ReLU, Flatten, Linear)."""

    def __init__(self, model: nn.Module):
        conv, head = model[0], model[3]
        self.channels, self.in_channels = conv.out_channels, conv.in_channels
        self.params = [
            Param("0.weight", prunable=True),
            Param("0.bias"),
            Param("3.weight", prunable=True),
            Param("3.bias", shape=(1, head.out_features)),
        ]

    def activation_floats(self, image_shape) -> int:
        c, h, w = image_shape
        return c * h * w + 2 * self.channels * (h - 2) * (w - 2)

    def forward(self, p, x, quant):
        q_act, q_weight = quant.act, quant.weight
        s, b, c, height, width = x.shape
        x = q_act("quant.activation_post_process", x)
        weight = q_weight("module.0.weight_fake_quant", p[0])
        bias = p[1]
        groups = max(s, self.min_stack)
        if groups == 1:  # one model alone: the plain convolution, without the layout changes
            h = F.conv2d(x.squeeze(0), weight.squeeze(0), bias.squeeze(0))
            h = q_act("module.0.activation_post_process", torch.relu(h).reshape(1, b, -1))
            head = q_weight("module.3.weight_fake_quant", p[2])
            return q_act("module.3.activation_post_process", _linear(h, head, p[3], True))
        if groups > s:  # a copy of the last seed as a second group, its output dropped
            x, weight, bias = (torch.cat([t, t[-1:]]) for t in (x, weight, bias))
        # seeds side by side in the channel axis: one grouped convolution, group s = seed s
        grouped = x.transpose(0, 1).reshape(b, groups * c, height, width)
        h = F.conv2d(
            grouped, weight.reshape(groups * self.channels, *weight.shape[2:]), bias.reshape(-1), groups=groups
        )
        h = torch.relu(h).view(b, groups, -1)[:, :s].transpose(0, 1).contiguous()
        h = q_act("module.0.activation_post_process", h)
        head = q_weight("module.3.weight_fake_quant", p[2])
        return q_act("module.3.activation_post_process", _linear(h, head, p[3], False))


class ViTStack(_Family):
    """``models.ViT``: patch embedding, class token, positions, pre-norm blocks, head. QAT
    follows the quantization scope of ``quant`` (``quantize.SCOPES``): ``linear``, each linear
    layer between its own stubs; ``attention``, the same but each attention (projections,
    scores, softmax, context) between one pair of stubs (``_int8_attention``); ``full``,
    every activation (``_forward_full``)."""

    def __init__(self, model: nn.Module):
        self.dim = model.class_token.shape[-1]
        self.grid = models.VIT_GRID
        self.blocks = len(model.blocks)
        # fixed sinusoidal positions are the same for every seed of a width; learned ones are a
        # parameter of each seed like the class token
        self.positions = None if isinstance(model.positions, nn.Parameter) else model.positions.detach()
        names = [name for name, _ in model.named_parameters()]
        linears = set(_linear_names(model))
        self.params, self.index = [], {}
        for name in names:
            module = name.rsplit(".", 1)[0]
            if module in linears and name.endswith(".weight"):
                spec = Param(name, prunable=True)
            elif module in linears:
                spec = Param(name, shape=(1, model.get_parameter(name).shape[0]))
            elif name == "class_token":
                spec = Param(name, shape=(1, self.dim))
            elif name == "positions":
                spec = Param(name, shape=tuple(model.positions.shape[1:]))
            else:  # LayerNorm weight and bias, broadcast over (S, rows, D)
                spec = Param(name, shape=(1, self.dim))
            self.index[name] = len(self.params)
            self.params.append(spec)

    def activation_floats(self, image_shape) -> int:
        tokens = self.grid * self.grid + 1
        return math.prod(image_shape) + 8 * tokens * self.dim

    def eager_activation_floats(self, image_shape) -> int:
        """One ``(tokens, D)`` activation: the eager ViT alone pays about 40 operator calls a
        chunk, so it runs fastest in chunks whose token tensors, not its whole working set,
        fill the budget (D = 4: 5,242 images a chunk, where its stack takes 439; D = 16: 1,310
        and 145)."""
        return (self.grid * self.grid + 1) * self.dim

    def forward(self, p, x, quant):
        if quant.scope == "full":
            return self._forward_full(p, x, quant)
        q_act, q_weight = quant.act, quant.weight
        s, b = x.shape[:2]
        g = self.grid
        patches = models.to_patches(x).view(s, b * g * g, -1)

        def linear(name, h):
            h = q_act(f"{name}.quant.activation_post_process", h)
            weight = q_weight(f"{name}.module.weight_fake_quant", p[self.index[f"{name}.weight"]])
            out = _linear(h, weight, p[self.index[f"{name}.bias"]], self.min_stack == 1, own_backward=False)
            return q_act(f"{name}.module.activation_post_process", out)

        def norm(name, h):  # h: (S, rows, D)
            return torch.addcmul(
                p[self.index[f"{name}.bias"]], F.layer_norm(h, (self.dim,)), p[self.index[f"{name}.weight"]]
            )

        tokens = linear("patch_embedding", patches).view(s, b, g * g, self.dim)
        cls = p[self.index["class_token"]].view(s, 1, 1, self.dim).expand(s, b, 1, self.dim)
        if self.positions is None:
            positions = p[self.index["positions"]].unsqueeze(1)  # (S, 1, tokens, D)
        else:
            positions = self.positions.to(x.device)
        tokens = torch.cat([cls, tokens], dim=2) + positions
        n = tokens.shape[2]
        h = tokens.reshape(s, b * n, self.dim)
        for i in range(self.blocks):
            block = f"blocks.{i}"
            y = norm(f"{block}.attention_norm", h)
            if quant.scope == "attention":  # the whole attention between one pair of stubs
                y = q_act(f"{block}.attention.quant.activation_post_process", y)
                h = h + self._int8_attention(p, f"{block}.attention.module", y, quant, (s, b, n))
                y = norm(f"{block}.mlp_norm", h)
                h = h + linear(f"{block}.mlp.2", F.gelu(linear(f"{block}.mlp.0", y)))
                continue
            query, key, value = (
                linear(f"{block}.attention.{part}", y).view(s * b, n, self.dim) for part in ("query", "key", "value")
            )
            attended = F.scaled_dot_product_attention(query, key, value).view(s, b * n, self.dim)
            h = h + linear(f"{block}.attention.out", attended)
            y = norm(f"{block}.mlp_norm", h)
            h = h + linear(f"{block}.mlp.2", F.gelu(linear(f"{block}.mlp.0", y)))
        first = h.view(s, b, n, self.dim)[:, :, 0]
        return linear("head", norm("norm", first))

    def _int8_linear(self, p, name, h, quant, points=None):
        """Linear layer ``name`` inside an int8 region: weight and output fake-quantized at
        the points of its module ``points`` (default: ``name``)."""
        points = points or name
        weight = quant.weight(f"{points}.weight_fake_quant", p[self.index[f"{name}.weight"]])
        out = _linear(h, weight, p[self.index[f"{name}.bias"]], self.min_stack == 1, own_backward=False)
        return quant.act(f"{points}.activation_post_process", out)

    def _int8_attention(self, p, prefix, y, quant, shape):
        """``quantize._Attention`` at ``prefix`` (names of its points) on int8 input ``y``
        ``(S, B * tokens, D)``: q k^T fake-quantized, times 1/sqrt(D); softmax on its fixed
        grid; probs v fake-quantized; the output projection. The parameters' names are the
        float ViT's (``prefix`` without a QuantWrapper's ``.module``)."""
        s, b, n = shape
        dim, params = self.dim, prefix.removesuffix(".module")

        def linear(part, h):
            return self._int8_linear(p, f"{params}.{part}", h, quant, f"{prefix}.{part}")

        query, key, value = (linear(part, y).view(s * b, n, dim) for part in ("query", "key", "value"))
        scores = torch.bmm(query, key.transpose(1, 2)).view(s, b, n, n)
        scores = quant.act(f"{prefix}.scores.activation_post_process", scores)
        probs = quant.act(f"{prefix}.softmax.activation_post_process", torch.softmax(scores * dim**-0.5, dim=-1))
        context = torch.bmm(probs.view(s * b, n, n), value).view(s, b * n, dim)
        return linear("out", quant.act(f"{prefix}.context.activation_post_process", context))

    def _forward_full(self, p, x, quant):
        """QAT of scope ``full`` (``quantize._FullViT``): every activation fake-quantized, at
        the eager model's points and by their names; the attention written out as there
        (q k^T, fake-quantized, times 1/sqrt(D); softmax on its fixed grid; probs v), GELU
        rounded onto the grid of the layer before it. Every fake-quantized tensor keeps the
        seed axis first: each seed has its own scale."""
        act, dim = quant.act, self.dim
        s, b = x.shape[:2]
        g = self.grid
        x = act("quant.activation_post_process", x)
        patches = models.to_patches(x).view(s, b * g * g, -1)

        def linear(name, h):
            return self._int8_linear(p, name, h, quant)

        def norm(name, h):
            y = torch.addcmul(p[self.index[f"{name}.bias"]], F.layer_norm(h, (dim,)), p[self.index[f"{name}.weight"]])
            return act(f"{name}.activation_post_process", y)

        tokens = linear("patch_embedding", patches).view(s, b, g * g, dim)
        cls = act("class_quant.activation_post_process", p[self.index["class_token"]].view(s, 1, 1, dim))
        n = g * g + 1
        if self.positions is None:
            positions = p[self.index["positions"]]  # (S, tokens, D)
        else:
            positions = self.positions.to(x.device).expand(s, n, dim)
        positions = act("positions_quant.activation_post_process", positions).unsqueeze(1)
        tokens = act("cat.activation_post_process", torch.cat([cls.expand(s, b, 1, dim), tokens], dim=2))
        h = act("add_positions.activation_post_process", tokens + positions).reshape(s, b * n, dim)
        for i in range(self.blocks):
            block = f"blocks.{i}"
            y = norm(f"{block}.attention_norm", h)
            attended = self._int8_attention(p, f"{block}.attention", y, quant, (s, b, n))
            h = act(f"{block}.attention_residual.activation_post_process", h + attended)
            y = norm(f"{block}.mlp_norm", h)
            hidden = quant.again(f"{block}.mlp.0.activation_post_process", F.gelu(linear(f"{block}.mlp.0", y)))
            h = act(f"{block}.mlp_residual.activation_post_process", h + linear(f"{block}.mlp.2", hidden))
        first = h.view(s, b, n, dim)[:, :, 0]
        return linear("head", norm("norm", first))
