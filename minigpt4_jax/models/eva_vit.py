"""EVA-CLIP ViT-g/14 (LAVIS ``eva_vit.py``), the frozen image encoder.

Pre-LN blocks, exact GELU, one fused qkv projection with q and v biases but no k
bias, CLS token + learned absolute positions, and no final norm: MiniGPT-4 reads
all tokens of the last built block and normalises them with its own ``ln_vision``.
Letters as in ``layers.py``; P = patches + CLS.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from minigpt4_jax.models import layers
from minigpt4_jax.models.configs import EvaVitConfig
from minigpt4_jax.models.scanned_layers import Scannable


class EvaAttention(nnx.Module):
  """Bidirectional self-attention with a fused, k-bias-free qkv projection."""

  def __init__(self, cfg: EvaVitConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
    d = cfg.width
    self.num_heads = cfg.num_heads
    self.attention_impl = 'auto'  # attention_kernels.set_implementation forces one
    self.qkv = layers.linear(d, 3 * d, ('embed', 'qkv'), use_bias=False, dtype=dtype,
                             param_dtype=param_dtype, rngs=rngs)
    zeros = layers.annotated(nnx.initializers.zeros_init(), ('heads_merged',))
    self.q_bias = nnx.Param(zeros(rngs.params(), (d,), param_dtype))
    self.v_bias = nnx.Param(zeros(rngs.params(), (d,), param_dtype))
    self.proj = layers.linear(d, d, ('heads_merged', 'embed'), dtype=dtype,
                              param_dtype=param_dtype, rngs=rngs)

  def __call__(self, x_bpd: jax.Array) -> jax.Array:
    qkv_bpe = self.qkv(x_bpd)
    # EVA has no k bias: the effective bias is cat(q_bias, 0, v_bias).
    bias = jnp.concatenate(
        [self.q_bias[...], jnp.zeros_like(self.q_bias[...]), self.v_bias[...]]
    ).astype(qkv_bpe.dtype)
    q_bpd, k_bpd, v_bpd = jnp.split(qkv_bpe + bias, 3, axis=-1)
    ctx_bpnh = layers.attention(
        layers.split_heads(q_bpd, self.num_heads),
        layers.split_heads(k_bpd, self.num_heads),
        layers.split_heads(v_bpd, self.num_heads),
        implementation=self.attention_impl,
    )
    return self.proj(layers.merge_heads(ctx_bpnh))


class EvaMlp(nnx.Module):

  def __init__(self, cfg: EvaVitConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
    self.fc1 = layers.linear(cfg.width, cfg.mlp_dim, ('embed', 'mlp'), dtype=dtype,
                             param_dtype=param_dtype, rngs=rngs)
    self.fc2 = layers.linear(cfg.mlp_dim, cfg.width, ('mlp', 'embed'), dtype=dtype,
                             param_dtype=param_dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.fc2(layers.gelu_exact(self.fc1(x)))


class EvaBlock(nnx.Module):
  """x + attn(norm1(x)); x + mlp(norm2(x)). No layer scale (init_values=None)."""

  def __init__(self, cfg: EvaVitConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.norm1 = layers.layer_norm(cfg.width, cfg.layer_norm_eps, **kw)
    self.attn = EvaAttention(cfg, **kw)
    self.norm2 = layers.layer_norm(cfg.width, cfg.layer_norm_eps, **kw)
    self.mlp = EvaMlp(cfg, **kw)

  def __call__(self, x_bpd: jax.Array) -> jax.Array:
    x_bpd = x_bpd + self.attn(self.norm1(x_bpd))
    return x_bpd + self.mlp(self.norm2(x_bpd))


class EvaViT(Scannable, nnx.Module):
  """Image float[B, S, S, 3] (CLIP-normalised, NHWC) -> tokens float[B, 1 + (S/14)^2, D]."""

  def __init__(self, cfg: EvaVitConfig, *, dtype=jnp.float32, param_dtype=jnp.float32,
               rngs: nnx.Rngs):
    self.cfg = cfg
    d = cfg.width
    self.patch_embed = nnx.Conv(
        3, d, kernel_size=(cfg.patch_size, cfg.patch_size),
        strides=(cfg.patch_size, cfg.patch_size), padding='VALID',
        dtype=dtype, param_dtype=param_dtype,
        kernel_init=layers.annotated(layers.DEFAULT_KERNEL_INIT, (None, None, None, 'embed')),
        bias_init=layers.annotated(nnx.initializers.zeros_init(), ('embed',)),
        rngs=rngs,
    )
    init = layers.annotated(layers.DEFAULT_KERNEL_INIT, (None, None, 'embed'))
    self.cls_token = nnx.Param(init(rngs.params(), (1, 1, d), param_dtype))
    self.pos_embed = nnx.Param(init(rngs.params(), (1, cfg.num_tokens, d), param_dtype))
    self.blocks = nnx.List([
        EvaBlock(cfg, dtype=dtype, param_dtype=param_dtype, rngs=rngs) for _ in range(cfg.depth)
    ])

  def __call__(self, pixels_bssc: jax.Array) -> jax.Array:
    patches = self.patch_embed(pixels_bssc)  # [B, S/14, S/14, D], raster order below
    b, gh, gw, d = patches.shape
    x_bpd = patches.reshape(b, gh * gw, d)
    cls = jnp.broadcast_to(self.cls_token[...].astype(x_bpd.dtype), (b, 1, d))
    x_bpd = jnp.concatenate([cls, x_bpd], axis=1) + self.pos_embed[...].astype(x_bpd.dtype)
    x_bpd = self.apply_blocks(x_bpd)
    return x_bpd
