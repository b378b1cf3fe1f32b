"""The pure train step: gradients of the trainable subset only, accumulated exactly."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from minigpt4_jax.train.loss import batch_nll_sum

Batch = dict[str, jax.Array]


def _micro_batches(batch: Batch, grad_accum: int) -> Batch:
  """Every input [B, ...] -> [A, B/A, ...]."""
  def split(x):
    return x.reshape((grad_accum, x.shape[0] // grad_accum) + x.shape[1:])
  return jax.tree.map(split, batch)


def make_loss_and_grad(graphdef: nnx.GraphDef, first_target: int = 1) -> Callable:
  """(trainable, frozen, batch) -> ((nll_sum, count), d nll_sum / d trainable)."""

  def nll_sum(trainable, frozen, batch):
    model = nnx.merge(graphdef, trainable, frozen)
    total, count = batch_nll_sum(model, batch, first_target)
    return total, count

  return jax.value_and_grad(nll_sum, argnums=0, has_aux=True)


def make_train_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation,
                    schedule: optax.Schedule, grad_accum: int, first_target: int = 1) -> Callable:
  """train_step(trainable, frozen, opt_state, batch, step) -> (trainable, opt_state, metrics).

  ``batch``: input_ids, attention_mask, target_mask and either image or features
  (see ``loss.batch_nll_sum``, also for ``first_target``); nothing else.

  ``frozen`` is read-only: it is differentiated by nobody and never donated.
  """
  loss_and_grad = make_loss_and_grad(graphdef, first_target)

  def train_step(trainable, frozen, opt_state, batch: Batch, step: jax.Array):
    def accumulate(carry, micro):
      grad_sum, nll_sum, count = carry
      (nll, n), grads = loss_and_grad(trainable, frozen, micro)
      return (jax.tree.map(jnp.add, grad_sum, grads), nll_sum + nll, count + n), None

    zeros = jax.tree.map(jnp.zeros_like, trainable)
    (grad_sum, nll_sum, count), _ = jax.lax.scan(
        accumulate, (zeros, jnp.zeros(()), jnp.zeros(())), _micro_batches(batch, grad_accum)
    )
    count = jnp.maximum(count, 1.0)
    grads = jax.tree.map(lambda g: g / count, grad_sum)
    updates, opt_state = tx.update(grads, opt_state, trainable)
    trainable = optax.apply_updates(trainable, updates)
    loss, grad_norm = nll_sum / count, optax.tree.norm(grads)
    # A finite loss can still produce inf/NaN parameters (a huge update): check the
    # result too, so no poisoned state is ever checkpointed.
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm) & jnp.all(jnp.array(
        [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(trainable)]))
    metrics = {
        'loss': loss,
        'grad_norm': grad_norm,
        'finite': finite.astype(jnp.float32),
        'lr': schedule(step),
        'supervised_tokens': count,
    }
    return trainable, opt_state, metrics

  return train_step
