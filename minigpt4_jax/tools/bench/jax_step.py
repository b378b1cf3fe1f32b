"""minigpt4-jax's own train step (``train.step``) as the trainer jits it, on given weights."""

from __future__ import annotations

from typing import Callable, Iterable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from minigpt4_jax.convert import tables
from minigpt4_jax.convert.assign import ParamSlots
from minigpt4_jax.models import VisionLanguageModel
from minigpt4_jax.models.configs import ModelConfig
from minigpt4_jax.train.optimizer import make_optimizer
from minigpt4_jax.train.step import make_train_step
from minigpt4_jax.train.trainable import split_trainable

Batch = dict[str, jax.Array]


def model_from_weights(cfg: ModelConfig, dtype: jnp.dtype,
                       weights: Iterable[tuple[tables.Layout, str, np.ndarray]]) -> VisionLanguageModel:
  """Our model holding exactly ``weights`` (e.g. ``TorchMiniGPT4.weights_for_jax()``).

  Built abstractly and filled tensor by tensor, so no random init is ever computed;
  every parameter must be filled.
  """
  model = nnx.eval_shape(lambda: VisionLanguageModel(cfg, dtype=dtype, param_dtype=dtype, rngs=nnx.Rngs(0)))
  slots = ParamSlots(model)
  for layout, key, array in weights:
    for path, value in layout.map_key(key, array).items():
      slots.fill(path, value, source='pytorch reference', key=key)
  slots.check_complete(source='pytorch reference')
  return model


def compiled_flops(lowered: jax.stages.Lowered) -> float:
  """XLA's FLOP count of a lowered computation: 2 per multiply-add in dots (as
  ``flops.py`` counts), plus elementwise work."""
  cost = lowered.compile().cost_analysis()
  return (cost[0] if isinstance(cost, list) else cost)['flops']


class JaxTrainStep:
  """The jitted ``train.step.make_train_step`` with its state, as ``train.loop`` runs it:
  grads of the projector only, trainable and optimizer state donated."""

  def __init__(self, model: VisionLanguageModel, train: ml_collections.ConfigDict):
    self.graphdef, self.trainable, self.frozen = split_trainable(model)
    self.tx, self.schedule = make_optimizer(train)
    self.opt_state = self.tx.init(self.trainable)
    self.step = 0
    self._train_steps: dict[int, Callable] = {}
    self._image_features = jax.jit(lambda trainable, frozen, image: nnx.merge(
        self.graphdef, trainable, frozen).image_features(image))

  def _train_step(self, first_target: int) -> Callable:
    """The jitted step with logits from ``first_target - 1`` on, as the trainer runs it
    (``SequenceEncoder.first_target``)."""
    if first_target not in self._train_steps:
      self._train_steps[first_target] = jax.jit(
          make_train_step(self.graphdef, self.tx, self.schedule, 1, first_target),
          donate_argnums=(0, 2))
    return self._train_steps[first_target]

  def __call__(self, batch: Batch, first_target: int = 1) -> float:
    """One step; returns the loss (reading it waits for the step to finish)."""
    self.trainable, self.opt_state, metrics = self._train_step(first_target)(
        self.trainable, self.frozen, self.opt_state, batch, jnp.int32(self.step))
    self.step += 1
    return float(metrics['loss'])

  def xla_flops(self, batch: Batch, first_target: int = 1) -> float:
    """XLA's own FLOP count of the step on ``batch``: the cross-check of ``flops.py``."""
    return compiled_flops(self._train_step(first_target).lower(
        self.trainable, self.frozen, self.opt_state, batch, jnp.int32(self.step)))

  def features_batch(self, batch: Batch) -> Batch:
    """``batch`` with its image replaced by the frozen towers' outputs float[B, Q, C]:
    what stage 1 could read from a cache when augmentation is off."""
    features = self._image_features(self.trainable, self.frozen, batch['image'])
    return {**{k: v for k, v in batch.items() if k != 'image'}, 'features': features}
