"""Helpers for the mmfuse.nn block tests: seeded inputs and a gradient check."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
from torch import nn


def assert_grads(module: nn.Module, loss: torch.Tensor, nonzero: bool = True, skip: tuple[str, ...] = ()) -> None:
    """Back-propagate ``loss`` and check every trainable parameter got a finite gradient.

    Args:
        module: the block under test.
        loss: scalar computed from the block's output.
        nonzero: also require that each gradient is not identically zero.
        skip: parameter names that may legitimately stay without gradient.
    """
    assert torch.isfinite(loss).all(), "loss is not finite"
    loss.backward()
    for name, p in module.named_parameters():
        if not p.requires_grad or name in skip:
            continue
        assert p.grad is not None, f"{name}: no gradient"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient"
        if nonzero:
            assert p.grad.abs().sum() > 0, f"{name}: zero gradient"


@pytest.fixture
def grads() -> Callable[..., None]:
    return assert_grads


@pytest.fixture(autouse=True)
def _seed_and_one_thread() -> Iterator[None]:
    """Seed torch and run each test on one intra-op thread.

    Tiny tensors gain nothing from threads, and on a shared 2-core machine two spinning
    threads make every op hundreds of times slower; the previous count is restored.
    """
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
