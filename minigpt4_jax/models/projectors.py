"""The trainable projectors from vision features to LLM embeddings.

MiniGPT-4's ``llama_proj`` and LLaVA v1's projector are one Linear; the MiniGPT-4
paper's ablation (b) uses three; LLaVA-1.5's ``mlp2x_gelu`` is Linear -> GELU -> Linear.
They stay float32 whatever the towers' dtype, as MiniGPT-4 keeps ``llama_proj`` in fp32.
"""

from __future__ import annotations

import jax
from flax import nnx

from minigpt4_jax.models import layers
from minigpt4_jax.models.configs import ProjectorKind

_AXES = ('projector_in', 'embed')


class Mlp3Projector(nnx.Module):
  """The MiniGPT-4 paper's ablation (b): three linear layers with GELU between."""

  def __init__(self, in_features: int, out_features: int, *, rngs: nnx.Rngs):
    self.fc1 = layers.linear(in_features, out_features, _AXES, rngs=rngs)
    self.fc2 = layers.linear(out_features, out_features, _AXES, rngs=rngs)
    self.fc3 = layers.linear(out_features, out_features, _AXES, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.fc3(layers.gelu_exact(self.fc2(layers.gelu_exact(self.fc1(x)))))


class Mlp2xGeluProjector(nnx.Module):
  """LLaVA-1.5's ``mlp2x_gelu``: Linear -> exact GELU -> Linear (``mm_projector.0/2``)."""

  def __init__(self, in_features: int, out_features: int, *, rngs: nnx.Rngs):
    self.fc1 = layers.linear(in_features, out_features, _AXES, rngs=rngs)
    self.fc2 = layers.linear(out_features, out_features, _AXES, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.fc2(layers.gelu_exact(self.fc1(x)))


def make_projector(kind: ProjectorKind, in_features: int, out_features: int, *,
                   rngs: nnx.Rngs) -> nnx.Module:
  """The projector ``kind`` names, float32."""
  if kind == 'linear':
    return layers.linear(in_features, out_features, _AXES, rngs=rngs)
  if kind == 'mlp3':
    return Mlp3Projector(in_features, out_features, rngs=rngs)
  if kind == 'mlp2x_gelu':
    return Mlp2xGeluProjector(in_features, out_features, rngs=rngs)
  raise ValueError(f'unknown projector {kind!r}; expected "linear", "mlp3" or "mlp2x_gelu"')
