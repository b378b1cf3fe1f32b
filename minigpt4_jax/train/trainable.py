"""Which parameters train: one filter, in one place.

MiniGPT-4 trains only the projector in both stages; the paper's ablation (c) also
trains the Q-Former and its query tokens. Everything else stays frozen: it never
gets gradients, optimizer state or buffer donation.
"""

from __future__ import annotations

from flax import nnx


def trainable_filter(train_qformer: bool = False) -> nnx.filterlib.Filter:
  """An nnx filter selecting the trainable parameters by path."""
  parts = [nnx.PathContains('projector')]
  if train_qformer:
    parts.append(nnx.PathContains('qformer'))
  return nnx.All(nnx.Param, nnx.Any(*parts))


def split_trainable(model: nnx.Module, train_qformer: bool = False):
  """(graphdef, trainable state, frozen state) of ``model``."""
  return nnx.split(model, trainable_filter(train_qformer), ...)
