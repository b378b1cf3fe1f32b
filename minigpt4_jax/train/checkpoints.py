"""Training checkpoints: the trainable parameters, optimizer state, step and data state.

The frozen towers are not copied into every save: they are referenced by the run's
``init_from`` (recorded in WORKDIR/config.json) and reloaded from there. Orbax writes
each step into a temporary directory and renames it when complete, so a run killed
mid-save leaves the previous checkpoint as the latest.
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp


class TrainCheckpoints:

  def __init__(self, workdir: str | pathlib.Path, keep: int = 3, *, read_only: bool = False):
    self.directory = pathlib.Path(workdir).absolute() / 'checkpoints'
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=not read_only,
                                           read_only=read_only)
    self.manager = ocp.CheckpointManager(
        self.directory, options=options,
        item_names=('trainable', 'opt_state', 'data', 'meta'),
    )

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, trainable, opt_state, data_state: dict, meta: dict) -> None:
    self.manager.save(step, args=ocp.args.Composite(
        trainable=ocp.args.StandardSave(trainable),
        opt_state=ocp.args.StandardSave(opt_state),
        data=ocp.args.JsonSave(data_state),
        meta=ocp.args.JsonSave(meta),
    ))

  def restore(self, step: int, abstract_trainable, abstract_opt_state) -> dict[str, Any]:
    """Restores into the given abstract trees (with shardings) at ``step``."""
    restored = self.manager.restore(step, args=ocp.args.Composite(
        trainable=ocp.args.StandardRestore(abstract_trainable),
        opt_state=ocp.args.StandardRestore(abstract_opt_state),
        data=ocp.args.JsonRestore(),
        meta=ocp.args.JsonRestore(),
    ))
    return dict(restored)

  def restore_trainable(self, abstract_trainable) -> Any:
    """Only the trained parameters of the latest step (to start a later stage)."""
    step = self.latest_step()
    if step is None:
      raise FileNotFoundError(f'{self.directory}: no checkpoint to start from')
    return self.manager.restore(step, args=ocp.args.Composite(
        trainable=ocp.args.StandardRestore(abstract_trainable),
    ))['trainable']

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.close()


def abstract_like(tree) -> Any:
  """ShapeDtypeStructs with the shardings of ``tree``'s arrays (restore targets)."""
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree
  )
