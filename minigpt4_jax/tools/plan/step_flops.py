"""Analytic matmul FLOPs of one training step of any family, any stage.

Extends ``tools/bench/flops.py`` (same convention: matmuls only, 2 per multiply-add,
full T x S attention) from MiniGPT-4's projector-only training to steps that also
train the LLM (LLaVA stage 2): a trained linear layer adds its weight gradient
(1x its forward) to the input gradient every LLM layer already computes.
Recompute (remat) is not counted: XLA's count above this one is the recompute.
"""

from __future__ import annotations

from minigpt4_jax.models.configs import ModelConfig
from minigpt4_jax.tools.bench import flops

# Each projector kind as its linear layers, first to last: in -> out widths.
_PROJECTOR_LAYERS = {'linear': 1, 'mlp2x_gelu': 2, 'mlp3': 3}


def projector_step(cfg: ModelConfig) -> int:
  """One image's projector forward + backward (weights trained, input frozen): every
  layer's weight gradient, and the input gradient of every layer but the first."""
  if cfg.projector not in _PROJECTOR_LAYERS:
    raise ValueError(f'no FLOP count for projector {cfg.projector!r}')
  q, d = cfg.num_image_tokens, cfg.llm.hidden
  first = flops.dense(q, cfg.projector_in, d).total
  later = flops.dense(q, d, d).total * (_PROJECTOR_LAYERS[cfg.projector] - 1)
  return 2 * first + 3 * later


def train_step(cfg: ModelConfig, seq_len: int, batch: int, logits_from: int,
               llm_trains: bool, from_features: bool = False) -> int:
  """FLOPs of one step over ``batch`` images at ``seq_len`` tokens; ``llm_trains``:
  every LLM linear gets a weight gradient (LLaVA stage 2), else only the projector;
  ``from_features``: the frozen towers' outputs come cached (no tower forward)."""
  towers = 0 if from_features else flops.vit_forward(cfg.vision).total
  if cfg.connector == 'qformer' and not from_features:
    towers += flops.qformer_forward(cfg.qformer, cfg.vision.num_tokens).total
  llm = flops.llm_forward(cfg.llm, seq_len, logits_from)
  llm_step = llm.total + flops.activation_backward(llm) + (llm.linear if llm_trains else 0)
  return batch * (towers + projector_step(cfg) + llm_step)
