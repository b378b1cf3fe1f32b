"""Analytic FLOP count of one MiniGPT-4 training step.

Convention (as in PaLM's MFU): only matrix multiplications count, 2 FLOPs per
multiply-add; norms, activations, softmax, rotary and the loss's log-softmax are left
out (they are a few percent at these shapes; ``tests/bench`` compares with XLA's own
count). Attention counts the full T x S score matrix, causal or not, because dense
kernels (XLA's and PyTorch's) compute the masked half too.

Backward rules, since only the projector trains:
  * frozen ViT and Q-Former: forward only (nothing upstream needs their gradient);
  * a frozen linear layer inside the LLM: dX = dY W^T only, i.e. 1x its forward
    (no weight gradient);
  * attention's two matmuls (Q K^T and P V): both operands are activations, so the
    backward computes dQ, dK, dP and dV: 2x their forward;
  * the projector: its weight gradient only (its input, the frozen features, needs
    none): 1x its forward.
"""

from __future__ import annotations

import dataclasses

from minigpt4_jax.tools.bench.sizes import StepShape
from minigpt4_jax.models.configs import EvaVitConfig, LlamaConfig, ModelConfig, QFormerConfig


@dataclasses.dataclass(frozen=True)
class MatmulFlops:
  """FLOPs of a forward pass, split by how their backward behaves."""

  linear: int = 0     # activation x weight
  attention: int = 0  # activation x activation (scores and context)

  def __add__(self, other: 'MatmulFlops') -> 'MatmulFlops':
    return MatmulFlops(self.linear + other.linear, self.attention + other.attention)

  def __mul__(self, k: int) -> 'MatmulFlops':
    return MatmulFlops(self.linear * k, self.attention * k)

  @property
  def total(self) -> int:
    return self.linear + self.attention


def dense(tokens: int, d_in: int, d_out: int) -> MatmulFlops:
  """x float[tokens, d_in] @ W float[d_in, d_out]."""
  return MatmulFlops(linear=2 * tokens * d_in * d_out)


def attention_core(queries: int, keys: int, width: int) -> MatmulFlops:
  """softmax(Q K^T) V over all heads; ``width`` = heads x head dim."""
  return MatmulFlops(attention=2 * 2 * queries * keys * width)


def vit_forward(cfg: EvaVitConfig) -> MatmulFlops:
  """One image through the EVA ViT (patch embedding as a matmul)."""
  p, d = cfg.num_tokens, cfg.width
  patch = dense(cfg.num_patches, 3 * cfg.patch_size ** 2, d)
  block = dense(p, d, 3 * d) + attention_core(p, p, d) + dense(p, d, d) \
      + dense(p, d, cfg.mlp_dim) + dense(p, cfg.mlp_dim, d)
  return patch + block * cfg.depth


def qformer_forward(cfg: QFormerConfig, image_tokens: int) -> MatmulFlops:
  """One image's queries through the Q-Former, cross-attending to ``image_tokens``."""
  q, d = cfg.num_query_tokens, cfg.hidden
  self_attn = dense(q, d, d) * 4 + attention_core(q, q, d)
  cross = dense(q, d, d) * 2 + dense(image_tokens, cfg.encoder_width, d) * 2 \
      + attention_core(q, image_tokens, d)
  ffn = dense(q, d, cfg.mlp_dim) + dense(q, cfg.mlp_dim, d)
  return (self_attn + ffn) * cfg.num_layers + cross * len(cfg.cross_attention_layers)


def llm_forward(cfg: LlamaConfig, tokens: int, logits_from: int = 0) -> MatmulFlops:
  """One sequence of ``tokens`` through LLaMA, logits at positions >= ``logits_from``
  (0: every position, as HF computes them)."""
  t, d = tokens, cfg.hidden
  heads, kv = cfg.num_heads * cfg.head_dim, cfg.num_kv_heads * cfg.head_dim
  layer = dense(t, d, heads) + dense(t, d, kv) * 2 + attention_core(t, t, heads) \
      + dense(t, heads, d) + dense(t, d, cfg.mlp_dim) * 3
  return layer * cfg.num_layers + dense(t - logits_from, d, cfg.vocab_size)


def activation_backward(forward: MatmulFlops) -> int:
  """Backward to the inputs only, through frozen weights (see the module docstring)."""
  return forward.linear + 2 * forward.attention


@dataclasses.dataclass(frozen=True)
class StepFlops:
  """Matmul FLOPs of one training step over the whole batch."""

  vit: int
  qformer: int
  projector: int  # forward + weight gradient
  llm_forward: int
  llm_backward: int

  @property
  def total(self) -> int:
    return self.vit + self.qformer + self.projector + self.llm_forward + self.llm_backward


def train_step(cfg: ModelConfig, shape: StepShape, batch: int,
               from_features: bool = False, logits_from: int = 0) -> StepFlops:
  """FLOPs of one step; ``from_features``: frozen towers skipped (cached outputs);
  ``logits_from``: the first position projected onto the vocabulary."""
  if cfg.projector != 'linear':
    raise ValueError(f'FLOP count covers the linear projector only, not {cfg.projector!r}')
  q = cfg.num_image_tokens
  towers = not from_features
  vit = vit_forward(cfg.vision).total if towers else 0
  qformer = 0
  if towers and cfg.connector == 'qformer':
    qformer = qformer_forward(cfg.qformer, cfg.vision.num_tokens).total
  llm = llm_forward(cfg.llm, shape.sequence_length(q), logits_from)
  return StepFlops(
      vit=batch * vit,
      qformer=batch * qformer,
      projector=batch * 2 * dense(q, cfg.projector_in, cfg.llm.hidden).total,
      llm_forward=batch * llm.total,
      llm_backward=batch * activation_backward(llm),
  )
