"""Converts the released MiniGPT-4 files into one JAX checkpoint, streaming.

Sources: LAVIS ``eva_vit_g.pth`` (or a transformers BLIP-2 directory) for the ViT;
LAVIS ``blip2_pretrained_flant5xxl.pth`` (or the same BLIP-2 directory) for the
Q-Former, its query tokens and ln_vision; a transformers LLaMA/Vicuna directory;
optionally MiniGPT-4's ``pretrained_minigpt4*.pth`` projector. Tensors are read one
at a time, placed by the mapping tables, and each parameter group is written (and
released) as soon as its last tensor arrives, so peak memory stays near one group.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from transformers import Blip2Config

from minigpt4_jax import checkpoint
from minigpt4_jax.convert import architecture, tables
from minigpt4_jax.convert.assign import ConversionError, ParamSlots, map_tensors, param_table
from minigpt4_jax.convert.tables import Layout
from minigpt4_jax.convert.torch_io import iter_tensors, tensor_shapes, weight_files
from minigpt4_jax.models import MiniGPT4
from minigpt4_jax.models.configs import MiniGPT4Config
from minigpt4_jax.models.minigpt4 import make_projector
from minigpt4_jax.tokenizer import TOKENIZER_FILES


@dataclasses.dataclass(frozen=True)
class Sources:
  llm: pathlib.Path
  vision: pathlib.Path | None = None      # LAVIS EVA file
  qformer: pathlib.Path | None = None     # LAVIS BLIP-2 file
  blip2: pathlib.Path | None = None       # transformers BLIP-2 directory
  projector: pathlib.Path | None = None   # MiniGPT-4 llama_proj file
  vision_heads: int | None = None
  qformer_heads: int | None = None


def _strip_prefix(shapes: dict, prefix: str) -> tuple[dict, str]:
  """A MiniGPT-4/LAVIS full state dict prefixes the ViT with ``visual_encoder.``."""
  if shapes and all(k.startswith(prefix) for k in shapes):
    return {k[len(prefix):]: v for k, v in shapes.items()}, prefix
  return shapes, ''


def _blip2_vision_config(directory: pathlib.Path) -> dict:
  """transformers omits defaults from config.json; its config class restores them."""
  if not (directory / 'config.json').is_file():
    raise FileNotFoundError(f'{directory}/config.json: missing (expected a transformers '
                            f'Blip2Model directory)')
  return Blip2Config.from_pretrained(str(directory)).vision_config.to_dict()


@dataclasses.dataclass
class _Plan:
  """What to read: (file, layout, key prefix to strip) in order, and the architecture."""
  reads: list[tuple[pathlib.Path, Layout, str]]
  cfg: MiniGPT4Config


def plan(src: Sources) -> _Plan:
  reads = []
  if src.blip2 is not None:
    files = weight_files(src.blip2)
    shapes = {k: s for f in files for k, s in tensor_shapes(f).items()}
    vision = architecture.eva_from_hf(shapes, _blip2_vision_config(src.blip2), str(src.blip2))
    qformer = architecture.qformer_from_lavis(shapes, str(src.blip2), src.qformer_heads,
                                              prefix='qformer.encoder.layer.')
    reads += [(f, tables.BLIP2_HF, '') for f in files]
  else:
    if src.vision is None:
      raise ConversionError('--vision (eva_vit_g.pth) or --blip2 is required')
    shapes, prefix = _strip_prefix(tensor_shapes(src.vision), 'visual_encoder.')
    vision, blocks_in_file = architecture.eva_from_lavis(shapes, str(src.vision), src.vision_heads)
    # MiniGPT-4 builds blocks 0..N-2; the file's last block is deliberately unused.
    eva = dataclasses.replace(tables.EVA_LAVIS, unused=tables.EVA_LAVIS.unused + (
        rf'blocks\.{blocks_in_file - 1}\..*',))
    reads.append((src.vision, eva, prefix))
    qformer = None
    if src.qformer is not None:
      qformer = architecture.qformer_from_lavis(tensor_shapes(src.qformer), str(src.qformer),
                                                src.qformer_heads)
      reads.append((src.qformer, tables.QFORMER_LAVIS, ''))
  llm = architecture.llama_from_dir(src.llm)
  reads += [(f, tables.LLAMA_HF, '') for f in weight_files(src.llm)]
  if src.projector is not None:
    reads.append((src.projector, tables.PROJECTOR_MINIGPT4, ''))
  return _Plan(reads, MiniGPT4Config(vision=vision, qformer=qformer, llm=llm))


class _GroupFlusher:
  """Writes each parameter group once all its tensors are filled, then frees them."""

  def __init__(self, slots: ParamSlots, writer: checkpoint.CheckpointWriter):
    self.slots = slots
    self.writer = writer
    self.remaining = {g: set(paths) for g, paths in checkpoint.grouped(slots.slots).items()}

  def filled(self, path: str) -> None:
    group = checkpoint.group_of(path)
    self.remaining[group].discard(path)
    if not self.remaining[group]:
      paths = checkpoint.grouped(self.slots.slots)[group]
      self.writer.write_group(group, {p: self.slots.slots[p][...] for p in paths})
      for p in paths:  # release: back to an abstract value
        slot = self.slots.slots[p]
        slot.set_value(jax.ShapeDtypeStruct(slot.shape, slot.dtype))
      del self.remaining[group]
      logging.info('wrote %s', group)


def _fresh_parameters(cfg: MiniGPT4Config, has_projector: bool, seed: int) -> dict[str, np.ndarray]:
  """Parameters no source provides: a seeded projector (stage 1 starts from it) and,
  without a Q-Former, ln_vision at ones/zeros (MiniGPT-4 never loads it there)."""
  out = {}
  if not has_projector:
    projector = make_projector(cfg, rngs=nnx.Rngs(seed))
    out.update({f'projector/{p}': np.asarray(v[...]) for p, v in param_table(projector).items()})
  if cfg.qformer is None:
    out['ln_vision/scale'] = np.ones((cfg.vision.width,), np.float32)
    out['ln_vision/bias'] = np.zeros((cfg.vision.width,), np.float32)
  return out


def convert(src: Sources, out_dir: str | pathlib.Path, dtype: str = 'bfloat16', *,
            seed: int = 0, overwrite: bool = False) -> MiniGPT4Config:
  """Writes the converted checkpoint to ``out_dir``; returns its architecture."""
  p = plan(src)
  jdtype = jnp.dtype(dtype)
  model = nnx.eval_shape(lambda: MiniGPT4(p.cfg, dtype=jdtype, param_dtype=jdtype,
                                          rngs=nnx.Rngs(seed)))
  slots = ParamSlots(model)
  writer = checkpoint.CheckpointWriter(out_dir, overwrite=overwrite)
  try:
    flusher = _GroupFlusher(slots, writer)
    for path, array in _fresh_parameters(p.cfg, src.projector is not None, seed).items():
      slots.fill(path, array, source='initialisation', key=path)
      flusher.filled(path)
    for file, layout, prefix in p.reads:
      items = ((k[len(prefix):], v) for k, v in iter_tensors(file))
      for key, path, array in map_tensors(layout, items, str(file)):
        slots.fill(path, array, source=str(file), key=prefix + key)
        flusher.filled(path)
    slots.check_complete(source='the given files')
    writer.commit(p.cfg, jdtype.name, _tokenizer_source(src.llm))
  except BaseException:
    writer.abort()
    raise
  return p.cfg


def _tokenizer_source(llm_dir: pathlib.Path) -> list[pathlib.Path]:
  files = [llm_dir / f for f in TOKENIZER_FILES if (llm_dir / f).is_file()]
  if not files:
    raise FileNotFoundError(f'{llm_dir}: no tokenizer files ({", ".join(TOKENIZER_FILES)})')
  return files
