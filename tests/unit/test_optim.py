"""optim.py: minarch's Adam is torch.optim.Adam's arithmetic without torch.optim."""

from __future__ import annotations

import torch

from minarch import models, optim, train
from minarch.settings import TrainSettings


def test_lean_adam_is_bit_identical_to_torch_adam():
    torch.manual_seed(0)
    start = [torch.randn(4, 5), torch.randn(5), torch.randn(5)]
    ours = [p.clone().requires_grad_(True) for p in start]
    theirs = [p.clone().requires_grad_(True) for p in start]
    lean, reference = optim.Adam(ours, lr=0.01), torch.optim.Adam(theirs, lr=0.01)
    x = torch.randn(8, 4)
    for step in range(6):
        for params, opt in ((ours, lean), (theirs, reference)):
            opt.zero_grad()
            out = x @ params[0] + params[1]
            if step % 2:  # the third parameter gets a gradient every other step only
                out = out * params[2]
            (out**2).mean().backward()
            opt.step()
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)
    assert lean.steps == [6, 6, 3]


def test_fused_lean_adam_is_torch_fused_adam_without_torch_optim():
    torch.manual_seed(1)
    start = [torch.randn(6, 3), torch.randn(3)]
    ours = [p.clone().requires_grad_(True) for p in start]
    theirs = [p.clone().requires_grad_(True) for p in start]
    single = [p.clone().requires_grad_(True) for p in start]
    optimizers = [
        (ours, optim.Adam(ours, lr=0.01, fused=True)),
        (theirs, torch.optim.Adam(theirs, lr=0.01, fused=True)),
        (single, optim.Adam(single, lr=0.01)),
    ]
    x = torch.randn(10, 6)
    for _ in range(20):
        for params, opt in optimizers:
            opt.zero_grad()
            ((x @ params[0] + params[1]).tanh() ** 2).mean().backward()
            opt.step()
    for a, b, c in zip(ours, theirs, single):
        assert torch.equal(a, b)
        torch.testing.assert_close(a, c, atol=1e-6, rtol=1e-5)  # fused vs single-tensor: rounding only


def test_fit_with_lean_adam_trains_exactly_as_torch_optim_adam(splits):
    settings = TrainSettings(batch_size=50, max_epochs=2)
    runs = {}
    for name in ("lean", "torch", "fused"):
        model = models.seeded(3, "dnn", "L2e", 6, (1, 28, 28))
        runs[name] = (model, train.fit(model, splits, settings, seed=3, optimizer=name))
    initial = models.seeded(3, "dnn", "L2e", 6, (1, 28, 28))
    for a, b, c, start in zip(
        *(runs[name][0].parameters() for name in ("lean", "torch", "fused")), initial.parameters()
    ):
        assert not torch.equal(a, start)  # it trained
        assert torch.equal(a, b)
        torch.testing.assert_close(c, a, atol=1e-5, rtol=1e-4)  # fused: rounding only
    assert [r["val_loss"] for r in runs["lean"][1].history] == [r["val_loss"] for r in runs["torch"][1].history]
