"""LoRA for the LLM (peft's ``LoraConfig``; LLaVA's ``--lora_enable``: r 128, alpha 256
on every LLM linear; MiniGPT-v2: r 64, alpha 16 on q_proj and v_proj).

``apply_lora`` swaps each target ``nnx.Linear`` of the LLM for a ``LoRALinear`` that
holds the *same* kernel Variable, so the frozen weights keep their paths (and
checkpoint groups) and only ``lora_a`` / ``lora_b`` are new; trainable patterns such
as ``'.*lora_.*'`` pick those by name. ``lora_b`` starts at zero, so the adapted
model starts equal to the base one.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from minigpt4_jax.models import layers
from minigpt4_jax.models.configs import LoraConfig


class LoRALinear(nnx.Module):
  """y = x W (+ b) + (alpha / r) * x A B; A float32[in, r], B float32[r, out]."""

  def __init__(self, base: nnx.Linear, rank: int, alpha: float, *, rngs: nnx.Rngs):
    self.kernel = base.kernel  # shared with the base layer: not copied, stays frozen
    self.bias = base.bias
    self.dtype = base.dtype
    self.scale = alpha / rank
    in_features, out_features = base.kernel.shape
    # PEFT's init: A random (Kaiming-uniform, a = sqrt(5)), B zero. The adapters are
    # small and trainable, so they stay float32 like the projector.
    bound = (1.0 / in_features) ** 0.5

    def kaiming_uniform(key, shape, dtype):
      return jax.random.uniform(key, shape, dtype, -bound, bound)

    # Replicated: rank-sized adapters are too small to be worth sharding.
    init_a = layers.annotated(kaiming_uniform, (None, None))
    self.lora_a = nnx.Param(init_a(rngs.params(), (in_features, rank), jnp.float32))
    init_b = layers.annotated(nnx.initializers.zeros_init(), (None, None))
    self.lora_b = nnx.Param(init_b(rngs.params(), (rank, out_features), jnp.float32))

  def __call__(self, x: jax.Array) -> jax.Array:
    dtype = self.dtype or x.dtype
    x = x.astype(dtype)
    y = x @ self.kernel[...].astype(dtype)
    if self.bias is not None:
      y = y + self.bias[...].astype(dtype)
    delta = (x.astype(jnp.float32) @ self.lora_a[...]) @ self.lora_b[...]
    return y + (self.scale * delta).astype(dtype)


def apply_lora(llm: nnx.Module, cfg: LoraConfig, *, rngs: nnx.Rngs) -> None:
  """Adds adapters in place to every ``cfg.targets`` linear of ``llm``'s blocks."""
  for block in llm.layers:
    for parent in (block.attn, block.mlp):
      for name in cfg.targets:
        base = getattr(parent, name, None)
        if isinstance(base, nnx.Linear):
          setattr(parent, name, LoRALinear(base, cfg.rank, cfg.alpha, rngs=rngs))
