"""LLaMA / Vicuna / Llama-2 decoder (transformers ``LlamaForCausalLM``).

RMSNorm, rotary embeddings in transformers' rotate-half layout (so the q/k
projection weights of HF checkpoints load as they are, without the permutation
Meta's original layout would need), SwiGLU, grouped-query attention and an untied
output head. One forward serves training, prefill and decoding: ``__call__`` takes an
optional ``KVCache`` and then returns the updated cache with the logits (as flax's
``examples/gemma/transformer.py`` does).
Letters as in ``layers.py``; L = cache slots.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx
from jax.ad_checkpoint import checkpoint_name

from minigpt4_jax.models import layers
from minigpt4_jax.models import remat as policies
from minigpt4_jax.models import scanned_layers
from minigpt4_jax.models.configs import LlamaConfig


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class KVCache:
  """Per-layer keys/values for cached decoding.

  k, v: one float[B, K, L, H] per layer (separate buffers, so a step updates each in
  place instead of rebuilding a stacked [layers, ...] array); slot_valid: bool[B, L]
  marks slots that hold a real (non-padding) token; index: the next slot to write,
  int32[] where every row stands at the same slot (left-padded prompts decoded
  together: the generator, beam search) or int32[B], each row's own (a server's decode
  slots). The shared index writes a step with one ``dynamic_update_slice`` per buffer,
  as MaxText's autoregressive cache does (``MaxText/inference/kvcache.py``,
  ``update_ar_key_value``); per-row writes cost a loop over the rows on TPU.

  Heads come before slots because that is how the attention reads them: one query
  per head against the slots. Stored [B, L, K, H], a TPU decode step relaid out each
  layer's probabilities into heads-minor buffers padded from 32 heads to 128 lanes
  (f32 [B, N, L], about 19 MiB of traffic a layer for the 7B at B=8, L=1024;
  BENCHMARKS.md).
  """

  k: tuple[jax.Array, ...]
  v: tuple[jax.Array, ...]
  slot_valid: jax.Array
  index: jax.Array

  @classmethod
  def empty(cls, cfg: LlamaConfig, batch: int, length: int, dtype=jnp.float32, *,
            per_row_index: bool = False) -> 'KVCache':
    shape = (batch, cfg.num_kv_heads, length, cfg.head_dim)
    return cls(
        k=tuple(jnp.zeros(shape, dtype) for _ in range(cfg.num_layers)),
        v=tuple(jnp.zeros(shape, dtype) for _ in range(cfg.num_layers)),
        slot_valid=jnp.zeros((batch, length), bool),
        index=jnp.zeros((batch,) if per_row_index else (), jnp.int32),
    )

  def take_rows(self, rows: jax.Array) -> 'KVCache':
    """The cache rows ``rows`` (int32[R]) in that order (beam reordering, repeats)."""
    return KVCache(k=tuple(x[rows] for x in self.k), v=tuple(x[rows] for x in self.v),
                   slot_valid=self.slot_valid[rows],
                   index=self.index if self.index.ndim == 0 else self.index[rows])

  def row_index(self) -> jax.Array:
    """int32[B, 1]: each row's next slot (the shared index repeated)."""
    return jnp.broadcast_to(self.index[..., None], (self.slot_valid.shape[0], 1))


LayerCache = tuple[jax.Array, jax.Array]  # one layer's (keys, values) float[B, K, L, H]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class AttentionMask:
  """What the LLM's attention may see: ``allowed_bts`` bool[B, T, S] (``causal_mask``)
  and, without a cache, ``causal_valid_bt`` bool[B, T], the real tokens of that causal
  self-attention (the form the splash kernel takes; ``models/attention_kernels.py``)."""

  allowed_bts: jax.Array
  causal_valid_bt: jax.Array | None = None


