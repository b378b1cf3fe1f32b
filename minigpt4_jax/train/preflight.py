"""What a training run checks before it builds a model or writes to its workdir."""

from __future__ import annotations

import pathlib

import ml_collections

from minigpt4_jax import families
from minigpt4_jax.data.preflight import check_data_inputs
from minigpt4_jax.errors import BadInput
from minigpt4_jax.inputs import require_checkpoint, require_dir
from minigpt4_jax.models import remat


def check_run_inputs(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> None:
  """Raises a UserError naming the first input of the run that cannot work: the workdir
  is a file, ``init_from`` or the tokenizer is missing, random towers of an unknown
  ``model.preset``, an unknown ``model.remat`` policy, a LoRA dropout rate outside [0, 1),
  a data piece is missing or broken."""
  workdir = pathlib.Path(workdir)
  if workdir.exists() and not workdir.is_dir():
    raise BadInput(f'--workdir {workdir}: is a file, expected a (new or existing) run directory')
  if config.init_from:
    require_checkpoint(config.init_from, 'init_from')
  else:  # random towers of the preset (loading.architecture)
    families.preset(config.model.preset)
  try:
    remat.policy(config.model.remat)
  except ValueError as e:
    raise BadInput(str(e)) from None
  rate = config.model.get('lora_dropout', 0.0)
  if not 0.0 <= rate < 1.0:
    raise BadInput(f'model.lora_dropout={rate}: a dropout rate must be in [0, 1)')
  if config.model.get('tokenizer'):
    require_dir(config.model.tokenizer, 'model.tokenizer')
  check_data_inputs(config.data)
