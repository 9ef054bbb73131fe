"""Shared fixtures for the unit tests: small synthetic data only, never the real datasets."""

from __future__ import annotations

import pytest
import torch

from minarch.data import MIRROR_ENV, Splits

# Two cores shared with other jobs: keep every test on one torch thread.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _no_mirror_env(monkeypatch):
    """No test may see a data mirror configured in the developer's shell."""
    monkeypatch.delenv(MIRROR_ENV, raising=False)


def make_splits(
    n_train: int = 300,
    n_val: int = 100,
    n_test: int = 200,
    seed: int = 0,
    random_labels: bool = False,
    noise: float = 1.0,
) -> Splits:
    """Normalised-looking 1x28x28 images: one random prototype per class plus noise (learnable),
    or, with ``random_labels``, the same images with labels unrelated to them (only memorisable)."""
    generator = torch.Generator().manual_seed(seed)
    prototypes = torch.randn(10, 1, 28, 28, generator=generator)

    def part(n):
        y = torch.randint(0, 10, (n,), generator=generator)
        x = prototypes[y] + noise * torch.randn(n, 1, 28, 28, generator=generator)
        if random_labels:
            y = torch.randint(0, 10, (n,), generator=generator)
        return x, y

    return Splits(*part(n_train), *part(n_val), *part(n_test))


@pytest.fixture
def splits() -> Splits:
    return make_splits()


@pytest.fixture(scope="session")  # module-scoped fixtures use it too
def splits_factory():
    """``make_splits`` as a fixture, so test modules need not import conftest."""
    return make_splits
