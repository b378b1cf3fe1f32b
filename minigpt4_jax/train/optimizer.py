"""AdamW as MiniGPT-4 configures it, built for the trainable subset only."""

from __future__ import annotations

import jax
import ml_collections
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from minigpt4_jax.train.schedule import warmup_cosine


def decay_mask(params) -> object:
  """True where weight decay applies.

  LAVIS decays trainable parameters with ndim >= 2 whose names lack "bias"/"ln"/"bn".
  Every bias and norm parameter of our towers, projectors and LoRA adapters is 1-D,
  so ndim >= 2 alone is the same rule whatever the trainable patterns select.
  """
  return jax.tree.map(lambda leaf: leaf.ndim >= 2, params)


def make_optimizer(train: ml_collections.ConfigDict) -> tuple[optax.GradientTransformation,
                                                              optax.Schedule]:
  """(optimizer, schedule). The optimizer is applied to the trainable state alone,
  so no state or update exists for frozen parameters."""
  schedule = warmup_cosine(train.lr, train.min_lr, train.warmup_lr, train.warmup_steps,
                           train.steps)
  adamw = optax.adamw(schedule, b1=train.b1, b2=train.b2, weight_decay=train.weight_decay,
                      mask=decay_mask)
  if train.clip_norm > 0:
    return optax.chain(optax.clip_by_global_norm(train.clip_norm), adamw), schedule
  return adamw, schedule


def optimizer_shardings(tx: optax.GradientTransformation, params, param_shardings, mesh: Mesh):
  """Shardings of ``tx.init(params)``: moment buffers follow their parameters (so an
  FSDP-sharded LLM's AdamW state is sharded too); counters are replicated."""
  abstract = jax.eval_shape(tx.init, params)
  return optax.tree_map_params(
      tx, lambda _, s: s, abstract, param_shardings,
      transform_non_params=lambda _: NamedSharding(mesh, PartitionSpec()),
  )
