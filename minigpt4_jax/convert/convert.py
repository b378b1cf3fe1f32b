"""The converter's machinery, shared by every family: stream tensors into one checkpoint.

A family module (``minigpt4_jax.families``) makes a ``Plan``: the architecture its
files describe and the ``Read``s (files + mapping table + the parameter prefixes they
must fill). ``write_plan`` then reads tensors one at a time, places them by the tables,
and writes each parameter group (and releases it) as soon as its last tensor arrives,
so peak host memory stays near one group (a ViT block, an LLM layer).
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minigpt4_jax import checkpoint
from minigpt4_jax.convert.assign import ParamSlots, map_tensors
from minigpt4_jax.convert.tables import Layout
from minigpt4_jax.convert.torch_io import iter_tensors
from minigpt4_jax.models.configs import ModelConfig
from minigpt4_jax.models.params import param_table
from minigpt4_jax.models.projectors import make_projector
from minigpt4_jax.models.vlm import VisionLanguageModel


@dataclasses.dataclass(frozen=True)
class Read:
  """Files read with one layout, and the parameter prefixes they must fill completely."""

  name: str
  files: tuple[pathlib.Path, ...]
  layout: Layout
  fills: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Plan:
  """What to read, in which order, and the architecture those files describe."""

  reads: tuple[Read, ...]
  cfg: ModelConfig
  tokenizer_files: tuple[pathlib.Path, ...]


class _GroupFlusher:
  """Fills parameters; writes each group once all its tensors are in, then frees it."""

  def __init__(self, slots: ParamSlots, writer: checkpoint.CheckpointWriter):
    self.slots = slots
    self.writer = writer
    self.paths = checkpoint.grouped(slots.slots)
    self.remaining = {g: set(paths) for g, paths in self.paths.items()}

  def fill(self, path: str, array: np.ndarray, *, source: str, key: str) -> None:
    self.slots.fill(path, array, source=source, key=key)
    group = checkpoint.group_of(path)
    self.remaining[group].discard(path)
    if self.remaining[group]:
      return
    self.writer.write_group(group, {p: self.slots.slots[p][...] for p in self.paths[group]})
    for p in self.paths[group]:  # release: back to an abstract value
      slot = self.slots.slots[p]
      slot.set_value(jax.ShapeDtypeStruct(slot.shape, slot.dtype))
    logging.info('wrote %s', group)


def fresh_parameters(plan: Plan, seed: int) -> dict[str, np.ndarray]:
  """Parameters no source provides: a seeded projector where no read fills one (stage 1
  starts from it) and, for the patch_group connector, ln_vision at ones/zeros (the
  original never loads it there)."""
  out = {}
  if not any('projector/' in read.fills for read in plan.reads):
    cfg = plan.cfg
    projector = make_projector(cfg.projector, cfg.projector_in, cfg.llm.hidden, rngs=nnx.Rngs(seed))
    out.update({f'projector/{p}': np.asarray(v[...]) for p, v in param_table(projector).items()})
  if plan.cfg.connector == 'patch_group':
    out['ln_vision/scale'] = np.ones((plan.cfg.vision.width,), np.float32)
    out['ln_vision/bias'] = np.zeros((plan.cfg.vision.width,), np.float32)
  return out


def write_checkpoint(model: nnx.Module, reads: Sequence[Read], fresh: dict[str, np.ndarray],
                     cfg, dtype: jnp.dtype, tokenizer_files: Sequence[pathlib.Path],
                     out_dir: str | pathlib.Path, overwrite: bool) -> None:
  """Streams ``fresh`` parameters and then every read's tensors into the abstract
  ``model``'s slots, writing each group as soon as it is complete; commits only when
  every parameter is filled exactly once, else leaves nothing at ``out_dir``."""
  slots = ParamSlots(model)
  writer = checkpoint.CheckpointWriter(out_dir, overwrite=overwrite)
  try:
    flusher = _GroupFlusher(slots, writer)
    for path, array in fresh.items():
      flusher.fill(path, array, source='initialisation', key=path)
    for read in reads:
      for file in read.files:
        logging.info('reading %s', file)
        tensors = iter_tensors(file, skip=read.layout.is_unused)
        for key, path, array in map_tensors(read.layout, tensors, str(file)):
          flusher.fill(path, array, source=str(file), key=key)
      for prefix in read.fills:
        slots.check_complete(prefix, source=read.name)
    slots.check_complete(source='all sources')  # guards a module no source claims
    writer.commit(cfg, dtype.name, tokenizer_files)
  except BaseException:
    writer.abort()
    raise


def write_plan(plan: Plan, out_dir: str | pathlib.Path, dtype: str = 'bfloat16', *,
               seed: int = 0, overwrite: bool = False) -> ModelConfig:
  """Writes the converted checkpoint to ``out_dir``; returns its architecture.

  ``dtype`` is the storage dtype of the frozen towers; the projector stays float32.
  Every source key must be mapped or known-unused, and every parameter filled
  exactly once; any mismatch raises ``ConversionError`` naming the file and key, and
  leaves nothing at ``out_dir``.
  """
  jdtype = jnp.dtype(dtype)
  model = nnx.eval_shape(lambda: VisionLanguageModel(plan.cfg, dtype=jdtype, param_dtype=jdtype,
                                                     rngs=nnx.Rngs(seed)))
  write_checkpoint(model, plan.reads, fresh_parameters(plan, seed), plan.cfg, jdtype,
                   plan.tokenizer_files, out_dir, overwrite)
  return plan.cfg
