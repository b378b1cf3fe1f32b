"""The device's peak matmul rate, measured: the denominator of MFU on a CPU.

A CPU's datasheet peak (cores x clock x FMA width) is not what a VM's vCPUs deliver
under its turbo and sharing, so MFU is taken against the best rate a large square
GEMM reaches in the same run, in the benchmark's dtype, with either framework. The
GEMMs are timed among the train steps (``train_bench``), so the best of them sees
the same machine the steps saw.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import torch

from minigpt4_jax.tools.bench.runtime import Runtime


def gemm_calls(runtime: Runtime) -> tuple[int, dict[str, Callable[[], object]]]:
  """(FLOPs of one call, {framework: one n x n x n matmul that waits for its result}).

  n is 2048 on a CPU (large enough to leave the memory-bound regime, ~0.1 s) and
  8192 on a GPU.
  """
  n = 8192 if runtime.on_gpu else 2048
  a = jnp.ones((n, n), runtime.jax_dtype)
  dot = jax.jit(jnp.dot)
  ta = torch.ones((n, n), dtype=runtime.torch_dtype, device=runtime.torch_device)

  def torch_mm():
    torch.mm(ta, ta)
    runtime.torch_sync()

  return 2 * n ** 3, {'jax': lambda: dot(a, a).block_until_ready(), 'pytorch': torch_mm}
