"""The device's peak matmul rate, measured: the denominator of MFU on a CPU.

A CPU's datasheet peak (cores x clock x FMA width) is not what a VM's vCPUs deliver
under its turbo and SMT limits, so MFU is taken against the best rate a large square
GEMM reaches in the same run, in the benchmark's dtype, with either framework.
"""

from __future__ import annotations

import time
from typing import Callable

import jax
import jax.numpy as jnp
import torch

from minigpt4_jax.bench.runtime import Runtime


def _best_rate(matmul: Callable[[], object], n: int, reps: int) -> float:
  """FLOP/s of the fastest of ``reps`` calls of an n x n x n matmul (after one warm-up)."""
  matmul()
  best = float('inf')
  for _ in range(reps):
    start = time.perf_counter()
    matmul()
    best = min(best, time.perf_counter() - start)
  return 2 * n ** 3 / best


def gemm_rates(runtime: Runtime, reps: int = 10) -> dict[str, float]:
  """FLOP/s of ``jnp.dot`` and ``torch.mm`` on n x n operands (2048 on a CPU, 8192
  on a GPU: large enough to leave the memory-bound regime)."""
  n = 8192 if runtime.on_gpu else 2048
  a = jnp.ones((n, n), runtime.jax_dtype)
  dot = jax.jit(jnp.dot)
  ta = torch.ones((n, n), dtype=runtime.torch_dtype, device=runtime.torch_device)

  def torch_mm():
    torch.mm(ta, ta)
    runtime.torch_sync()

  return {
      'jax': _best_rate(lambda: dot(a, a).block_until_ready(), n, reps),
      'pytorch': _best_rate(torch_mm, n, reps),
  }
