"""A training workdir, as ``launch.train`` writes it:

  WORKDIR/config.json    the resolved run config (``RUN_CONFIG``)
  WORKDIR/checkpoints/   orbax steps: trainable parameters, optimizer state, data
                         iterator state, meta (step, skipped samples)
  WORKDIR/metrics.jsonl  and TensorBoard events

The frozen towers are not copied into every save: they are referenced by the run's
``init_from`` and reloaded from there. Orbax writes each step into a temporary
directory and renames it when complete, so a run killed mid-save leaves the previous
checkpoint as the latest. A step whose files were damaged afterwards (truncated,
deleted) is reported naming the step and the array; a resume moves it aside to
WORKDIR/damaged_checkpoints/ and falls back to the newest intact step, with a warning.
A step that is intact but holds other arrays than the run builds (its settings changed:
``checkpoint_layout``) is refused instead, with nothing moved.
Both the trainer and ``minigpt4_jax.load`` read workdirs.

``init_from`` is stored absolute, plus its path relative to the workdir
(``init_from_relative``): typed as ``runs/tiny_stage1`` it would only resolve from the
directory the run was started in, while the relative copy survives moving or copying
the pair of workdirs together.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import shutil
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp

from minigpt4_jax.checkpoint_layout import array_layout, layout_difference, structural_changes
from minigpt4_jax.damage import CHECKPOINT_METADATA, DamagedCheckpoint, damage_reason
from minigpt4_jax.errors import BadInput, MissingInput

RUN_CONFIG = 'config.json'
CHECKPOINTS = 'checkpoints'
DAMAGED_DIR = 'damaged_checkpoints'
RELATIVE_KEY = 'init_from_relative'  # config.json only: init_from seen from the workdir


def is_workdir(path: str | pathlib.Path) -> bool:
  path = pathlib.Path(path)
  return (path / CHECKPOINTS).is_dir() and (path / RUN_CONFIG).is_file()


def absolute_init_from(value: str, cwd: pathlib.Path | None = None) -> str:
  """'' (random towers) stays ''; a path becomes absolute against ``cwd`` (default: the
  current directory)."""
  if not value:
    return value
  return str((cwd or pathlib.Path.cwd()) / pathlib.Path(value).expanduser())


def write_run_config(path: str | pathlib.Path, config: ml_collections.ConfigDict) -> None:
  """WORKDIR/config.json: the config with ``init_from`` absolute and ``init_from_relative``."""
  path = pathlib.Path(path).absolute()
  data = json.loads(config.to_json_best_effort())
  if config.init_from:
    data['init_from'] = absolute_init_from(config.init_from)
    data[RELATIVE_KEY] = os.path.relpath(data['init_from'], path)
  (path / RUN_CONFIG).write_text(json.dumps(data, indent=2))


def init_from_candidates(path: pathlib.Path, value: str, relative: str | None,
                         cwd: pathlib.Path | None = None) -> list[pathlib.Path]:
  """Where a workdir's recorded ``init_from`` may be, in the order tried: the value if
  absolute; the workdir-relative path; for a relative value (older workdirs stored it
  as typed) the workdir and each folder above it, then the current directory."""
  path = pathlib.Path(path).absolute()
  value_path = pathlib.Path(value).expanduser()
  candidates = [value_path] if value_path.is_absolute() else []
  if relative:
    candidates.append(pathlib.Path(os.path.normpath(path / relative)))
  if not value_path.is_absolute():
    candidates += [base / value_path for base in (path, *path.parents)]
    candidates.append((cwd or pathlib.Path.cwd()) / value_path)
  return candidates


def resolve_init_from(path: pathlib.Path, value: str, relative: str | None = None,
                      cwd: pathlib.Path | None = None) -> str:
  """The first candidate that holds a checkpoint or workdir (a config.json), absolute."""
  if not value:
    return value
  candidates = init_from_candidates(path, value, relative, cwd)
  for candidate in candidates:
    if (candidate / RUN_CONFIG).is_file():
      return str(candidate.absolute())
  raise MissingInput(
      f'{pathlib.Path(path) / RUN_CONFIG}: init_from={value!r} (the towers this run '
      f'started from) is not at {", ".join(str(c) for c in dict.fromkeys(candidates))}; '
      'move or copy it along with the workdir')


def run_config(path: str | pathlib.Path) -> ml_collections.ConfigDict:
  """The run config a workdir was trained with (unlocked: readers fill in defaults), its
  ``init_from`` resolved to where it is now."""
  data = json.loads((pathlib.Path(path) / RUN_CONFIG).read_text())
  relative = data.pop(RELATIVE_KEY, None)
  data['init_from'] = resolve_init_from(pathlib.Path(path), data.get('init_from', ''), relative)
  return ml_collections.ConfigDict(data)


class TrainCheckpoints:

  def __init__(self, workdir: str | pathlib.Path, keep: int = 3, *, read_only: bool = False,
               run_config: dict[str, Any] | None = None):
    """``run_config``: the resuming run's config as JSON data, to name the settings that
    differ from the workdir's when a step's arrays do not fit the run."""
    self.directory = pathlib.Path(workdir).absolute() / CHECKPOINTS
    self.run_config = run_config
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=not read_only,
                                           read_only=read_only)
    # Handlers named up front (what the Standard/Json args imply) so that a step's item
    # metadata reads before any restore: checkpoint_layout compares it with the run's.
    self.manager = ocp.CheckpointManager(
        self.directory, options=options,
        item_handlers={'trainable': ocp.StandardCheckpointHandler(),
                       'opt_state': ocp.StandardCheckpointHandler(),
                       'data': ocp.JsonCheckpointHandler(), 'meta': ocp.JsonCheckpointHandler()},
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

  def _restore_step(self, step: int, **items) -> dict[str, Any]:
    """``manager.restore`` of ``items`` at ``step``; damage is a DamagedCheckpoint."""
    step_dir = self.directory / str(step)
    if not (step_dir / CHECKPOINT_METADATA).is_file():
      raise DamagedCheckpoint(f'{step_dir}: step {step} is damaged: {CHECKPOINT_METADATA} '
                              'is missing')
    try:
      return dict(self.manager.restore(step, args=ocp.args.Composite(**items)))
    except Exception as err:  # orbax/TensorStore raise many types
      difference = self._layout_difference(step, items)
      if difference:
        raise BadInput(f'{step_dir}: step {step} holds other arrays than this run builds '
                       f'({difference}){self._settings_hint()}: resume with the settings '
                       'that wrote it, or use another --workdir') from err
      raise DamagedCheckpoint(f'{step_dir}: step {step} is damaged: {damage_reason(err)}'
                              ) from err

  def _layout_difference(self, step: int, items: dict[str, Any]) -> str | None:
    """How the stored parameter and optimizer trees of ``step`` differ from the restore
    targets in ``items``; None when they agree or the metadata itself is unreadable."""
    try:
      stored = self.manager.item_metadata(step)
    except Exception:  # unreadable metadata is damage, which the caller reports
      return None
    for name in ('trainable', 'opt_state'):
      if name in items and stored.get(name) is not None:
        difference = layout_difference(array_layout(stored[name]), array_layout(items[name].item))
        if difference:
          return f'{name}: {difference}'
    return None

  def _settings_hint(self) -> str:
    """'; WORKDIR/config.json says model.scan_layers: True -> False' where the config
    the workdir was written with (still on disk: the trainer rewrites it only once the
    resume has passed) differs from this run's in what shapes the trees."""
    path = self.directory.parent / RUN_CONFIG
    if self.run_config is None or not path.is_file():
      return ''
    changes = structural_changes(json.loads(path.read_text(encoding='utf-8')), self.run_config)
    return f'; {path} says {", ".join(changes)}' if changes else ''

  def restore(self, step: int, abstract_trainable, abstract_opt_state) -> dict[str, Any]:
    """Restores into the given abstract trees (with shardings) at ``step``."""
    return self._restore_step(
        step, trainable=ocp.args.StandardRestore(abstract_trainable),
        opt_state=ocp.args.StandardRestore(abstract_opt_state),
        data=ocp.args.JsonRestore(), meta=ocp.args.JsonRestore())

  def restore_newest_intact(self, abstract_trainable, abstract_opt_state
                            ) -> tuple[int, dict[str, Any] | None]:
    """(step, restored) of the newest step that restores; each damaged newer step is moved
    to WORKDIR/damaged_checkpoints/STEP with a warning. (0, None) when none is left."""
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        return step, self.restore(step, abstract_trainable, abstract_opt_state)
      except DamagedCheckpoint as err:
        aside = self.directory.parent / DAMAGED_DIR / str(step)
        aside.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(self.directory / str(step), aside)
        self.manager.reload()
        earlier = self.manager.latest_step()
        logging.warning('%s; moved it to %s and resuming from %s', err, aside,
                        f'step {earlier}' if earlier else 'scratch (no intact step left)')
    return 0, None

  def restore_trainable(self, abstract_trainable=None) -> Any:
    """Only the trained parameters of the latest step (to start a later stage, or to
    use the model); as stored where no abstract target is given."""
    step = self.latest_step()
    if step is None:
      raise MissingInput(f'{self.directory}: no checkpoint to start from')
    try:
      return self._restore_step(
          step, trainable=ocp.args.StandardRestore(abstract_trainable))['trainable']
    except DamagedCheckpoint as err:
      earlier = [s for s in self.manager.all_steps() if s < step]
      hint = (f'; earlier steps {earlier} remain: move {self.directory / str(step)} away to '
              'use them' if earlier else '')
      raise DamagedCheckpoint(f'{err}{hint}') from err.__cause__

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
  raw = config.to_dict()  # edited as a dict: a ConfigDict field keeps its first type
  model, train = raw['model'], raw['train']
  if 'trainable' not in train:
    patterns = ['projector/.*']
    if model.get('train_qformer', False):
      patterns.append('qformer/.*')
    if model.get('train_llm', False):
      patterns.append('llm/.*')
    elif model.get('lora_rank', 0) > 0:
      patterns.append('llm/.*/lora_[ab]')
    train['trainable'] = tuple(patterns)
  if isinstance(model.get('remat', 'none'), bool):
    model['remat'] = 'full' if model['remat'] else 'none'
  model.setdefault('connector', 'patch_group' if model.get('no_qformer', False) else '')
  for old in ('train_qformer', 'train_llm', 'no_qformer'):
    model.pop(old, None)
  for name, default in (('lora_rank', 0), ('lora_alpha', 256.0), ('lora_targets', ()),
                        ('lora_dropout', 0.0)):
    model.setdefault(name, default)
  return ml_collections.ConfigDict(raw)
