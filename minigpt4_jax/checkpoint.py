"""The converted-checkpoint format: what ``python -m launch.convert`` writes and
``minigpt4_jax.load`` reads.

  DIR/config.json         {"format": FORMAT, "dtype": stored tower dtype, "groups": [...],
                           "model": ModelConfig}   (written last: marks DIR complete)
  DIR/tokenizer/          the LLM's tokenizer files
  DIR/params/GROUP/       one orbax checkpoint per parameter group; leaves keyed by
                          parameter path with '.' for '/', e.g. 'llm.layers.7.mlp.up_proj.kernel'

Groups are one ViT block (``vision_blocks_007``), one LLM layer (``llm_layers_039``)
or one small module (``vision``, ``ln_vision``, ``qformer``, ``projector``, ``llm``
for embeddings + final norm + head), so writing and reading stream group by group: a
13B LLaMA (26 GB in bf16) never sits whole in host memory. A checkpoint is written
into a hidden sibling directory, fsynced, and renamed into place once complete, so a
killed conversion never leaves anything that looks like a checkpoint.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
from typing import Iterable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from minigpt4_jax import partial_dirs, sharding
from minigpt4_jax.damage import DamagedCheckpoint, damage_reason
from minigpt4_jax.errors import MissingInput, OutputExists
from minigpt4_jax.models.configs import ModelConfig
from minigpt4_jax.models.params import param_table, path_str
from minigpt4_jax.models.quantize import abstract_quantized, set_weight
from minigpt4_jax.models.scanned_layers import unstack_layers
from minigpt4_jax.models.vlm import VisionLanguageModel
from minigpt4_jax.tokenizer import TOKENIZER_FILES

FORMAT = 'minigpt4_jax/1'
CONFIG_FILE = 'config.json'
PARAMS_DIR = 'params'
TOKENIZER_DIR = 'tokenizer'
_PER_LAYER = re.compile(r'(vision/blocks|llm/layers)/(\d+)/')

PathLike = str | os.PathLike


def group_of(path: str) -> str:
  """'llm/layers/7/mlp/up_proj/kernel' -> 'llm_layers_007'; 'qformer/...' -> 'qformer'."""
  match = _PER_LAYER.match(path)
  if match:
    return f'{match.group(1).replace("/", "_")}_{int(match.group(2)):03d}'
  return path.split('/', 1)[0]


def grouped(paths: Iterable[str]) -> dict[str, list[str]]:
  """Parameter paths by group, in first-seen order."""
  out: dict[str, list[str]] = {}
  for p in paths:
    out.setdefault(group_of(p), []).append(p)
  return out


def _leaf_key(path: str) -> str:
  return path.replace('/', '.')  # orbax keeps '/' for its own nesting


def _path(leaf_key: str) -> str:
  return leaf_key.replace('.', '/')  # nnx path entries are identifiers: no '.' of their own


def is_complete(ckpt_dir: PathLike) -> bool:
  """Whether ``ckpt_dir`` is a finished checkpoint (partial writes never have config.json)."""
  return (pathlib.Path(ckpt_dir) / CONFIG_FILE).is_file()


def _metadata(ckpt_dir: PathLike) -> dict:
  path = pathlib.Path(ckpt_dir) / CONFIG_FILE
  if not pathlib.Path(ckpt_dir).is_dir():
    raise MissingInput(f'{ckpt_dir}: no such checkpoint directory')
  if not path.is_file():
    raise MissingInput(f'{ckpt_dir}: no {CONFIG_FILE}; not a (complete) converted checkpoint')
  meta = json.loads(path.read_text())
  if meta.get('format') != FORMAT:
    raise ValueError(f'{path}: format {meta.get("format")!r}, expected {FORMAT!r}')
  return meta


def load_config(ckpt_dir: PathLike) -> ModelConfig:
  """The architecture of a converted checkpoint (any family; older layouts too)."""
  return ModelConfig.from_json(json.dumps(_metadata(ckpt_dir)['model']))


def tokenizer_dir(ckpt_dir: PathLike) -> pathlib.Path:
  """Where the checkpoint's tokenizer lives (``minigpt4_jax.tokenizer.load_tokenizer``)."""
  return pathlib.Path(ckpt_dir) / TOKENIZER_DIR


