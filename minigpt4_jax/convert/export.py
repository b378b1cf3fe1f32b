"""Writes a trained projector back in the original project's format.

MiniGPT-4: ``torch.save({'model': {'llama_proj.weight': [out, in], 'llama_proj.bias':
[out]}})``, which the original code loads with ``ckpt['model']`` (strict=False).
LLaVA: ``mm_projector.bin`` as its stage 1 saves it, a plain state dict of
``model.mm_projector.weight/bias`` (linear) or ``model.mm_projector.{0,2}.weight/bias``
(``mlp2x_gelu``). Both in float32, written atomically.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Mapping

import numpy as np
import orbax.checkpoint as ocp
import torch

from minigpt4_jax import checkpoint
from minigpt4_jax.atomic import write_atomically
from minigpt4_jax.convert.assign import ConversionError, param_table
from minigpt4_jax.models import MiniGPT4
from minigpt4_jax.models.llava_config import PRESETS as LLAVA_PRESETS
from minigpt4_jax.models.llava_config import LLaVAConfig
from minigpt4_jax.train.checkpoints import TrainCheckpoints
from minigpt4_jax.train.model_init import RESOLVED_CONFIG, is_workdir


def _flat(tree: Mapping[str, Any], prefix: str = '') -> dict[str, np.ndarray]:
  """A restored nnx state ({'fc1': {'kernel': {'value': a}}, ...}) -> {'fc1/kernel': a}."""
  out = {}
  for key, value in tree.items():
    if isinstance(value, Mapping) and set(value) == {'value'}:
      out[prefix + key] = np.asarray(value['value'])
    elif isinstance(value, Mapping):
      out.update(_flat(value, f'{prefix}{key}/'))
    else:
      out[prefix + key] = np.asarray(value)
  return out


def projector_arrays(source: str | os.PathLike) -> dict[str, np.ndarray]:
  """The projector's parameters by path ({'kernel' float[in, out], 'bias'}, or
  {'fc1/kernel', ...}) of a converted checkpoint or of a training workdir (its latest
  step)."""
  source = pathlib.Path(source)
  if is_workdir(source):  # first: a workdir also holds a config.json
    ckpts = TrainCheckpoints(source, read_only=True)
    step = ckpts.latest_step()
    if step is None:
      raise FileNotFoundError(f'{source}: a training workdir without checkpoints yet')
    trainable = ckpts.manager.restore(step, args=ocp.args.Composite(
        trainable=ocp.args.StandardRestore()))['trainable']
    return _flat(trainable['projector'])
  if checkpoint.is_complete(source):
    return {p.removeprefix('projector/'): np.asarray(a)
            for p, a in checkpoint.read_group(source, 'projector').items()}
  raise FileNotFoundError(f'{source}: neither a converted checkpoint nor a training workdir')


def is_llava(source: str | os.PathLike) -> bool:
  """Whether a converted checkpoint or training workdir holds a LLaVA model."""
  source = pathlib.Path(source)
  if is_workdir(source):
    config = json.loads((source / RESOLVED_CONFIG).read_text(encoding='utf-8'))
    return config.get('model', {}).get('preset') in LLAVA_PRESETS
  return isinstance(checkpoint.load_config(source), LLaVAConfig)


def _torch_linear(params: Mapping[str, np.ndarray], prefix: str, name: str) -> dict[str, torch.Tensor]:
  """torch Linear's weight [out, in] (our kernel's transpose) and bias, in float32."""
  return {f'{name}.weight': torch.from_numpy(np.ascontiguousarray(
              np.asarray(params[f'{prefix}kernel']).T, np.float32)),
          f'{name}.bias': torch.from_numpy(np.array(params[f'{prefix}bias'], np.float32))}


def minigpt4_state(params: Mapping[str, np.ndarray]) -> dict[str, Any]:
  if set(params) != {'kernel', 'bias'}:
    raise ConversionError(f'projector has {sorted(params)}; only the linear projector '
                          f'(kernel, bias) exists in MiniGPT-4\'s format')
  return {'model': _torch_linear(params, '', 'llama_proj')}


def llava_state(params: Mapping[str, np.ndarray]) -> dict[str, Any]:
  if set(params) == {'kernel', 'bias'}:
    return _torch_linear(params, '', 'model.mm_projector')
  if set(params) == {'fc1/kernel', 'fc1/bias', 'fc2/kernel', 'fc2/bias'}:
    return {**_torch_linear(params, 'fc1/', 'model.mm_projector.0'),
            **_torch_linear(params, 'fc2/', 'model.mm_projector.2')}
  raise ConversionError(f'projector has {sorted(params)}; LLaVA\'s mm_projector.bin holds a '
                        'linear or an mlp2x_gelu projector')


def export_projector(params: Mapping[str, np.ndarray] | MiniGPT4,
                     out_path: str | os.PathLike, llava: bool = False) -> None:
  """Writes ``params`` (by path, or a model's projector) as MiniGPT-4's
  ``pretrained_minigpt4.pth``-style file, or with ``llava`` as LLaVA's
  ``mm_projector.bin``, atomically."""
  if isinstance(params, MiniGPT4):
    params = {p: np.asarray(v[...]) for p, v in param_table(params.projector).items()}
  state = llava_state(params) if llava else minigpt4_state(params)
  write_atomically(out_path, lambda f: torch.save(state, f))
