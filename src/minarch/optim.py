"""Adam for minarch's training loops, without ``torch.optim``'s per-step overhead.

``torch.optim.Adam`` costs twice over here: every ``step()`` goes through Python wrappers
(measurable for the paper's tiny networks, whose steps take microseconds), and its first step
imports ``torch._dynamo`` (~2 s of CPU in every job). ``Adam`` below runs the same arithmetic
directly (``benchmarks/reports/profile_train.md``):

- ``fused=True`` (what ``train.fit`` and the ensemble use): the kernel behind
  ``torch.optim.Adam(fused=True)``, one pass over each tensor. At width 1000 Adam's
  element-wise passes over 4 state tensors are memory-bound and cost as much as the matrix
  products; the fused kernel reads and writes each tensor once. It differs from
  ``torch.optim.Adam``'s default (single-tensor) arithmetic by float rounding only (~1e-7).
- ``fused=False``: that single-tensor arithmetic op for op, bit-identical to
  ``torch.optim.Adam()`` on the CPU (tests compare both).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class Adam:
    """Adam with ``torch.optim.Adam``'s defaults, without its per-step Python overhead and the
    ``torch._dynamo`` import of its first step. ``fused=False``: its single-tensor arithmetic
    (what ``torch.optim.Adam`` runs on CPU tensors), op for op, so the same results to the
    bit (a parameter's step count advances only when it has a gradient, as there).
    ``fused=True``: the kernel of ``torch.optim.Adam(fused=True)`` (same results as that to the
    bit; differs from the single-tensor path by float rounding, ~1e-7), one pass per tensor.
    ``keep(index)`` keeps only the given rows (seeds) of every parameter and its state, for a
    stack whose stopped seeds leave it.

    ``rows=True`` (stacked parameters, seed axis first): the fused kernel runs on each seed's
    row as a tensor of its own. The kernel treats a tensor's vectorised body and its scalar
    tail differently, so on whole stacked tensors a seed's arithmetic would depend on where
    its row falls, that is on how many seeds share the stack; per row it never does. Gradients
    then stay allocated between steps (``zero_grad`` zeroes them), so the row views are made
    once."""

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        fused: bool = False,
        rows: bool = False,
    ):
        self.params = list(params)
        self.lr, (self.beta1, self.beta2), self.eps, self.fused, self.rows = lr, betas, eps, fused, rows
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        # float32 step counts, as torch keeps them (exact up to 2**24 steps)
        self.state_steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params]
        self._row_views = None

    @property
    def steps(self) -> list[int]:
        return [int(step) for step in self.state_steps]

    @property
    def _by_row(self) -> bool:
        # one seed: its row is the whole tensor, so the whole-tensor kernel is the same
        # computation, without persistent gradients (zeroed, then accumulated into: 2 passes)
        return self.rows and any(p.shape[0] > 1 for p in self.params)

    def zero_grad(self, set_to_none: bool = True) -> None:
        by_row = self._by_row
        for p in self.params:
            if by_row and p.grad is not None:
                p.grad.zero_()
            else:
                p.grad = None

    def _views(self):
        """Per seed row of every parameter: (param, grad, exp_avg, exp_avg_sq, step) views."""
        key = [p.grad.data_ptr() for p in self.params]
        if self._row_views is None or self._row_views[0] != key:
            lists = ([], [], [], [], [])
            for i, p in enumerate(self.params):
                for row in range(p.shape[0]):
                    for target, tensor in zip(lists, (p, p.grad, self.exp_avg[i], self.exp_avg_sq[i])):
                        target.append(tensor[row])
                    lists[4].append(self.state_steps[i])
            self._row_views = (key, lists)
        return self._row_views[1]

    @torch.no_grad()
    def step(self) -> None:
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if self.fused and self._by_row and len(live) == len(self.params):
            torch._foreach_add_(self.state_steps, 1)
            self._fused_step(*self._views())
            return
        if self.fused:
            steps = [self.state_steps[i] for i in live]
            torch._foreach_add_(steps, 1)
            self._fused_step(
                [self.params[i] for i in live],
                [self.params[i].grad for i in live],
                [self.exp_avg[i] for i in live],
                [self.exp_avg_sq[i] for i in live],
                steps,
            )
            return
        for i in live:
            p, exp_avg, exp_avg_sq, grad = self.params[i], self.exp_avg[i], self.exp_avg_sq[i], self.params[i].grad
            self.state_steps[i] += 1
            step = self.state_steps[i].item()
            bias_correction2_sqrt = (1 - self.beta2**step) ** 0.5
            step_size = self.lr / (1 - self.beta1**step)
            exp_avg.lerp_(grad, 1 - self.beta1)
            exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
            p.addcdiv_(exp_avg, denom, value=-step_size)

    def _fused_step(self, params, grads, exp_avgs, exp_avg_sqs, steps) -> None:
        """``torch.optim.Adam(fused=True)``'s kernel on these tensors (steps already advanced)."""
        torch._fused_adam_(
            params,
            grads,
            exp_avgs,
            exp_avg_sqs,
            [],
            steps,
            amsgrad=False,
            lr=self.lr,
            beta1=self.beta1,
            beta2=self.beta2,
            weight_decay=0.0,
            eps=self.eps,
            maximize=False,
            grad_scale=None,
            found_inf=None,
        )

    def keep(self, index: torch.Tensor) -> list[torch.Tensor]:
        """Keep rows ``index`` (dim 0) of every parameter and state; returns the new parameters."""
        self.params = [p.detach()[index].clone().requires_grad_(True) for p in self.params]
        self.exp_avg = [m[index].clone() for m in self.exp_avg]
        self.exp_avg_sq = [v[index].clone() for v in self.exp_avg_sq]
        self._row_views = None
        return self.params


class FusedAdam(Adam):
    def __init__(self, params: Sequence[torch.Tensor], lr: float = 1e-3, rows: bool = False):
        super().__init__(params, lr=lr, fused=True, rows=rows)


class LeanAdam(Adam):
    def __init__(self, params: Sequence[torch.Tensor], lr: float = 1e-3, rows: bool = False):
        super().__init__(params, lr=lr, fused=False)  # element-wise ops: no position dependence


class TorchAdam:
    """``torch.optim.Adam`` behind the same small interface (``keep`` carries its state over)."""

    def __init__(self, params: Sequence[torch.Tensor], lr: float = 1e-3, rows: bool = False):
        self.lr = lr
        self.optimizer = torch.optim.Adam(list(params), lr=lr)

    @property
    def params(self) -> list[torch.Tensor]:
        return self.optimizer.param_groups[0]["params"]

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def step(self) -> None:
        self.optimizer.step()

    def keep(self, index: torch.Tensor) -> list[torch.Tensor]:
        old = self.params
        new = [p.detach()[index].clone().requires_grad_(True) for p in old]
        optimizer = torch.optim.Adam(new, lr=self.lr)
        for p_old, p_new in zip(old, new):
            state = self.optimizer.state.get(p_old)
            if state:
                optimizer.state[p_new] = {
                    "step": state["step"].clone(),
                    "exp_avg": state["exp_avg"][index].clone(),
                    "exp_avg_sq": state["exp_avg_sq"][index].clone(),
                }
        self.optimizer = optimizer
        return new


OPTIMIZERS = {"lean": LeanAdam, "fused": FusedAdam, "torch": TorchAdam}
