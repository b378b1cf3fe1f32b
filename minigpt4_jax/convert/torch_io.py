"""Reading PyTorch checkpoints one tensor at a time, safely.

``.safetensors`` files are read with ``safe_open`` (a tensor at a time); ``.pth`` /
``.bin`` with ``torch.load(weights_only=True, mmap=True)``, so data is paged in only
as each tensor is converted and a pickle that carries code is refused, never run.
"""

from __future__ import annotations

import json
import pathlib
import pickle
from typing import Callable, Iterable, Iterator

import ml_dtypes
import numpy as np
from safetensors import safe_open

from minigpt4_jax.convert.assign import ConversionError


def torch_module():
  """PyTorch, imported on first use: only .pth/.bin files need it (the ``torch`` extra),
  so safetensors checkpoints and everything else work without it."""
  import torch  # pylint: disable=import-outside-toplevel
  return torch

# LAVIS and MiniGPT-4 save {'model': state_dict, 'optimizer': ..., ...}.
_STATE_DICT_KEYS = ('model', 'state_dict')


def to_numpy(tensor) -> np.ndarray:
  """Exact, including bfloat16 (which numpy lacks: reinterpreted via ml_dtypes)."""
  tensor = tensor.detach().cpu().contiguous()
  torch = torch_module()
  if tensor.dtype == torch.bfloat16:
    return tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
  return tensor.numpy()


def _require_file(path: pathlib.Path) -> None:
  if not path.is_file():
    raise FileNotFoundError(f'{path}: no such checkpoint file')


def _torch_state_dict(path: pathlib.Path) -> dict:
  """The state dict of a .pth/.bin, memory-mapped: tensor data stays on disk until read."""
  _require_file(path)
  try:
    try:
      obj = torch_module().load(path, map_location='cpu', weights_only=True, mmap=True)
    except RuntimeError as err:  # legacy (pre-zip) files cannot be memory-mapped
      if 'mmap' not in str(err):
        raise
      obj = torch_module().load(path, map_location='cpu', weights_only=True)
  except pickle.UnpicklingError as err:
    raise ConversionError(
        f'{path}: refused to unpickle: it holds objects other than tensors (code could run '
        f'on load). Re-save it as a plain state dict or safetensors. ({err})'.splitlines()[0]
    ) from None
  for key in _STATE_DICT_KEYS:
    if isinstance(obj, dict) and isinstance(obj.get(key), dict):
      obj = obj[key]
      break
  if not isinstance(obj, dict):
    raise ConversionError(f'{path}: expected a state dict, found {type(obj).__name__}')
  return obj


def files_shapes(files: Iterable[str | pathlib.Path]) -> dict[str, tuple[int, ...]]:
  """Key -> shape over all files of a sharded checkpoint, without reading tensor data."""
  return {k: s for f in files for k, s in tensor_shapes(f).items()}


def tensor_shapes(path: str | pathlib.Path) -> dict[str, tuple[int, ...]]:
  """Key -> shape, without reading tensor data."""
  path = pathlib.Path(path)
  if path.suffix == '.safetensors':
    _require_file(path)
    with safe_open(str(path), framework='pt') as f:
      return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
  return {k: tuple(v.shape) for k, v in _torch_state_dict(path).items()
          if isinstance(v, torch_module().Tensor)}


def iter_tensors(path: str | pathlib.Path, skip: Callable[[str], bool] = lambda key: False
                 ) -> Iterator[tuple[str, np.ndarray]]:
  """(key, array) for every tensor of one file, one at a time.

  Keys for which ``skip`` holds are never read: a transformers BLIP-2 directory holds
  a whole OPT/T5 language model that MiniGPT-4 does not use.
  """
  path = pathlib.Path(path)
  if path.suffix == '.safetensors':
    _require_file(path)
    with safe_open(str(path), framework='pt') as f:
      keys = [k for k in f.keys() if not skip(k)]
    for key in keys:
      # A fresh mapping per tensor: pages read for one tensor leave the process with
      # it, instead of a whole multi-GB shard staying resident until the file closes.
      with safe_open(str(path), framework='pt') as f:
        yield key, to_numpy(f.get_tensor(key))
    return
  for key, value in _torch_state_dict(path).items():
    if skip(key):
      continue
    if not isinstance(value, torch_module().Tensor):
      raise ConversionError(f'{path}: key {key!r} holds a {type(value).__name__}, not a tensor')
    yield key, to_numpy(value)


def weight_files(directory: str | pathlib.Path) -> list[pathlib.Path]:
  """The weight shards of a transformers model directory, in index order if indexed."""
  directory = pathlib.Path(directory)
  for index in ('model.safetensors.index.json', 'pytorch_model.bin.index.json'):
    if (directory / index).is_file():
      weight_map = json.loads((directory / index).read_text())['weight_map']
      return [directory / f for f in dict.fromkeys(weight_map.values())]
  for pattern in ('*.safetensors', 'pytorch_model*.bin'):
    files = sorted(directory.glob(pattern))
    if files:
      return files
  raise FileNotFoundError(f'{directory}: no *.safetensors or pytorch_model*.bin weights')
