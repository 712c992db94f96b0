"""Issue 29, item 31: the row-wise FP8 probe checks the product's numbers, not only that the call ran.
A CUDA ``_scaled_mm`` is mocked on the CPU; the probe's own tensors, scales and check are the real code."""

from __future__ import annotations

import pytest
import torch

from backends.local.loader import rowwise_fp8_probe


@pytest.fixture
def cpu_cuda(monkeypatch):
    """``device="cuda"`` tensors made on the CPU, so the probe's own code runs as written."""
    ones = torch.ones
    monkeypatch.setattr(torch, "ones", lambda *size, device=None, **kw: ones(*size, **kw))


def scaled_mm(wrong_by: float = 0.0):
    """A row-wise ``_scaled_mm``: (a·scale_a) @ (b·scale_b) in ``out_dtype``, off by ``wrong_by`` if asked
    (as a kernel that runs but computes garbage, e.g. a torch build with a broken sm_120 path)."""

    def mm(a, b, *, scale_a, scale_b, out_dtype):
        assert scale_a.shape == (a.shape[0], 1) and scale_b.shape == (1, b.shape[1])  # row-wise, not per tensor
        return ((a.float() * scale_a) @ (b.float() * scale_b) + wrong_by).to(out_dtype)

    return mm


def test_a_kernel_that_computes_the_product_passes_the_probe(cpu_cuda, monkeypatch):
    monkeypatch.setattr(torch, "_scaled_mm", scaled_mm())
    assert rowwise_fp8_probe() is True


@pytest.mark.parametrize("wrong_by", [1.0, -32.0])
def test_a_kernel_that_runs_but_computes_wrong_numbers_fails_the_probe(cpu_cuda, monkeypatch, wrong_by):
    monkeypatch.setattr(torch, "_scaled_mm", scaled_mm(wrong_by))
    assert rowwise_fp8_probe() is False


def test_a_kernel_that_refuses_fails_the_probe(cpu_cuda, monkeypatch):
    def refuse(*a, **kw):
        raise RuntimeError("Only tensor-wise scaling is supported on this device\nmore")

    monkeypatch.setattr(torch, "_scaled_mm", refuse)
    assert rowwise_fp8_probe() is False
