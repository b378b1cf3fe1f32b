"""Writes a trained projector back in MiniGPT-4's own format.

``torch.save({'model': {'llama_proj.weight': [out, in], 'llama_proj.bias': [out]}})``
in float32, which the original PyTorch code loads with ``ckpt['model']``.
"""

from __future__ import annotations

import pathlib

import numpy as np
import orbax.checkpoint as ocp
import torch

from minigpt4_jax import checkpoint
from minigpt4_jax.convert.assign import ConversionError
from minigpt4_jax.train.checkpoints import TrainCheckpoints
from minigpt4_jax.train.model_init import is_workdir


def projector_arrays(source: str | pathlib.Path) -> dict[str, np.ndarray]:
  """{'kernel' float[in, out], 'bias' float[out]} of a converted checkpoint or a
  training workdir (its latest step)."""
  source = pathlib.Path(source)
  if is_workdir(source):
    ckpts = TrainCheckpoints(source, read_only=True)
    step = ckpts.latest_step()
    if step is None:
      raise FileNotFoundError(f'{source}: no checkpoint yet')
    trainable = ckpts.manager.restore(step, args=ocp.args.Composite(
        trainable=ocp.args.StandardRestore()))['trainable']
    projector = trainable['projector']
    return {k: np.asarray(v['value'] if isinstance(v, dict) else v) for k, v in projector.items()}
  if checkpoint.is_complete(source):
    stored = ocp.StandardCheckpointer().restore(source.absolute() / 'params' / 'projector')
    return {k.split('.', 1)[1]: np.asarray(v) for k, v in stored.items()}
  raise FileNotFoundError(f'{source}: neither a converted checkpoint nor a training workdir')


def export_projector(source: str | pathlib.Path, out_path: str | pathlib.Path) -> None:
  arrays = projector_arrays(source)
  if set(arrays) != {'kernel', 'bias'}:
    raise ConversionError(f'{source}: projector has {sorted(arrays)}; only the linear '
                          f'projector exists in MiniGPT-4\'s format')
  state = {
      'llama_proj.weight': torch.from_numpy(np.ascontiguousarray(arrays['kernel'].T, np.float32)),
      'llama_proj.bias': torch.from_numpy(np.array(arrays['bias'], np.float32)),
  }
  out_path = pathlib.Path(out_path)
  tmp = out_path.with_name(out_path.name + '.partial')
  torch.save({'model': state}, tmp)
  tmp.replace(out_path)  # atomic: never a half-written .pth under the final name
