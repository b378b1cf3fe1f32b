"""Where a benchmark runs: the accelerator, the dtypes both frameworks use, the machine."""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform

import jax
import jax.numpy as jnp
import torch


@dataclasses.dataclass(frozen=True)
class Runtime:
  """Compute dtypes and devices, the same for both frameworks.

  On a CPU everything is f32: XLA and PyTorch's CPU kernels are fastest there, and
  PyTorch's bf16 CPU matmuls are ~100x slower (measured on these 2-vCPU machines). On a GPU the frozen towers
  run in bf16 as the converted checkpoints are stored; the projector stays f32.
  """

  on_gpu: bool
  jax_dtype: jnp.dtype
  torch_dtype: torch.dtype
  torch_device: str

  def torch_sync(self) -> None:
    """Waits for queued CUDA kernels, so a step's time is its own (no-op on CPU)."""
    if self.on_gpu:
      torch.cuda.synchronize()


def detect() -> Runtime:
  if jax.default_backend() == 'gpu' and torch.cuda.is_available():
    return Runtime(True, jnp.dtype(jnp.bfloat16), torch.bfloat16, 'cuda')
  return Runtime(False, jnp.dtype(jnp.float32), torch.float32, 'cpu')


def cpu_model() -> str:
  """The ``model name`` line of /proc/cpuinfo (or what ``platform`` says elsewhere)."""
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          return line.split(':', 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or 'unknown'


def machine() -> dict[str, str | int]:
  """What a figure needs next to it: hardware, software, date and XLA flags."""
  device = jax.devices()[0]
  return {
      'date': datetime.date.today().isoformat(),
      'cpu': cpu_model(),
      'cores': os.cpu_count() or 0,
      'accelerator': device.device_kind if device.platform != 'cpu' else 'none',
      'jax': jax.__version__,
      'torch': torch.__version__,
      'torch_threads': torch.get_num_threads(),
      'xla_flags': os.environ.get('XLA_FLAGS', ''),
  }
