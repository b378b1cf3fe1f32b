"""BLIP-2 Q-Former, query path only (LAVIS ``Qformer.py`` / transformers ``Blip2QFormerModel``).

BERT-base post-LN layers over the learned query tokens: self-attention among the
queries, cross-attention to the image tokens in the layers listed in the config,
then the query feed-forward (``intermediate_query`` / ``output_query``). The text
path (word/position embeddings, text FFN) is never used by MiniGPT-4 and is not built.
Letters as in ``layers.py``; Q = query tokens, P = image tokens, E = image width.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from minigpt4_jax.models import layers
from minigpt4_jax.models.configs import QFormerConfig


class BertAttention(nnx.Module):
  """Post-LN BERT attention block: norm(out(attn(x, ctx)) + x)."""

  def __init__(self, cfg: QFormerConfig, kv_width: int, *, dtype, param_dtype, rngs: nnx.Rngs):
    d = cfg.hidden
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.num_heads = cfg.num_heads
    self.attention_impl = 'auto'  # attention_kernels.set_implementation forces one
    self.query = layers.linear(d, d, ('qformer_embed', 'heads_merged'), **kw)
    self.key = layers.linear(kv_width, d, ('embed', 'heads_merged'), **kw)
    self.value = layers.linear(kv_width, d, ('embed', 'heads_merged'), **kw)
    self.out = layers.linear(d, d, ('heads_merged', 'qformer_embed'), **kw)
    self.norm = layers.layer_norm(d, cfg.layer_norm_eps, **kw)

  def __call__(self, x_bqd: jax.Array, context_bpe: jax.Array) -> jax.Array:
    ctx_bqnh = layers.attention(
        layers.split_heads(self.query(x_bqd), self.num_heads),
        layers.split_heads(self.key(context_bpe), self.num_heads),
        layers.split_heads(self.value(context_bpe), self.num_heads),
        implementation=self.attention_impl,
    )
    return self.norm(self.out(layers.merge_heads(ctx_bqnh)) + x_bqd)


class QueryFeedForward(nnx.Module):
  """norm(fc2(gelu(fc1(x))) + x), BERT's ``intermediate_query`` + ``output_query``."""

  def __init__(self, cfg: QFormerConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.fc1 = layers.linear(cfg.hidden, cfg.mlp_dim, ('qformer_embed', 'mlp'), **kw)
    self.fc2 = layers.linear(cfg.mlp_dim, cfg.hidden, ('mlp', 'qformer_embed'), **kw)
    self.norm = layers.layer_norm(cfg.hidden, cfg.layer_norm_eps, **kw)

  def __call__(self, x_bqd: jax.Array) -> jax.Array:
    return self.norm(self.fc2(layers.gelu_exact(self.fc1(x_bqd))) + x_bqd)


class QFormerLayer(nnx.Module):

  def __init__(self, cfg: QFormerConfig, has_cross_attention: bool, *, dtype, param_dtype,
               rngs: nnx.Rngs):
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.self_attn = BertAttention(cfg, cfg.hidden, **kw)
    self.cross_attn = BertAttention(cfg, cfg.encoder_width, **kw) if has_cross_attention else None
    self.ffn = QueryFeedForward(cfg, **kw)

  def __call__(self, x_bqd: jax.Array, image_bpe: jax.Array) -> jax.Array:
    x_bqd = self.self_attn(x_bqd, x_bqd)
    if self.cross_attn is not None:
      x_bqd = self.cross_attn(x_bqd, image_bpe)
    return self.ffn(x_bqd)


class QFormer(nnx.Module):
  """Image tokens float[B, P, E] (after ln_vision) -> query outputs float[B, Q, D]."""

  def __init__(self, cfg: QFormerConfig, *, dtype=jnp.float32, param_dtype=jnp.float32,
               rngs: nnx.Rngs):
    self.cfg = cfg
    init = layers.annotated(layers.DEFAULT_KERNEL_INIT, (None, None, 'qformer_embed'))
    self.query_tokens = nnx.Param(
        init(rngs.params(), (1, cfg.num_query_tokens, cfg.hidden), param_dtype)
    )
    # BLIP-2 passes the queries through the embeddings LayerNorm (no position embedding).
    self.layernorm = layers.layer_norm(cfg.hidden, cfg.layer_norm_eps, dtype=dtype,
                                       param_dtype=param_dtype, rngs=rngs)
    self.layers = nnx.List([
        QFormerLayer(cfg, i in cfg.cross_attention_layers, dtype=dtype,
                     param_dtype=param_dtype, rngs=rngs)
        for i in range(cfg.num_layers)
    ])

  def __call__(self, image_bpe: jax.Array) -> jax.Array:
    b = image_bpe.shape[0]
    queries = self.query_tokens[...].astype(image_bpe.dtype)
    x_bqd = self.layernorm(jnp.broadcast_to(queries, (b,) + queries.shape[1:]))
    for layer in self.layers:
      x_bqd = layer(x_bqd, image_bpe)
    return x_bqd
