"""LLaMA / Vicuna / Llama-2 decoder (transformers ``LlamaForCausalLM``).

RMSNorm, rotary embeddings in transformers' rotate-half layout (so the q/k
projection weights of HF checkpoints load as they are, without the permutation
Meta's original layout would need), SwiGLU, grouped-query attention and an untied
output head. ``__call__`` is the plain forward; ``forward_with_cache`` runs the same
layers against a ``KVCache`` for prefill and token-by-token decoding.
Letters as in ``layers.py``; L = cache slots.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from minigpt4_jax.models import layers
from minigpt4_jax.models.configs import LlamaConfig


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class KVCache:
  """Per-layer keys/values for cached decoding.

  k, v: float[layers, B, L, K, H]; slot_valid: bool[B, L] marks slots that hold a real
  (non-padding) token; index: int32[] is the next slot to write, shared by the batch
  (prompts are left-padded so every row advances together).
  """

  k: jax.Array
  v: jax.Array
  slot_valid: jax.Array
  index: jax.Array

  @classmethod
  def empty(cls, cfg: LlamaConfig, batch: int, length: int, dtype=jnp.float32) -> 'KVCache':
    shape = (cfg.num_layers, batch, length, cfg.num_kv_heads, cfg.head_dim)
    return cls(
        k=jnp.zeros(shape, dtype),
        v=jnp.zeros(shape, dtype),
        slot_valid=jnp.zeros((batch, length), bool),
        index=jnp.zeros((), jnp.int32),
    )


class RMSNorm(nnx.Module):
  """x / rms(x) * weight, computed in f32 and cast back before the scale (as HF does)."""

  def __init__(self, features: int, eps: float, *, param_dtype, rngs: nnx.Rngs):
    del rngs
    self.eps = eps
    self.weight = nnx.Param(
        layers.annotated(nnx.initializers.ones_init(), ('norm',))(None, (features,), param_dtype)
    )

  def __call__(self, x: jax.Array) -> jax.Array:
    x32 = x.astype(jnp.float32)
    x32 = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
    return self.weight[...].astype(x.dtype) * x32.astype(x.dtype)


def rope_inv_freq(head_dim: int, theta: float) -> jax.Array:
  """float[H/2]: theta^(-2i/H)."""
  return 1.0 / (theta ** (jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim))


def apply_rope(x_btnh: jax.Array, positions_bt: jax.Array, theta: float) -> jax.Array:
  """Rotary embedding, rotate-half layout: [x1, x2] -> [x1 cos - x2 sin, x2 cos + x1 sin]."""
  h = x_btnh.shape[-1]
  angles_bth = positions_bt[..., None].astype(jnp.float32) * rope_inv_freq(h, theta)
  angles_bth = jnp.concatenate([angles_bth, angles_bth], axis=-1)
  cos = jnp.cos(angles_bth)[:, :, None, :]
  sin = jnp.sin(angles_bth)[:, :, None, :]
  x1, x2 = jnp.split(x_btnh.astype(jnp.float32), 2, axis=-1)
  rotated = jnp.concatenate([-x2, x1], axis=-1)
  return (x_btnh.astype(jnp.float32) * cos + rotated * sin).astype(x_btnh.dtype)


class LlamaAttention(nnx.Module):

  def __init__(self, cfg: LlamaConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
    kw = dict(use_bias=False, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.cfg = cfg
    d, h = cfg.hidden, cfg.head_dim
    self.q_proj = layers.linear(d, cfg.num_heads * h, ('embed', 'heads_merged'), **kw)
    self.k_proj = layers.linear(d, cfg.num_kv_heads * h, ('embed', 'kv_merged'), **kw)
    self.v_proj = layers.linear(d, cfg.num_kv_heads * h, ('embed', 'kv_merged'), **kw)
    self.o_proj = layers.linear(cfg.num_heads * h, d, ('heads_merged', 'embed'), **kw)

  def project_qkv(self, x_btd: jax.Array, positions_bt: jax.Array):
    cfg = self.cfg
    q = apply_rope(layers.split_heads(self.q_proj(x_btd), cfg.num_heads), positions_bt, cfg.rope_theta)
    k = apply_rope(layers.split_heads(self.k_proj(x_btd), cfg.num_kv_heads), positions_bt, cfg.rope_theta)
    v = layers.split_heads(self.v_proj(x_btd), cfg.num_kv_heads)
    return q, k, v

  def __call__(self, x_btd, positions_bt, mask_bts) -> jax.Array:
    q, k, v = self.project_qkv(x_btd, positions_bt)
    return self.o_proj(layers.merge_heads(layers.attention(q, k, v, mask_bts=mask_bts)))


class LlamaMlp(nnx.Module):
  """SwiGLU: down(silu(gate(x)) * up(x))."""

  def __init__(self, cfg: LlamaConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
    kw = dict(use_bias=False, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.gate_proj = layers.linear(cfg.hidden, cfg.mlp_dim, ('embed', 'mlp'), **kw)
    self.up_proj = layers.linear(cfg.hidden, cfg.mlp_dim, ('embed', 'mlp'), **kw)
    self.down_proj = layers.linear(cfg.mlp_dim, cfg.hidden, ('mlp', 'embed'), **kw)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.down_proj(jax.nn.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaBlock(nnx.Module):

  def __init__(self, cfg: LlamaConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.input_norm = RMSNorm(cfg.hidden, cfg.rms_norm_eps, param_dtype=param_dtype, rngs=rngs)
    self.attn = LlamaAttention(cfg, **kw)
    self.post_attention_norm = RMSNorm(cfg.hidden, cfg.rms_norm_eps, param_dtype=param_dtype, rngs=rngs)
    self.mlp = LlamaMlp(cfg, **kw)

  def __call__(self, x_btd, positions_bt, mask_bts) -> jax.Array:
    x_btd = x_btd + self.attn(self.input_norm(x_btd), positions_bt, mask_bts)
    return x_btd + self.mlp(self.post_attention_norm(x_btd))

  def with_cache(self, x_btd, positions_bt, k_cache, v_cache, mask_btl, index):
    """Writes this step's keys/values at ``index`` and attends over the whole cache."""
    q, k, v = self.attn.project_qkv(self.input_norm(x_btd), positions_bt)
    k_cache = jax.lax.dynamic_update_slice_in_dim(k_cache, k.astype(k_cache.dtype), index, axis=1)
    v_cache = jax.lax.dynamic_update_slice_in_dim(v_cache, v.astype(v_cache.dtype), index, axis=1)
    ctx = layers.attention(q, k_cache.astype(q.dtype), v_cache.astype(q.dtype), mask_bts=mask_btl)
    x_btd = x_btd + self.attn.o_proj(layers.merge_heads(ctx))
    return x_btd + self.mlp(self.post_attention_norm(x_btd)), k_cache, v_cache


