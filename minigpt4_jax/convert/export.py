"""Writes a trained projector back in its family's own format (each family module says
how: MiniGPT-4's ``{'model': {'llama_proj.*'}}``, LLaVA's ``mm_projector.bin``).

The projector comes from a converted checkpoint or a training workdir (its latest
step); files are float32 torch state dicts, written atomically.
"""

from __future__ import annotations

import os
import pathlib
import re
from typing import Any, Mapping

import numpy as np
from flax import nnx

from minigpt4_jax import checkpoint, workdir
from minigpt4_jax.atomic import write_atomically
from minigpt4_jax.convert.torch_io import torch_module
from minigpt4_jax.models.params import param_table
from minigpt4_jax.models.scanned_layers import unstack_layers
from minigpt4_jax.models.vlm import VisionLanguageModel


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
  return {p.removeprefix('projector/'): a
          for p, a in parameter_arrays(source, ('projector/.*',)).items()}


def parameter_arrays(source: str | os.PathLike, patterns: tuple[str, ...]) -> dict[str, np.ndarray]:
  """The parameters whose paths fully match one of ``patterns`` (e.g. the projector and
  LoRA adapters a family's own file holds), by path, of a converted checkpoint (only
  the groups holding them are read) or of a training workdir (its latest step's
  trained parameters)."""
  source = pathlib.Path(source)
  def wanted(path: str) -> bool:
    return any(re.fullmatch(p, path) for p in patterns)

  if workdir.is_workdir(source):  # first: a workdir also holds a config.json
    ckpts = workdir.TrainCheckpoints(source, read_only=True)
    if ckpts.latest_step() is None:
      raise FileNotFoundError(f'{source}: a training workdir without checkpoints yet')
    # A run that scanned its blocks saved them stacked: per layer here, as a checkpoint's.
    return {p: a for p, a in unstack_layers(_flat(ckpts.restore_trainable())).items()
            if wanted(p)}
  if not checkpoint.is_complete(source):
    raise FileNotFoundError(f'{source}: neither a converted checkpoint nor a training workdir')
  cfg = checkpoint.load_config(source)
  paths = [p for p in param_table(nnx.eval_shape(lambda: VisionLanguageModel(
      cfg, rngs=nnx.Rngs(0)))) if wanted(p)]
  out = {}
  for group in checkpoint.grouped(paths):
    out.update({p: np.asarray(a) for p, a in checkpoint.read_group(source, group).items()
                if wanted(p)})
  return out


def torch_linear(params: Mapping[str, np.ndarray], prefix: str, name: str) -> dict[str, Any]:
  """torch Linear's weight [out, in] (our kernel's transpose) and bias, in float32."""
  torch = torch_module()
  return {f'{name}.weight': torch.from_numpy(np.ascontiguousarray(
              np.asarray(params[f'{prefix}kernel']).T, np.float32)),
          f'{name}.bias': torch.from_numpy(np.array(params[f'{prefix}bias'], np.float32))}


def write_torch(state: Mapping[str, Any], out_path: str | os.PathLike) -> None:
  """``torch.save(state)`` to ``out_path``, atomically."""
  write_atomically(out_path, lambda f: torch_module().save(state, f))