def write_rows(buffer_bl: jax.Array, new_bt: jax.Array, index: jax.Array,
               slot_axis: int = 1) -> jax.Array:
  """``buffer[b, index[b] : index[b] + T] = new[b]`` along ``slot_axis`` for every row (in
  place under jit); ``index``: int32[] (one slot for every row) or int32[B]
  (``KVCache.index``)."""
  new_bt = new_bt.astype(buffer_bl.dtype)
  if index.ndim == 0:
    return jax.lax.dynamic_update_slice_in_dim(buffer_bl, new_bt, index, axis=slot_axis)

  def write(row, new, start):
    return jax.lax.dynamic_update_slice_in_dim(row, new, start, axis=slot_axis - 1)
  return jax.vmap(write)(buffer_bl, new_bt, index)


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


def project_heads(linear: nnx.Module, x_btd: jax.Array, num_heads: int) -> jax.Array:
  """float[B, T, N, H]: ``linear(x)`` split into heads.

  The barrier keeps the split out of the matmul: without it XLA folds the reshape
  into the dot, and on TPU it then copies the [D, N*H] kernel into an [N, H, D]
  layout on every call (a 7B decode step read and wrote each q/k/v kernel again,
  0.31 GiB a layer; BENCHMARKS.md). Any linear works (LoRA, int8 weights).
  """
  return layers.split_heads(jax.lax.optimization_barrier(linear(x_btd)), num_heads)