def causal_padding_mask(attention_mask_bt: jax.Array) -> jax.Array:
  """bool[B, T, T]: causal, and padded keys hidden. Padded query rows see only themselves
  so their softmax stays finite (their outputs are never used)."""
  t = attention_mask_bt.shape[1]
  causal_tt = jnp.tril(jnp.ones((t, t), bool))
  mask = causal_tt[None] & attention_mask_bt.astype(bool)[:, None, :]
  return mask | jnp.eye(t, dtype=bool)[None]


def positions_from_mask(attention_mask_bt: jax.Array) -> jax.Array:
  """int32[B, T]: 0-based positions that skip (left or right) padding, as HF generate does."""
  mask = attention_mask_bt.astype(jnp.int32)
  return jnp.maximum(jnp.cumsum(mask, axis=-1) - 1, 0)


def _rematerialized(block: LlamaBlock, x_btd, positions_bt, mask_btt) -> jax.Array:
  """``block(...)`` under ``jax.checkpoint``. The block is split and merged by hand:
  ``nnx.remat`` tries to update the outer Variables in place, which fails where a
  block holds frozen (untraced) weights, as in LLaVA stage 1 or LoRA."""
  graphdef, state = nnx.split(block)

  def run(state, x_btd, positions_bt, mask_btt):
    return nnx.merge(graphdef, state)(x_btd, positions_bt, mask_btt)

  return jax.checkpoint(run)(state, x_btd, positions_bt, mask_btt)


