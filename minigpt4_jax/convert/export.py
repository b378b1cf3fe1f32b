"""Writes a trained projector back in MiniGPT-4's own format.

``torch.save({'model': {'llama_proj.weight': [out, in], 'llama_proj.bias': [out]}})``
in float32, which the original PyTorch code loads with ``ckpt['model']`` (strict=False).
"""

from __future__ import annotations

import os
import pathlib
from typing import Any, Mapping

import numpy as np
import orbax.checkpoint as ocp
import torch

from minigpt4_jax import checkpoint
from minigpt4_jax.convert.assign import ConversionError, param_table
from minigpt4_jax.models import MiniGPT4
from minigpt4_jax.train.checkpoints import TrainCheckpoints
from minigpt4_jax.train.model_init import is_workdir


def _pure(tree: Mapping[str, Any]) -> dict[str, Any]:
  """A restored nnx state {'kernel': {'value': a} | a, ...} -> {'kernel': a, ...}
  (submodules, as of the mlp3 projector, stay nested: export refuses them by name)."""
  return {k: v['value'] if isinstance(v, Mapping) and 'value' in v else v
          for k, v in tree.items()}


def projector_arrays(source: str | os.PathLike) -> dict[str, np.ndarray]:
  """{'kernel' float[in, out], 'bias' float[out]} of a converted checkpoint or of a
  training workdir (its latest step)."""
  source = pathlib.Path(source)
  if is_workdir(source):  # first: a workdir also holds a config.json
    ckpts = TrainCheckpoints(source, read_only=True)
    step = ckpts.latest_step()
    if step is None:
      raise FileNotFoundError(f'{source}: a training workdir without checkpoints yet')
    trainable = ckpts.manager.restore(step, args=ocp.args.Composite(
        trainable=ocp.args.StandardRestore()))['trainable']
    return _pure(trainable['projector'])
  if checkpoint.is_complete(source):
    return {p.removeprefix('projector/'): np.asarray(a)
            for p, a in checkpoint.read_group(source, 'projector').items()}
  raise FileNotFoundError(f'{source}: neither a converted checkpoint nor a training workdir')


def export_projector(params: Mapping[str, np.ndarray] | MiniGPT4,
                     out_path: str | os.PathLike) -> None:
  """Writes ``params`` ({'kernel' [in, out], 'bias' [out]}, or a model's projector)
  as MiniGPT-4's ``pretrained_minigpt4.pth``-style file, atomically."""
  if isinstance(params, MiniGPT4):
    params = {p: np.asarray(v[...]) for p, v in param_table(params.projector).items()}
  if set(params) != {'kernel', 'bias'}:
    raise ConversionError(f'projector has {sorted(params)}; only the linear projector '
                          f'(kernel, bias) exists in MiniGPT-4\'s format')
  state = {  # torch Linear stores weight [out, in]: the transpose of our kernel
      'llama_proj.weight': torch.from_numpy(np.ascontiguousarray(np.asarray(params['kernel']).T,
                                                                 np.float32)),
      'llama_proj.bias': torch.from_numpy(np.array(params['bias'], np.float32)),
  }
  out_path = pathlib.Path(out_path)
  tmp = out_path.with_name(f'.{out_path.name}.partial-{os.getpid()}')
  try:
    with open(tmp, 'wb') as f:
      torch.save({'model': state}, f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, out_path)  # never a half-written .pth under the final name
  finally:
    tmp.unlink(missing_ok=True)
