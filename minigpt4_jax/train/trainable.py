"""Which parameters train: ``config.train.trainable``, regexes over parameter paths.

MiniGPT-4 trains only the projector in both stages (``('projector/.*',)``); the
paper's ablation (c) adds ``'qformer/.*'``. LLaVA trains the projector in stage 1 and
the projector and the whole LLM (``'llm/.*'``) in stage 2, or the LLM's low-rank
adapters (``'llm/.*/lora_[ab]'``). Each family states its stages' patterns
(``minigpt4_jax.families``). Everything else stays frozen: it never gets gradients,
optimizer state or buffer donation. A pattern that matches nothing is an error.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from minigpt4_jax.models.params import count, split_by_patterns

# Frozen towers that cached features (data.kind=features) stand in for.
TOWERS = ('vision/', 'ln_vision/', 'qformer/')


def split_trainable(model: nnx.Module, patterns: tuple[str, ...] = ('projector/.*',)):
  """(graphdef, trainable state, frozen state) of ``model``. Trained parameters are
  kept in float32 (compute stays in the model's dtype), as mixed-precision training
  does: bf16 weights would round small updates (LLaVA's lr 2e-5) away."""
  graphdef, trainable, frozen = split_by_patterns(model, tuple(patterns))
  trainable = jax.tree.map(lambda x: x.astype(jnp.float32), trainable)
  return graphdef, trainable, frozen


def trained_paths(trainable) -> list[str]:
  """'/'-joined paths of a trainable state's leaves."""
  return ['/'.join(str(getattr(k, 'key', k)) for k in path)
          for path, _ in jax.tree_util.tree_leaves_with_path(trainable)]


def summary(trainable, frozen) -> str:
  """One line for the run's start: how much trains and how much stays frozen."""
  trained, fixed = count(trainable), count(frozen)
  return (f'trainable parameters: {trained:,} ({trained / max(trained + fixed, 1):.2%}); '
          f'frozen: {fixed:,}')
