"""Building blocks shared by the towers: annotated parameters, attention, norms.

Einsum letters used across the model files:
  B batch, T query length, S key length, N query heads, K key/value heads,
  H head dim, D model dim, F feed-forward dim, V vocabulary.

Every parameter carries logical axis names (``embed``, ``mlp``, ``heads``, ``kv``,
``vocab``, ...) as ``out_sharding`` metadata; ``minigpt4_jax.sharding`` maps them onto
the device mesh. Eager sharding is off so modules can be built without a mesh (tests,
``nnx.eval_shape``) and placed later by ``jax.jit(out_shardings=...)``.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from minigpt4_jax.models import attention_kernels

Dtype = jnp.dtype | type
LogicalAxes = tuple[str | None, ...]

# Shared random initialisers: towers are normally loaded from checkpoints, so
# these only matter for the tiny random demo model and the projector.
DEFAULT_KERNEL_INIT = nnx.initializers.normal(stddev=0.02)


def annotated(init: Callable, axes: LogicalAxes) -> Callable:
  """Wraps an initializer so the parameter carries logical axis names."""
  return nnx.with_partitioning(init, axes, eager_sharding=False)


def linear(
    in_features: int,
    out_features: int,
    axes: LogicalAxes,
    *,
    use_bias: bool = True,
    dtype: Dtype = jnp.float32,
    param_dtype: Dtype = jnp.float32,
    rngs: nnx.Rngs,
) -> nnx.Linear:
  """A Linear whose kernel float[in, out] (torch weight transposed) has logical axes."""
  return nnx.Linear(
      in_features,
      out_features,
      use_bias=use_bias,
      dtype=dtype,
      param_dtype=param_dtype,
      kernel_init=annotated(DEFAULT_KERNEL_INIT, axes),
      bias_init=annotated(nnx.initializers.zeros_init(), axes[-1:]),
      rngs=rngs,
  )


def layer_norm(
    features: int,
    eps: float,
    *,
    axis_name: str = 'norm',
    dtype: Dtype = jnp.float32,
    param_dtype: Dtype = jnp.float32,
    rngs: nnx.Rngs,
) -> nnx.LayerNorm:
  """LayerNorm with PyTorch semantics (biased variance, eps inside the sqrt)."""
  return nnx.LayerNorm(
      features,
      epsilon=eps,
      dtype=dtype,
      param_dtype=param_dtype,
      scale_init=annotated(nnx.initializers.ones_init(), (axis_name,)),
      bias_init=annotated(nnx.initializers.zeros_init(), (axis_name,)),
      rngs=rngs,
  )


def gelu_exact(x: jax.Array) -> jax.Array:
  """erf GELU: EVA-CLIP and BERT use torch's nn.GELU(), not the tanh form JAX defaults to."""
  return jax.nn.gelu(x, approximate=False)


def attention(
    q_btnh: jax.Array,
    k_bskh: jax.Array,
    v_bskh: jax.Array,
    *,
    mask_bts: jax.Array | None = None,
    scale: float | None = None,
    implementation: str = 'auto',
    causal_valid_bt: jax.Array | None = None,
) -> jax.Array:
  """Softmax attention; K may divide N (grouped-query attention).

  Args:
    q_btnh: float[B, T, N, H] queries.
    k_bskh: float[B, S, K, H] keys.
    v_bskh: float[B, S, K, H] values.
    mask_bts: bool[B, T, S], True where a query may attend to a key; None = all.
    scale: logit scale; defaults to H**-0.5.
    implementation: 'auto' (by backend, dtype and shapes), 'xla', 'cudnn' or
      'splash'; see ``attention_kernels``.
    causal_valid_bt: bool[B, T] where ``mask_bts`` is causal self-attention with these
      keys valid (lets the splash kernel run); None otherwise.

  Returns:
    float[B, T, N, H].
  """
  return attention_kernels.attention(q_btnh, k_bskh, v_bskh, mask_bts=mask_bts, scale=scale,
                                     requested=implementation, causal_valid_bt=causal_valid_bt)


def split_heads(x_btd: jax.Array, num_heads: int) -> jax.Array:
  """float[B, T, N*H] -> float[B, T, N, H] (heads contiguous, as in PyTorch)."""
  b, t, d = x_btd.shape
  return x_btd.reshape(b, t, num_heads, d // num_heads)


def merge_heads(x_btnh: jax.Array) -> jax.Array:
  """float[B, T, N, H] -> float[B, T, N*H]."""
  b, t, n, h = x_btnh.shape
  return x_btnh.reshape(b, t, n * h)