class Llama(nnx.Module):
  """Token ids int[B, T] or embeddings float[B, T, D] -> logits float[B, T, V]."""

  # Training sets this from config.model.remat: each block's activations are
  # recomputed in the backward pass instead of kept, as LLaVA's gradient
  # checkpointing does. A static attribute, so jit specialises on it.
  remat: bool = False

  def __init__(self, cfg: LlamaConfig, *, dtype=jnp.float32, param_dtype=jnp.float32,
               rngs: nnx.Rngs):
    self.cfg = cfg
    self.embed_tokens = nnx.Embed(
        cfg.vocab_size, cfg.hidden, dtype=dtype, param_dtype=param_dtype,
        embedding_init=layers.annotated(layers.DEFAULT_KERNEL_INIT, ('vocab', 'embed')),
        rngs=rngs,
    )
    self.layers = nnx.List([
        LlamaBlock(cfg, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        for _ in range(cfg.num_layers)
    ])
    self.norm = RMSNorm(cfg.hidden, cfg.rms_norm_eps, param_dtype=param_dtype, rngs=rngs)
    self.lm_head = layers.linear(cfg.hidden, cfg.vocab_size, ('embed', 'vocab'), use_bias=False,
                                 dtype=dtype, param_dtype=param_dtype, rngs=rngs)

  def embed(self, input_ids_bt: jax.Array) -> jax.Array:
    return self.embed_tokens(input_ids_bt)

  def __call__(
      self,
      input_ids: jax.Array | None = None,
      inputs_embeds: jax.Array | None = None,
      attention_mask: jax.Array | None = None,
      positions: jax.Array | None = None,
      first_logit: int = 0,
  ) -> jax.Array:
    """Full causal forward.

    Args:
      input_ids: int[B, T], or
      inputs_embeds: float[B, T, D] (e.g. with image tokens spliced in).
      attention_mask: int/bool[B, T], 1 for real tokens (default all ones).
      positions: int[B, T]; default counts real tokens only.
      first_logit: project only positions >= this onto the vocabulary (static). The
        loss needs no logits where no target follows (image and prompt tokens); the
        LM head is a large share of a step (39% of the benchmark's mid LLM).

    Returns:
      logits float[B, T - first_logit, V].
    """
    x_btd = self._inputs(input_ids, inputs_embeds)
    b, t, _ = x_btd.shape
    if attention_mask is None:
      attention_mask = jnp.ones((b, t), jnp.int32)
    if positions is None:
      positions = positions_from_mask(attention_mask)
    mask_btt = causal_padding_mask(attention_mask)
    for block in self.layers:
      if self.remat:
        x_btd = _rematerialized(block, x_btd, positions, mask_btt)
      else:
        x_btd = block(x_btd, positions, mask_btt)
    return self.lm_head(self.norm(x_btd[:, first_logit:]))

  def forward_with_cache(
      self,
      inputs_embeds: jax.Array,
      attention_mask: jax.Array,
      positions: jax.Array,
      cache: KVCache,
      *,
      last_only: bool = False,
  ) -> tuple[jax.Array, KVCache]:
    """Runs T new tokens against the cache (prefill: the prompt; decode: T = 1).

    Args:
      inputs_embeds: float[B, T, D].
      attention_mask: bool[B, T], False for padding among the new tokens.
      positions: int[B, T] rotary positions of the new tokens.
      cache: the cache so far; the new tokens go to slots [index, index + T).
      last_only: project only the last position onto the vocabulary (prefill needs
        just the next token's logits; XLA does not prune the other T - 1 rows).

    Returns:
      (logits float[B, T or 1, V], updated cache).
    """
    t = inputs_embeds.shape[1]
    slots = cache.slot_valid.shape[1]
    slot_valid = jax.lax.dynamic_update_slice_in_dim(
        cache.slot_valid, attention_mask.astype(bool), cache.index, axis=1
    )
    # Query t (at slot index + t) sees valid slots up to and including its own.
    query_slot_t = cache.index + jnp.arange(t)
    causal_tl = jnp.arange(slots)[None, :] <= query_slot_t[:, None]
    mask_btl = causal_tl[None] & slot_valid[:, None, :]
    mask_btl = mask_btl | (jnp.arange(slots)[None, :] == query_slot_t[:, None])[None]
    x_btd = inputs_embeds
    new_k, new_v = [], []
    for i, block in enumerate(self.layers):
      x_btd, k, v = block.with_cache(x_btd, positions, cache.k[i], cache.v[i], mask_btl, cache.index)
      new_k.append(k)
      new_v.append(v)
    if last_only:
      x_btd = x_btd[:, -1:]
    logits = self.lm_head(self.norm(x_btd))
    return logits, KVCache(
        k=jnp.stack(new_k), v=jnp.stack(new_v), slot_valid=slot_valid, index=cache.index + t
    )

  def _inputs(self, input_ids, inputs_embeds) -> jax.Array:
    if (input_ids is None) == (inputs_embeds is None):
      raise ValueError('pass exactly one of input_ids and inputs_embeds')
    return self.embed(input_ids) if inputs_embeds is None else inputs_embeds
