"""Train steps on a device mesh, set up as ``train.loop`` does: trainable, frozen and
optimizer state placed by the sharding rules, the step jitted with those shardings
and donation, the batch split over the data-parallel axes."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from minigpt4_jax import sharding
from minigpt4_jax.train.optimizer import make_optimizer, optimizer_shardings
from minigpt4_jax.train.step import make_train_step


def run_sharded_steps(graphdef: nnx.GraphDef, trainable, frozen,
                      train_cfg: ml_collections.ConfigDict, batch: dict[str, np.ndarray], mesh,
                      steps: int):
  """(trainable, frozen, optimizer state, last metrics) after ``steps`` steps on ``mesh``."""
  tx, schedule = make_optimizer(train_cfg)
  t_sh, f_sh = sharding.state_shardings(trainable, mesh), sharding.state_shardings(frozen, mesh)
  o_sh = optimizer_shardings(tx, trainable, t_sh, mesh)
  trainable, frozen = jax.device_put(trainable, t_sh), jax.device_put(frozen, f_sh)
  opt_state = jax.jit(tx.init, out_shardings=o_sh)(trainable)
  step_fn = jax.jit(make_train_step(graphdef, tx, schedule, 1),
                    in_shardings=(t_sh, f_sh, o_sh, None, None),
                    out_shardings=(t_sh, o_sh, None), donate_argnums=(0, 2))
  batch = {k: jax.device_put(v, sharding.batch_sharding(mesh, v.ndim)) for k, v in batch.items()}
  for i in range(steps):
    trainable, opt_state, metrics = step_fn(trainable, frozen, opt_state, batch, jnp.int32(i))
  return trainable, frozen, opt_state, metrics
