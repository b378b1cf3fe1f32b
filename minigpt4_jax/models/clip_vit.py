"""OpenAI CLIP ViT (transformers ``CLIPVisionModel``), LLaVA's frozen image encoder.

Differences from EVA (``eva_vit.py``): separate q/k/v projections, all with biases;
a ``pre_layrnorm`` after the embeddings; quick GELU; a bias-free patch embedding.
Only the blocks LLaVA reads are built (``ClipVitConfig.depth``), and the final
``post_layernorm`` never is: LLaVA takes raw hidden states of an inner layer.
Letters as in ``layers.py``; P = patches + CLS.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from minigpt4_jax.models import layers
from minigpt4_jax.models.configs import ClipVitConfig
from minigpt4_jax.models.scanned_layers import Scannable


def quick_gelu(x: jax.Array) -> jax.Array:
  """OpenAI CLIP's activation: x * sigmoid(1.702 x), not either exact or tanh GELU."""
  return x * jax.nn.sigmoid(1.702 * x)


_ACTS = {'quick_gelu': quick_gelu, 'gelu': layers.gelu_exact}


class ClipAttention(nnx.Module):

  def __init__(self, cfg: ClipVitConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    d = cfg.width
    self.num_heads = cfg.num_heads
    self.attention_impl = 'auto'  # attention_kernels.set_implementation forces one
    self.q_proj = layers.linear(d, d, ('embed', 'heads_merged'), **kw)
    self.k_proj = layers.linear(d, d, ('embed', 'heads_merged'), **kw)
    self.v_proj = layers.linear(d, d, ('embed', 'heads_merged'), **kw)
    self.out_proj = layers.linear(d, d, ('heads_merged', 'embed'), **kw)

  def __call__(self, x_bpd: jax.Array) -> jax.Array:
    ctx_bpnh = layers.attention(
        layers.split_heads(self.q_proj(x_bpd), self.num_heads),
        layers.split_heads(self.k_proj(x_bpd), self.num_heads),
        layers.split_heads(self.v_proj(x_bpd), self.num_heads),
        implementation=self.attention_impl,
    )
    return self.out_proj(layers.merge_heads(ctx_bpnh))


class ClipMlp(nnx.Module):

  def __init__(self, cfg: ClipVitConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.act = _ACTS[cfg.act]
    self.fc1 = layers.linear(cfg.width, cfg.mlp_dim, ('embed', 'mlp'), **kw)
    self.fc2 = layers.linear(cfg.mlp_dim, cfg.width, ('mlp', 'embed'), **kw)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.fc2(self.act(self.fc1(x)))


class ClipBlock(nnx.Module):
  """x + attn(norm1(x)); x + mlp(norm2(x))."""

  def __init__(self, cfg: ClipVitConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.norm1 = layers.layer_norm(cfg.width, cfg.layer_norm_eps, **kw)
    self.attn = ClipAttention(cfg, **kw)
    self.norm2 = layers.layer_norm(cfg.width, cfg.layer_norm_eps, **kw)
    self.mlp = ClipMlp(cfg, **kw)

  def __call__(self, x_bpd: jax.Array) -> jax.Array:
    x_bpd = x_bpd + self.attn(self.norm1(x_bpd))
    return x_bpd + self.mlp(self.norm2(x_bpd))


class ClipViT(Scannable, nnx.Module):
  """Image float[B, S, S, 3] (CLIP-normalised, NHWC) -> tokens float[B, 1 + (S/p)^2, D]
  after ``cfg.depth`` blocks (hidden_states[depth] in transformers' numbering)."""

  def __init__(self, cfg: ClipVitConfig, *, dtype=jnp.float32, param_dtype=jnp.float32,
               rngs: nnx.Rngs):
    self.cfg = cfg
    d = cfg.width
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.patch_embed = nnx.Conv(
        3, d, kernel_size=(cfg.patch_size, cfg.patch_size),
        strides=(cfg.patch_size, cfg.patch_size), padding='VALID', use_bias=False,
        dtype=dtype, param_dtype=param_dtype,
        kernel_init=layers.annotated(layers.DEFAULT_KERNEL_INIT, (None, None, None, 'embed')),
        rngs=rngs,
    )
    self.class_embedding = nnx.Param(layers.annotated(layers.DEFAULT_KERNEL_INIT, ('embed',))(
        rngs.params(), (d,), param_dtype))
    self.pos_embed = nnx.Param(layers.annotated(layers.DEFAULT_KERNEL_INIT, (None, 'embed'))(
        rngs.params(), (cfg.num_tokens, d), param_dtype))
    self.pre_norm = layers.layer_norm(d, cfg.layer_norm_eps, **kw)
    self.blocks = nnx.List([ClipBlock(cfg, **kw) for _ in range(cfg.depth)])

  def __call__(self, pixels_bssc: jax.Array) -> jax.Array:
    patches = self.patch_embed(pixels_bssc)  # [B, S/p, S/p, D], raster order below
    b, gh, gw, d = patches.shape
    x_bpd = patches.reshape(b, gh * gw, d)
    cls = jnp.broadcast_to(self.class_embedding[...].astype(x_bpd.dtype), (b, 1, d))
    x_bpd = jnp.concatenate([cls, x_bpd], axis=1) + self.pos_embed[...].astype(x_bpd.dtype)
    x_bpd = self.pre_norm(x_bpd)
    x_bpd = self.apply_blocks(x_bpd)
    return x_bpd