def _fsync_tree(root: pathlib.Path) -> None:
  """Flushes every file and directory below ``root`` (inclusive) to disk, so the
  rename that publishes a checkpoint never precedes its data after a power loss."""
  for directory, _, files in os.walk(root, topdown=False):
    for name in files:
      _fsync(pathlib.Path(directory) / name)
    _fsync(pathlib.Path(directory))


def _fsync(path: pathlib.Path) -> None:
  fd = os.open(path, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


class CheckpointWriter:
  """Writes a checkpoint group by group into a hidden sibling directory; ``commit``
  publishes it by rename, ``abort`` removes it."""

  def __init__(self, out_dir: PathLike, *, overwrite: bool = False):
    self.out_dir = pathlib.Path(out_dir).absolute()
    if self.out_dir.exists() and not overwrite:
      raise OutputExists(f'{self.out_dir} exists (pass --overwrite, or overwrite=True, to '
                         'replace it)')
    partial_dirs.remove_stale_siblings(self.out_dir)
    # Same parent: the final os.replace is a rename within one filesystem.
    self.tmp_dir = partial_dirs.sibling(self.out_dir, 'partial')
    if self.tmp_dir.exists():
      shutil.rmtree(self.tmp_dir)
    (self.tmp_dir / PARAMS_DIR).mkdir(parents=True)
    self.checkpointer = ocp.StandardCheckpointer()
    self.groups: list[str] = []

  def write_group(self, group: str, arrays: Mapping[str, np.ndarray | jax.Array]) -> None:
    """Writes one group (``path -> array``) and waits, so its memory can be released."""
    self.checkpointer.save(self.tmp_dir / PARAMS_DIR / group,
                           {_leaf_key(p): a for p, a in arrays.items()})
    self.checkpointer.wait_until_finished()
    self.groups.append(group)

  def commit(self, cfg: ModelConfig, dtype: str,
             tokenizer_files: Iterable[PathLike] = ()) -> None:
    """Adds the tokenizer and config.json, flushes everything, and renames into place."""
    (self.tmp_dir / TOKENIZER_DIR).mkdir()
    for f in tokenizer_files:
      shutil.copy2(f, self.tmp_dir / TOKENIZER_DIR)
    meta = {'format': FORMAT, 'dtype': dtype, 'groups': sorted(self.groups),
            'model': json.loads(cfg.to_json())}
    (self.tmp_dir / CONFIG_FILE).write_text(json.dumps(meta, indent=2))
    self.checkpointer.close()
    _fsync_tree(self.tmp_dir)
    old = partial_dirs.sibling(self.out_dir, 'old')
    if self.out_dir.exists():  # overwrite: the old one stays whole until the new one is in
      os.replace(self.out_dir, old)
    os.replace(self.tmp_dir, self.out_dir)
    _fsync(self.out_dir.parent)
    shutil.rmtree(old, ignore_errors=True)

  def abort(self) -> None:
    self.checkpointer.close()
    shutil.rmtree(self.tmp_dir, ignore_errors=True)


def read_group(ckpt_dir: PathLike, group: str,
               abstract: Mapping[str, jax.ShapeDtypeStruct] | None = None) -> dict[str, jax.Array]:
  """One group as ``path -> array``: as stored (numpy) or, given ``abstract``
  ``path -> ShapeDtypeStruct(shape, dtype, sharding=...)``, cast and placed in its shards."""
  directory = pathlib.Path(ckpt_dir).absolute() / PARAMS_DIR / group
  target = None if abstract is None else {_leaf_key(p): a for p, a in abstract.items()}
  with ocp.StandardCheckpointer() as checkpointer:
    try:
      restored = checkpointer.restore(directory, target)
    except Exception as err:  # orbax/TensorStore raise many types; all mean unreadable here
      raise DamagedCheckpoint(f'{directory}: group {group} of this converted checkpoint is '
                              f'damaged: {damage_reason(err)}; convert it again') from err
  return {_path(k): v for k, v in restored.items()}


def save(model: VisionLanguageModel, out_dir: PathLike, tokenizer_dir: PathLike | None,
         dtype=None, *, overwrite: bool = False) -> None:
  """Saves an in-memory model (tests, the tiny demo, exported training runs).

  Args:
    model: the model; gathered to host one group at a time (a scanned model's
      stacked blocks are sliced per layer first, on device).
    out_dir: the checkpoint directory to create.
    tokenizer_dir: a directory holding the tokenizer files to bundle (or None).
    dtype: storage dtype of the frozen towers (default: as they are); the projector
      is always stored as it is (float32).
    overwrite: replace an existing ``out_dir`` (atomically).
  """
  # Scanned blocks are written per layer, as the converter writes them.
  table = unstack_layers({p: v[...] for p, v in param_table(model).items()})
  writer = CheckpointWriter(out_dir, overwrite=overwrite)
  try:
    for group, paths in grouped(table).items():
      writer.write_group(group, {p: _stored(p, np.asarray(table[p]), dtype) for p in paths})
    writer.commit(model.cfg, _tower_dtype(table, dtype),
                  tokenizer_files(tokenizer_dir) if tokenizer_dir is not None else ())
  except BaseException:
    writer.abort()
    raise


def tokenizer_files(directory: PathLike) -> list[pathlib.Path]:
  """The tokenizer files present in ``directory`` (a LLaMA directory or a checkpoint's)."""
  return [pathlib.Path(directory) / f for f in TOKENIZER_FILES
          if (pathlib.Path(directory) / f).is_file()]


def _is_projector(path: str) -> bool:
  return path.startswith('projector/')


def _stored(path: str, array: np.ndarray, dtype) -> np.ndarray:
  if dtype is None or _is_projector(path):
    return array
  return array.astype(jnp.dtype(dtype))


def _tower_dtype(table: Mapping[str, jax.Array], dtype) -> str:
  if dtype is not None:
    return jnp.dtype(dtype).name
  names = {jnp.dtype(v.dtype).name for p, v in table.items() if not _is_projector(p)}
  return names.pop() if len(names) == 1 else 'mixed'


def load(ckpt_dir: PathLike, dtype=jnp.bfloat16, mesh: jax.sharding.Mesh | None = None, *,
         remat: str = 'none', quantize: str = 'none') -> VisionLanguageModel:
  """The model of a converted checkpoint, restored straight into its shards.

  The model is built abstractly (``nnx.eval_shape``) and each group is restored by
  orbax directly into the parameters' shardings, so no unsharded copy is ever made;
  with ``quantize='int8'`` each group's kernels are quantized as the group arrives, so
  the float model is never whole in memory (the peak is the int8 model plus one group).

  Args:
    ckpt_dir: a directory written by ``launch.convert`` or ``save``.
    dtype: parameter and compute dtype of the frozen towers, cast on restore
      whatever the stored dtype; the projector stays float32, as MiniGPT-4 keeps
      ``llama_proj`` in fp32.
    mesh: where to place the parameters, sharded by ``sharding.LOGICAL_RULES``
      (e.g. ``sharding.make_mesh(fsdp=-1)``). Default: a one-device mesh on the first
      device, which suits a single accelerator or host; pass a mesh to spread a
      large model over several.
    remat: the LLM blocks' rematerialisation policy (``models.llama.REMAT_POLICIES``).
    quantize: 'none' or 'int8' (``models.quantize.quantize_int8``'s weights).
  """
  cfg = load_config(ckpt_dir)
  if mesh is None:
    mesh = sharding.make_mesh(devices=jax.local_devices()[:1])

  def create() -> VisionLanguageModel:
    return VisionLanguageModel(cfg, dtype=dtype, param_dtype=dtype, remat=remat, rngs=nnx.Rngs(0))

  stored = nnx.eval_shape(create)  # the float parameters, as the groups hold them
  model = abstract_quantized(create, quantize)
  sharding_of = param_shardings(stored, mesh)
  table = param_table(stored)
  for group, paths in grouped(table).items():
    abstract = {p: jax.ShapeDtypeStruct(table[p].shape, table[p].dtype, sharding=sharding_of[p])
                for p in paths}
    for p, array in read_group(ckpt_dir, group, abstract).items():
      set_weight(model, p, array)
  return model


def param_shardings(model: VisionLanguageModel, mesh: jax.sharding.Mesh) -> dict[str, jax.sharding.Sharding]:
  """``path -> NamedSharding`` for every parameter, keyed like ``param_table(model)``."""
  shardings = sharding.state_shardings(nnx.state(model, nnx.Param), mesh)
  return {path_str(p).removesuffix('/.value'): s
          for p, s in jax.tree_util.tree_leaves_with_path(shardings)}
