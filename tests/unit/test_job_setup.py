"""workflow.setup_torch: every job's torch threads and subnormal-float handling."""

from __future__ import annotations

import torch

from minarch.workflow import setup_torch


def test_setup_torch_sets_threads_and_flushes_subnormals():
    threads = torch.get_num_threads()
    tiny = torch.tensor([1e-39, 3e-39])  # subnormal in float32 (< 1.18e-38)
    assert (tiny * 1.0 != 0).all(), "precondition: subnormals survive by default"
    try:
        setup_torch(1)
        assert torch.get_num_threads() == 1
        assert torch.equal(tiny * 1.0, torch.zeros(2))
        assert torch.equal(torch.tensor([2e-38]) * 1.0, torch.tensor([2e-38]))  # normal floats are untouched
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(threads)
