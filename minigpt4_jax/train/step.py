"""The pure train step: gradients of the trainable subset only, accumulated exactly.

With LoRA dropout (``model.lora_dropout`` > 0) the step draws its masks from keys
that are a function of (seed, step, row of the global batch) only: no RNG state to
checkpoint, a resumed run draws what an uninterrupted one draws, and accumulating
micro-batches equals the full batch with dropout too.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from minigpt4_jax.models.lora import with_dropout
from minigpt4_jax.train.loss import batch_nll_sum

Batch = dict[str, jax.Array]


def _micro_batches(batch: Batch, grad_accum: int) -> Batch:
  """Every input [B, ...] -> [A, B/A, ...], micro-batch a holding rows a, a + A, a + 2A...

  Strided, not contiguous: the batch is sharded over the devices in contiguous blocks,
  so each device's block holds its share of every micro-batch and the split moves no
  row between devices. Contiguous micro-batches sit on a subset of the devices; XLA:CPU
  then runs each micro-step on every device's copy of it (twice the FLOPs per device
  for 2 micro-batches on 8 devices, tests/bench/test_plan.py).
  """
  def split(x):
    return x.reshape((x.shape[0] // grad_accum, grad_accum) + x.shape[1:]).swapaxes(0, 1)
  return jax.tree.map(split, batch)


def dropout_row_keys(seed: int, step: jax.Array, batch_size: int) -> jax.Array:
  """key[B]: the dropout keys of a step's rows, ``fold_in(fold_in(key(seed), step), row)``."""
  step_key = jax.random.fold_in(jax.random.key(seed), step)
  return jax.vmap(lambda row: jax.random.fold_in(step_key, row))(jnp.arange(batch_size))


def make_loss_and_grad(graphdef: nnx.GraphDef, first_target: int = 1,
                       lora_dropout: float = 0.0) -> Callable:
  """(trainable, frozen, batch[, row_keys]) -> ((nll_sum, count), d nll_sum / d trainable).

  ``lora_dropout`` > 0 trains the adapters with dropout, drawn from ``row_keys``
  (key[B], ``dropout_row_keys``); 0 is eval mode, and ``row_keys`` is not needed.
  """

  def nll_sum(trainable, frozen, batch, row_keys=None):
    model = nnx.merge(graphdef, trainable, frozen)
    if lora_dropout:
      with_dropout(model, lora_dropout, row_keys)
    total, count = batch_nll_sum(model, batch, first_target)
    return total, count

  return jax.value_and_grad(nll_sum, argnums=0, has_aux=True)


def make_train_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation,
                    schedule: optax.Schedule, grad_accum: int, first_target: int = 1, *,
                    lora_dropout: float = 0.0, seed: int = 0) -> Callable:
  """train_step(trainable, frozen, opt_state, batch, step) -> (trainable, opt_state, metrics).

  ``batch``: input_ids, attention_mask, target_mask and either image or features
  (see ``loss.batch_nll_sum``, also for ``first_target``); nothing else.
  ``lora_dropout``: the adapters' dropout rate (0: none), its masks drawn from
  ``dropout_row_keys(seed, step, B)``.

  ``frozen`` is read-only: it is differentiated by nobody and never donated.
  """
  loss_and_grad = make_loss_and_grad(graphdef, first_target, lora_dropout)

  def train_step(trainable, frozen, opt_state, batch: Batch, step: jax.Array):
    def accumulate(carry, micro):
      grad_sum, nll_sum, count = carry
      micro_batch, micro_keys = micro
      (nll, n), grads = loss_and_grad(trainable, frozen, micro_batch, micro_keys)
      return (jax.tree.map(jnp.add, grad_sum, grads), nll_sum + nll, count + n), None

    row_keys = None  # an empty pytree: nothing to split or scan over
    if lora_dropout:
      row_keys = dropout_row_keys(seed, step, batch['input_ids'].shape[0])
    zeros = jax.tree.map(jnp.zeros_like, trainable)
    (grad_sum, nll_sum, count), _ = jax.lax.scan(
        accumulate, (zeros, jnp.zeros(()), jnp.zeros(())),
        (_micro_batches(batch, grad_accum), _micro_batches(row_keys, grad_accum))
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
