"""A training workdir, as ``launch.train`` writes it:

  WORKDIR/config.json    the resolved run config (``RUN_CONFIG``)
  WORKDIR/checkpoints/   orbax steps: trainable parameters, optimizer state, data
                         iterator state, meta (step, skipped samples)
  WORKDIR/metrics.jsonl  and TensorBoard events

The frozen towers are not copied into every save: they are referenced by the run's
``init_from`` and reloaded from there. Orbax writes each step into a temporary
directory and renames it when complete, so a run killed mid-save leaves the previous
checkpoint as the latest. Both the trainer and ``minigpt4_jax.load`` read workdirs.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp

RUN_CONFIG = 'config.json'
CHECKPOINTS = 'checkpoints'


def is_workdir(path: str | pathlib.Path) -> bool:
  path = pathlib.Path(path)
  return (path / CHECKPOINTS).is_dir() and (path / RUN_CONFIG).is_file()


def run_config(path: str | pathlib.Path) -> ml_collections.ConfigDict:
  """The run config a workdir was trained with (unlocked: readers fill in defaults)."""
  return ml_collections.ConfigDict(json.loads((pathlib.Path(path) / RUN_CONFIG).read_text()))


class TrainCheckpoints:

  def __init__(self, workdir: str | pathlib.Path, keep: int = 3, *, read_only: bool = False):
    self.directory = pathlib.Path(workdir).absolute() / CHECKPOINTS
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

  def restore_trainable(self, abstract_trainable=None) -> Any:
    """Only the trained parameters of the latest step (to start a later stage, or to
    use the model); as stored where no abstract target is given."""
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


def upgraded(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A run config in the current schema. Runs written before trainable patterns and
  named remat policies recorded ``model.train_qformer`` / ``train_llm`` / ``no_qformer``
  booleans and ``model.remat`` as a bool; their workdirs still load and continue."""
  config = ml_collections.ConfigDict(config.to_dict())
  model = config.model
  if 'trainable' not in config.train:
    patterns = ['projector/.*']
    if model.get('train_qformer', False):
      patterns.append('qformer/.*')
    if model.get('train_llm', False):
      patterns.append('llm/.*')
    elif model.get('lora_rank', 0) > 0:
      patterns.append('llm/.*/lora_[ab]')
    config.train.trainable = tuple(patterns)
  if isinstance(model.get('remat', 'none'), bool):
    model.remat = 'full' if model.remat else 'none'
  if 'connector' not in model:
    model.connector = 'patch_group' if model.get('no_qformer', False) else ''
  for old in ('train_qformer', 'train_llm', 'no_qformer'):
    if old in model:
      del model[old]
  for name, default in (('lora_rank', 0), ('lora_alpha', 256.0), ('lora_targets', ())):
    if name not in model:
      model[name] = default
  return config
