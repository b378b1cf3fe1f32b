"""LoRA for the LLM (peft's ``LoraConfig``; LLaVA's ``--lora_enable``: r 128, alpha 256
on every LLM linear; MiniGPT-v2: r 64, alpha 16 on q_proj and v_proj).

``apply_lora`` swaps each target ``nnx.Linear`` of the LLM for a ``LoRALinear`` that
holds the *same* kernel Variable, so the frozen weights keep their paths (and
checkpoint groups) and only ``lora_a`` / ``lora_b`` are new; trainable patterns such
as ``'.*lora_.*'`` pick those by name. ``lora_b`` starts at zero, so the adapted
model starts equal to the base one.

Dropout (peft's ``lora_dropout``; MiniGPT-v2 trains with 0.05) is applied to the
adapter's input only, ``B(A(dropout(x)))``, the base path never (huggingface/peft
v0.2.0 ``tuners/lora.py``, ``Linear.forward``). It is off unless a training step
switches it on, with ``with_dropout``, on the model it merges for its loss, so
chat, serving and evaluation never draw a mask. Each row of the batch has its own
key, folded with the adapter's index: the masks do not depend on how the batch is
split into micro-batches or over devices.
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
    # Set by ``with_dropout`` in a training step only (eval mode otherwise).
    self.dropout_rate = 0.0
    self.dropout_keys = nnx.data(None)

  def __call__(self, x: jax.Array) -> jax.Array:
    dtype = self.dtype or x.dtype
    x = x.astype(dtype)
    y = x @ self.kernel[...].astype(dtype)
    if self.bias is not None:
      y = y + self.bias[...].astype(dtype)
    lora_in = x.astype(jnp.float32)
    if self.dropout_keys is not None:
      lora_in = lora_in * dropout_scale(self.dropout_keys[...], self.dropout_rate,
                                        lora_in.shape[1:])
    delta = (lora_in @ self.lora_a[...]) @ self.lora_b[...]
    return y + (self.scale * delta).astype(dtype)


class DropoutKeys(nnx.Variable):
  """One PRNG key per batch row for an adapter's dropout: set on the model a training
  step merges for its loss, never part of the parameters or of a checkpoint."""


def dropout_scale(row_keys: jax.Array, rate: float, row_shape: tuple[int, ...]) -> jax.Array:
  """Inverted dropout as a factor: float32[B, *row_shape], 1 / (1 - rate) where kept
  (probability 1 - rate) and 0 where dropped, as torch's ``nn.Dropout`` in training;
  row b's from ``row_keys[b]``."""
  keep = jax.vmap(lambda key: jax.random.bernoulli(key, 1.0 - rate, row_shape))(row_keys)
  return keep.astype(jnp.float32) / (1.0 - rate)


def lora_layers(model: nnx.Module) -> list[LoRALinear]:
  """The adapted linears of ``model``, in a fixed (graph) order."""
  return [node for _, node in nnx.iter_graph(model) if isinstance(node, LoRALinear)]


def with_dropout(model: nnx.Module, rate: float, row_keys: jax.Array) -> None:
  """Switches dropout on in every adapter of ``model`` (in place) for one forward:
  adapter i's row b draws from ``fold_in(row_keys[b], i)``, so q_proj and v_proj of a
  block get different masks, as peft's separate ``nn.Dropout`` modules do.

  Adapters of scanned blocks (``models/scanned_layers.py``; lora_a float32[L, in, r])
  hold one key per layer, [L, B]: block l's adapter j (of n per block) gets index
  l * n + j, the index it has in the per-layer model, so both draw the same masks."""
  if not 0.0 <= rate < 1.0:
    raise ValueError(f'LoRA dropout rate {rate} is not in [0, 1)')
  adapters = lora_layers(model)

  def keys(index):
    return jax.vmap(jax.random.fold_in, (0, None))(row_keys, index)

  for j, layer in enumerate(adapters):
    layer.dropout_rate = rate
    if layer.lora_a.ndim == 2:
      layer.dropout_keys = DropoutKeys(keys(j))
    else:
      depth = layer.lora_a.shape[0]
      layer.dropout_keys = DropoutKeys(jnp.stack([keys(l * len(adapters) + j)
                                                  for l in range(depth)]))


def apply_lora(llm: nnx.Module, cfg: LoraConfig, *, rngs: nnx.Rngs) -> None:
  """Adds adapters in place to every ``cfg.targets`` linear of ``llm``'s blocks (per
  layer: before ``Llama.scan_layers``, which stacks them with the blocks)."""
  if llm.scanned:
    raise ValueError('LoRA adapters go on the per-layer blocks, before model.scan_layers')
  for block in llm.layers:
    for parent in (block.attn, block.mlp):
      for name in cfg.targets:
        base = getattr(parent, name, None)
        if isinstance(base, nnx.Linear):
          setattr(parent, name, LoRALinear(base, cfg.rank, cfg.alpha, rngs=rngs))
