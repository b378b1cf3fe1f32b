"""Converts the released MiniGPT-4 files into one JAX checkpoint, streaming.

Sources: LAVIS ``eva_vit_g.pth`` (or a transformers BLIP-2 directory) for the ViT;
LAVIS ``blip2_pretrained_flant5xxl.pth`` (or the same BLIP-2 directory) for the
Q-Former, its query tokens and ln_vision; a transformers LLaMA/Vicuna directory;
optionally MiniGPT-4's ``pretrained_minigpt4*.pth`` projector. The architecture is
read from the files (``architecture.py``). Tensors are then read one at a time,
placed by the mapping tables, and each parameter group is written (and released) as
soon as its last tensor arrives, so peak host memory stays near one group.
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
from transformers import Blip2Config

from minigpt4_jax import checkpoint
from minigpt4_jax.convert import architecture, tables
from minigpt4_jax.convert.assign import ConversionError, ParamSlots, map_tensors, param_table
from minigpt4_jax.convert.tables import Layout
from minigpt4_jax.convert.torch_io import files_shapes, iter_tensors, tensor_shapes, weight_files
from minigpt4_jax.models import MiniGPT4
from minigpt4_jax.models.configs import EvaVitConfig, MiniGPT4Config, QFormerConfig
from minigpt4_jax.models.minigpt4 import make_projector
from minigpt4_jax.tokenizer import TOKENIZER_FILES

# MiniGPT-4's full model state dict nests the ViT under this prefix.
VISION_PREFIX = 'visual_encoder.'


@dataclasses.dataclass(frozen=True)
class Sources:
  """The files to convert, as given on the command line."""

  llm: pathlib.Path                       # transformers LLaMA/Vicuna directory
  vision: pathlib.Path | None = None      # LAVIS EVA file
  qformer: pathlib.Path | None = None     # LAVIS BLIP-2 file
  blip2: pathlib.Path | None = None       # transformers BLIP-2 directory (vision + Q-Former)
  projector: pathlib.Path | None = None   # MiniGPT-4 llama_proj file
  no_qformer: bool = False                # Llama-2 variant even where a Q-Former is at hand
  vision_heads: int | None = None         # for LAVIS files of widths other than EVA-g
  qformer_heads: int | None = None        # for LAVIS files of widths other than BERT's


@dataclasses.dataclass(frozen=True)
class Read:
  """Files read with one layout, and the parameter prefixes they must fill completely."""

  name: str
  files: tuple[pathlib.Path, ...]
  layout: Layout
  fills: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Plan:
  reads: tuple[Read, ...]
  cfg: MiniGPT4Config
  tokenizer_files: tuple[pathlib.Path, ...]


def _check_flags(src: Sources) -> None:
  if src.blip2 is not None and (src.vision is not None or src.qformer is not None):
    raise ConversionError('--blip2 replaces --vision/--qformer: pass one or the other')
  if src.blip2 is None and src.vision is None:
    raise ConversionError('--vision (eva_vit_g.pth) or --blip2 is required')
  if src.no_qformer and src.qformer is not None:
    raise ConversionError('--no-qformer contradicts --qformer')
  if src.blip2 is not None and (src.vision_heads or src.qformer_heads):
    raise ConversionError(f'--vision-heads/--qformer-heads are for LAVIS files; '
                          f'{src.blip2}/config.json states the heads')


def _strip_prefix(shapes: architecture.Shapes, prefix: str) -> tuple[architecture.Shapes, str]:
  """(shapes without ``prefix``, the prefix) if every key has it, else (shapes, '')."""
  if shapes and all(k.startswith(prefix) for k in shapes):
    return {k[len(prefix):]: v for k, v in shapes.items()}, prefix
  return shapes, ''


def _lavis_towers(src: Sources) -> tuple[EvaVitConfig, QFormerConfig | None, list[Read]]:
  shapes, prefix = _strip_prefix(tensor_shapes(src.vision), VISION_PREFIX)
  vision, blocks_in_file = architecture.eva_from_lavis(shapes, str(src.vision), src.vision_heads)
  # MiniGPT-4 builds blocks 0..N-2; the file's last block is deliberately unused.
  eva = tables.EVA_LAVIS.also_unused(rf'blocks\.{blocks_in_file - 1}\..*').prefixed(prefix)
  reads = [Read(str(src.vision), (src.vision,), eva, ('vision/',))]
  if src.qformer is None:
    return vision, None, reads
  qformer = architecture.qformer_from_lavis(tensor_shapes(src.qformer), str(src.qformer),
                                            src.qformer_heads)
  reads.append(Read(str(src.qformer), (src.qformer,), tables.QFORMER_LAVIS,
                    ('qformer/', 'ln_vision/')))
  return vision, qformer, reads


def _hf_config(directory: pathlib.Path) -> Blip2Config:
  """transformers omits defaults from config.json; its config class restores them."""
  if not (directory / 'config.json').is_file():
    raise FileNotFoundError(f'{directory}/config.json: missing (expected a transformers '
                            f'Blip2Model directory)')
  return Blip2Config.from_pretrained(str(directory))


def _hf_towers(src: Sources) -> tuple[EvaVitConfig, QFormerConfig | None, list[Read]]:
  files = tuple(weight_files(src.blip2))
  shapes = files_shapes(files)
  config = _hf_config(src.blip2)
  vision = architecture.eva_from_hf(shapes, config.vision_config.to_dict(), str(src.blip2))
  if src.no_qformer:
    # The Llama-2 variant has no Q-Former and never loads ln_vision (= post_layernorm).
    layout = tables.BLIP2_HF.also_unused(r'query_tokens', r'qformer\..*',
                                         r'vision_model\.post_layernorm\..*')
    return vision, None, [Read(str(src.blip2), files, layout, ('vision/',))]
  qformer = architecture.qformer_from_hf(shapes, config.qformer_config.to_dict(), str(src.blip2))
  return vision, qformer, [Read(str(src.blip2), files, tables.BLIP2_HF,
                                ('vision/', 'qformer/', 'ln_vision/'))]


def plan(src: Sources) -> Plan:
  """What to read, in which order, and the architecture those files describe."""
  _check_flags(src)
  vision, qformer, reads = _hf_towers(src) if src.blip2 is not None else _lavis_towers(src)
  llm = architecture.llama_from_dir(src.llm)
  tokenizer_files = tuple(checkpoint.tokenizer_files(src.llm))
  if not tokenizer_files:  # checked before hours of conversion, not after
    raise FileNotFoundError(f'{src.llm}: no tokenizer files ({", ".join(TOKENIZER_FILES)})')
  reads.append(Read(str(src.llm), tuple(weight_files(src.llm)), tables.LLAMA_HF, ('llm/',)))
  cfg = MiniGPT4Config(vision=vision, qformer=qformer, llm=llm)
  if src.projector is not None:
    architecture.check_projector(tensor_shapes(src.projector), cfg, str(src.projector))
    reads.append(Read(str(src.projector), (src.projector,), tables.PROJECTOR_MINIGPT4,
                      ('projector/',)))
  return Plan(tuple(reads), cfg, tokenizer_files)


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


def convert(src: Sources, out_dir: str | pathlib.Path, dtype: str = 'bfloat16', *,
            seed: int = 0, overwrite: bool = False) -> MiniGPT4Config:
  """Writes the converted checkpoint to ``out_dir``; returns its architecture.

  ``dtype`` is the storage dtype of the frozen towers; the projector stays float32.
  Every source key must be mapped or known-unused, and every parameter filled
  exactly once; any mismatch raises ``ConversionError`` naming the file and key, and
  leaves nothing at ``out_dir``.
  """
  p = plan(src)
  jdtype = jnp.dtype(dtype)
  model = nnx.eval_shape(lambda: MiniGPT4(p.cfg, dtype=jdtype, param_dtype=jdtype,
                                          rngs=nnx.Rngs(seed)))
  write_checkpoint(model, p.reads, _fresh_parameters(p.cfg, src.projector is not None, seed),
                   p.cfg, jdtype, p.tokenizer_files, out_dir, overwrite)
  return p.cfg