class LlamaAttention(nnx.Module):

  def __init__(self, cfg: LlamaConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
    kw = dict(use_bias=False, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.cfg = cfg
    d, h = cfg.hidden, cfg.head_dim
    self.q_proj = layers.linear(d, cfg.num_heads * h, ('embed', 'heads_merged'), **kw)
    self.k_proj = layers.linear(d, cfg.num_kv_heads * h, ('embed', 'kv_merged'), **kw)
    self.v_proj = layers.linear(d, cfg.num_kv_heads * h, ('embed', 'kv_merged'), **kw)
    self.o_proj = layers.linear(cfg.num_heads * h, d, ('heads_merged', 'embed'), **kw)
    self.attention_impl = 'auto'  # attention_kernels.set_implementation forces one

  def __call__(self, x_btd: jax.Array, positions_bt: jax.Array, mask: AttentionMask,
               layer_cache: LayerCache | None = None,
               index: jax.Array | None = None) -> tuple[jax.Array, LayerCache | None]:
    """Attends the T new tokens to themselves (no cache) or, with ``layer_cache``, writes
    their keys/values at ``index`` (``KVCache.index``) and attends to every cache slot."""
    cfg = self.cfg
    # The names tag what a remat policy may keep for the backward (``models/remat.py``).
    q = apply_rope(project_heads(self.q_proj, x_btd, cfg.num_heads), positions_bt, cfg.rope_theta)
    q = checkpoint_name(q, policies.QUERY)
    k = apply_rope(project_heads(self.k_proj, x_btd, cfg.num_kv_heads), positions_bt, cfg.rope_theta)
    k = checkpoint_name(k, policies.KEY)
    v = checkpoint_name(project_heads(self.v_proj, x_btd, cfg.num_kv_heads), policies.VALUE)
    if layer_cache is not None:
      # Stored [B, K, L, H]; the attention takes [B, S, K, H]: XLA folds the swap into
      # its dots' operand layouts (cuDNN, at a GPU prefill, gets a transposed copy;
      # a decode step, T = 1, runs XLA's attention there too).
      layer_cache = tuple(write_rows(buffer, jnp.swapaxes(new, 1, 2), index, slot_axis=2)
                          for buffer, new in zip(layer_cache, (k, v)))
      k, v = (jnp.swapaxes(buffer, 1, 2) for buffer in layer_cache)
    ctx = layers.attention(q, k.astype(q.dtype), v.astype(q.dtype), mask_bts=mask.allowed_bts,
                           implementation=self.attention_impl,
                           causal_valid_bt=mask.causal_valid_bt)
    return checkpoint_name(self.o_proj(layers.merge_heads(ctx)), policies.OUT_PROJ), layer_cache


class LlamaMlp(nnx.Module):
  """SwiGLU: down(silu(gate(x)) * up(x))."""

  def __init__(self, cfg: LlamaConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
    kw = dict(use_bias=False, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.gate_proj = layers.linear(cfg.hidden, cfg.mlp_dim, ('embed', 'mlp'), **kw)
    self.up_proj = layers.linear(cfg.hidden, cfg.mlp_dim, ('embed', 'mlp'), **kw)
    self.down_proj = layers.linear(cfg.mlp_dim, cfg.hidden, ('mlp', 'embed'), **kw)

  def __call__(self, x: jax.Array) -> jax.Array:
    gate = checkpoint_name(self.gate_proj(x), policies.MLP_GATE)
    up = checkpoint_name(self.up_proj(x), policies.MLP_UP)
    return self.down_proj(jax.nn.silu(gate) * up)


class LlamaBlock(nnx.Module):

  def __init__(self, cfg: LlamaConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.input_norm = RMSNorm(cfg.hidden, cfg.rms_norm_eps, param_dtype=param_dtype, rngs=rngs)
    self.attn = LlamaAttention(cfg, **kw)
    self.post_attention_norm = RMSNorm(cfg.hidden, cfg.rms_norm_eps, param_dtype=param_dtype, rngs=rngs)
    self.mlp = LlamaMlp(cfg, **kw)

  def __call__(self, x_btd, positions_bt, mask, layer_cache=None, index=None):
    """(new hidden states, updated layer cache or None); see ``LlamaAttention``."""
    attended, layer_cache = self.attn(self.input_norm(x_btd), positions_bt, mask,
                                      layer_cache, index)
    x_btd = x_btd + attended
    return x_btd + self.mlp(self.post_attention_norm(x_btd)), layer_cache


def causal_mask(query_slot_bt: jax.Array, key_valid_bs: jax.Array) -> jax.Array:
  """bool[B, T, S]: a query sees valid keys at its own slot or before (causal). Each
  query also sees its own slot, so a padded query row's softmax stays finite (its
  output is never used).

  Without a cache the keys are the T new tokens (slot = position in the sequence);
  with one they are the cache slots, the new tokens written at ``index + t``.
  """
  key_slot_s = jnp.arange(key_valid_bs.shape[1])
  causal = key_slot_s[None, None, :] <= query_slot_bt[:, :, None]
  own = key_slot_s[None, None, :] == query_slot_bt[:, :, None]
  return (causal & key_valid_bs[:, None, :]) | own


def positions_from_mask(attention_mask_bt: jax.Array) -> jax.Array:
  """int32[B, T]: 0-based positions that skip (left or right) padding, as HF generate does."""
  mask = attention_mask_bt.astype(jnp.int32)
  return jnp.maximum(jnp.cumsum(mask, axis=-1) - 1, 0)


def _rematerialized(block: LlamaBlock, policy, x_btd, positions_bt, mask) -> jax.Array:
  """``block(...)`` under ``jax.checkpoint``. The block is split and merged by hand:
  ``nnx.remat`` tries to update the outer Variables in place, which fails where a
  block holds frozen (untraced) weights, as in LLaVA stage 1 or LoRA."""
  graphdef, state = nnx.split(block)

  def run(state, x_btd, positions_bt, mask):
    return nnx.merge(graphdef, state)(x_btd, positions_bt, mask)[0]

  return jax.checkpoint(run, policy=policy)(state, x_btd, positions_bt, mask)


class Llama(scanned_layers.Scannable, nnx.Module):
  """Token ids int[B, T] or embeddings float[B, T, D] -> logits float[B, T, V], with an
  optional KV cache (prefill and decoding run the same layers as training). After
  ``scan_layers`` the blocks are one stack under ``lax.scan``: training only, a cached
  forward refuses it."""

  BLOCKS = 'layers'

  def __init__(self, cfg: LlamaConfig, *, dtype=jnp.float32, param_dtype=jnp.float32,
               remat: str = 'none', rngs: nnx.Rngs):
    """``remat``: a ``models.remat.REMAT_POLICIES`` name for the blocks in the backward pass
    (as LLaVA's gradient checkpointing); a static attribute, so jit specialises on it."""
    policies.policy(remat)  # an unknown name fails here, not at the first step
    self.cfg = cfg
    self.remat = remat
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
      *,
      cache: KVCache | None = None,
      first_logit: int = 0,
  ) -> jax.Array | tuple[jax.Array, KVCache]:
    """The causal forward of T tokens, alone or after a cache's contents.

    Args:
      input_ids: int[B, T], or
      inputs_embeds: float[B, T, D] (e.g. with image tokens spliced in).
      attention_mask: int/bool[B, T], 1 for real tokens (default all ones).
      positions: int[B, T] rotary positions; default counts real tokens only (right
        for a whole sequence or a prefill into an empty cache).
      cache: if given, the new tokens go to slots [index, index + T) of each row and
        attend to everything the cache holds (prefill: the prompt; decode: T = 1).
      first_logit: project only positions >= this onto the vocabulary (static). The
        loss needs no logits where no target follows (image and prompt tokens), and
        prefill needs only the last position's; XLA does not prune the other rows.

    Returns:
      logits float[B, T - first_logit, V]; with a cache, (logits, updated cache).
    """
    x_btd = self._inputs(input_ids, inputs_embeds)
    b, t, _ = x_btd.shape
    if attention_mask is None:
      attention_mask = jnp.ones((b, t), jnp.int32)
    new_valid_bt = attention_mask.astype(bool)
    if positions is None:
      positions = positions_from_mask(attention_mask)
    if cache is None:
      query_slot_bt = jnp.broadcast_to(jnp.arange(t), (b, t))
      mask = AttentionMask(causal_mask(query_slot_bt, new_valid_bt), new_valid_bt)
    else:
      slot_valid = write_rows(cache.slot_valid, new_valid_bt, cache.index)
      query_slot_bt = cache.row_index() + jnp.arange(t)
      mask = AttentionMask(causal_mask(query_slot_bt, slot_valid))
    if self.scanned and cache is not None:
      raise ValueError('model.scan_layers is for training: decode with the per-layer model '
                       '(a converted checkpoint or workdir loads unscanned)')
    new_k, new_v = [], []
    if self.scanned:
      x_btd = self._scanned_blocks(x_btd, positions, mask)
    for i, block in enumerate(() if self.scanned else self.layers):
      if cache is not None:
        x_btd, (k, v) = block(x_btd, positions, mask, (cache.k[i], cache.v[i]), cache.index)
        new_k.append(k)
        new_v.append(v)
      elif self.remat != 'none':
        x_btd = _rematerialized(block, policies.policy(self.remat), x_btd, positions, mask)
      else:
        x_btd, _ = block(x_btd, positions, mask)
    logits = self.lm_head(self.norm(x_btd[:, first_logit:]))
    if cache is None:
      return logits
    return logits, KVCache(k=tuple(new_k), v=tuple(new_v), slot_valid=slot_valid,
                           index=cache.index + t)

  def _scanned_blocks(self, x_btd, positions_bt, mask) -> jax.Array:
    def apply(block, x_btd):
      return block(x_btd, positions_bt, mask)[0]
    return scanned_layers.scan_blocks(self.layers, apply, x_btd, remat=self.remat != 'none',
                                      remat_policy=policies.policy(self.remat))

  def _inputs(self, input_ids, inputs_embeds) -> jax.Array:
    if (input_ids is None) == (inputs_embeds is None):
      raise ValueError('pass exactly one of input_ids and inputs_embeds')
    return self.embed(input_ids) if inputs_embeds is None else inputs_embeds
