"""MiniGPT-4's learning-rate schedule (LAVIS ``LinearWarmupCosineLRScheduler``)."""

from __future__ import annotations

import jax.numpy as jnp
import optax


def warmup_cosine(init_lr: float, min_lr: float, warmup_lr: float, warmup_steps: int,
                  total_steps: int) -> optax.Schedule:
  """Linear warmup from ``warmup_lr``, then cosine from ``init_lr`` to ``min_lr``.

  LAVIS warms up on the step within epoch 0 and switches to the cosine of the
  *global* step afterwards, so at ``warmup_steps`` the rate drops from ``init_lr``
  to the cosine's value there (9.71e-5 in stage 1), as it did in the paper's run.
  """

  def schedule(step):
    step = jnp.asarray(step, jnp.float32)
    warm = jnp.minimum(init_lr, warmup_lr + (init_lr - warmup_lr) * step / max(warmup_steps, 1))
    cosine = min_lr + (init_lr - min_lr) * 0.5 * (1.0 + jnp.cos(jnp.pi * step / total_steps))
    return jnp.where(step < warmup_steps, warm, cosine)

  return schedule
