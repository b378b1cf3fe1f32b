"""The converted-checkpoint format: what ``python -m launch.convert`` writes and
``minigpt4_jax.load`` reads.

  DIR/config.json         {"format": FORMAT, "dtype": ..., "model": MiniGPT4Config}
  DIR/tokenizer/          the LLM's tokenizer files
  DIR/params/GROUP/       one orbax checkpoint per parameter group

Groups are a ViT block, an LLM layer, or a small module (embeddings, Q-Former,
projector), so writing and reading stream group by group: a 13B LLaMA (26 GB in
bf16) never has to sit whole in host memory. A checkpoint is written into a
temporary sibling directory and renamed into place once complete, so a killed
conversion never leaves something that looks like a checkpoint.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
from typing import Iterable

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from minigpt4_jax import sharding
from minigpt4_jax.convert.assign import param_table, path_str
from minigpt4_jax.models import MiniGPT4
from minigpt4_jax.models.configs import MiniGPT4Config
from minigpt4_jax.tokenizer import TOKENIZER_FILES

FORMAT = 'minigpt4_jax/1'
CONFIG_FILE = 'config.json'
_PER_LAYER = re.compile(r'(vision/blocks|llm/layers)/(\d+)/')


def group_of(path: str) -> str:
  """'llm/layers/7/mlp/up_proj/kernel' -> 'llm_layers_007'; 'qformer/...' -> 'qformer'."""
  match = _PER_LAYER.match(path)
  if match:
    return f'{match.group(1).replace("/", "_")}_{int(match.group(2)):03d}'
  return path.split('/', 1)[0]


def _leaf_key(path: str) -> str:
  return path.replace('/', '.')  # orbax keeps '/' for its own nesting


def is_complete(ckpt_dir: str | pathlib.Path) -> bool:
  return (pathlib.Path(ckpt_dir) / CONFIG_FILE).is_file()


def load_config(ckpt_dir: str | pathlib.Path) -> MiniGPT4Config:
  path = pathlib.Path(ckpt_dir) / CONFIG_FILE
  if not path.is_file():
    raise FileNotFoundError(f'{ckpt_dir}: no {CONFIG_FILE}; not a (complete) converted checkpoint')
  meta = json.loads(path.read_text())
  if meta.get('format') != FORMAT:
    raise ValueError(f'{path}: format {meta.get("format")!r}, expected {FORMAT!r}')
  return MiniGPT4Config.from_json(json.dumps(meta['model']))


def tokenizer_dir(ckpt_dir: str | pathlib.Path) -> pathlib.Path:
  return pathlib.Path(ckpt_dir) / 'tokenizer'


class CheckpointWriter:
  """Writes a checkpoint group by group into a temporary directory; ``commit`` renames it."""

  def __init__(self, out_dir: str | pathlib.Path, *, overwrite: bool = False):
    self.out_dir = pathlib.Path(out_dir).absolute()
    if self.out_dir.exists() and not overwrite:
      raise FileExistsError(f'{self.out_dir} exists (pass overwrite to replace it)')
    self.tmp_dir = self.out_dir.parent / f'.{self.out_dir.name}.partial-{os.getpid()}'
    if self.tmp_dir.exists():
      shutil.rmtree(self.tmp_dir)
    (self.tmp_dir / 'params').mkdir(parents=True)
    self.checkpointer = ocp.StandardCheckpointer()
    self.groups: list[str] = []

  def write_group(self, group: str, arrays: dict[str, np.ndarray | jax.Array]) -> None:
    self.checkpointer.save(self.tmp_dir / 'params' / group,
                           {_leaf_key(p): a for p, a in arrays.items()})
    self.checkpointer.wait_until_finished()
    self.groups.append(group)

  def commit(self, cfg: MiniGPT4Config, dtype: str,
             tokenizer_files: Iterable[str | pathlib.Path] = ()) -> None:
    (self.tmp_dir / 'tokenizer').mkdir()
    for f in tokenizer_files:
      shutil.copy2(f, self.tmp_dir / 'tokenizer')
    meta = {'format': FORMAT, 'dtype': dtype, 'groups': sorted(self.groups),
            'model': json.loads(cfg.to_json())}
    # config.json last: its presence is what marks a checkpoint complete.
    (self.tmp_dir / CONFIG_FILE).write_text(json.dumps(meta, indent=2))
    self.checkpointer.close()
    if self.out_dir.exists():
      shutil.rmtree(self.out_dir)
    os.replace(self.tmp_dir, self.out_dir)

  def abort(self) -> None:
    self.checkpointer.close()
    shutil.rmtree(self.tmp_dir, ignore_errors=True)


def grouped(paths: Iterable[str]) -> dict[str, list[str]]:
  out: dict[str, list[str]] = {}
  for p in paths:
    out.setdefault(group_of(p), []).append(p)
  return out


def save(model: MiniGPT4, out_dir: str | pathlib.Path, tokenizer_dir: str | pathlib.Path | None,
         dtype=None, *, overwrite: bool = False) -> None:
  """Saves an in-memory model (tests, the tiny demo, exported training runs).

  ``dtype`` casts the frozen towers (default: keep); the projector stays float32.
  """
  table = param_table(model)
  writer = CheckpointWriter(out_dir, overwrite=overwrite)
  try:
    for group, paths in grouped(table).items():
      writer.write_group(group, {p: _stored(p, np.asarray(table[p][...]), dtype) for p in paths})
    stored = jnp.dtype(dtype).name if dtype is not None else 'as-trained'
    writer.commit(model.cfg, stored, _tokenizer_files(tokenizer_dir))
  except BaseException:
    writer.abort()
    raise


def _tokenizer_files(directory: str | pathlib.Path | None) -> list[pathlib.Path]:
  if directory is None:
    return []
  return [pathlib.Path(directory) / f for f in TOKENIZER_FILES
          if (pathlib.Path(directory) / f).is_file()]


def _stored(path: str, array: np.ndarray, dtype) -> np.ndarray:
  if dtype is None or path.startswith('projector/'):
    return array
  return array.astype(jnp.dtype(dtype))


def load(ckpt_dir: str | pathlib.Path, dtype=jnp.bfloat16,
         mesh: jax.sharding.Mesh | None = None) -> MiniGPT4:
  """The MiniGPT-4 module of a converted checkpoint, restored straight into its shards.

  Args:
    ckpt_dir: a directory written by ``launch.convert`` or ``save``.
    dtype: parameter and compute dtype of the frozen towers (the projector stays f32,
      as MiniGPT-4 keeps ``llama_proj`` in fp32).
    mesh: where to place the parameters (sharded by ``sharding.LOGICAL_RULES``);
      default: the first local device.
  """
  cfg = load_config(ckpt_dir)
  if mesh is None:
    mesh = sharding.make_mesh(devices=jax.devices()[:1])
  model = nnx.eval_shape(lambda: MiniGPT4(cfg, dtype=dtype, param_dtype=dtype, rngs=nnx.Rngs(0)))
  sharding_of = param_shardings(model, mesh)
  table = param_table(model)
  checkpointer = ocp.StandardCheckpointer()
  for group, paths in grouped(table).items():
    target = {_leaf_key(p): jax.ShapeDtypeStruct(table[p].shape, table[p].dtype,
                                                 sharding=sharding_of[p]) for p in paths}
    restored = checkpointer.restore(pathlib.Path(ckpt_dir).absolute() / 'params' / group, target)
    for p in paths:
      table[p].set_value(restored[_leaf_key(p)])
  checkpointer.close()
  return model


def param_shardings(model: MiniGPT4, mesh: jax.sharding.Mesh) -> dict[str, jax.sharding.Sharding]:
  """``path -> NamedSharding`` for every parameter, keyed like ``param_table(model)``."""
  shardings = sharding.state_shardings(nnx.state(model, nnx.Param), mesh)
  return {path_str(p).removesuffix('/.value'): s
          for p, s in jax.tree_util.tree_leaves_with_path(shardings)}
