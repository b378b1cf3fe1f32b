"""Converts LLaVA into one JAX checkpoint (the format of ``checkpoint.py``), streaming.

Two source forms:
  * a ``llava-hf`` directory (transformers ``LlavaForConditionalGeneration``: vision
    tower, ``multi_modal_projector``, language model, tokenizer, ``config.json``);
  * LLaVA's original pieces: a CLIP directory (``openai/clip-vit-large-patch14-336``),
    a LLaMA/Vicuna directory, and optionally the ``mm_projector.bin`` that stage 1
    saves (without it the projector starts fresh, for stage 1).
Sizes come from the tensors, heads / eps / activation / feature layer from config.json.
The streaming and group writing are ``convert.py``'s.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import re

import jax.numpy as jnp
import numpy as np
from flax import nnx
from transformers import AutoConfig, LlavaConfig as HFLlavaConfig

from minigpt4_jax import checkpoint
from minigpt4_jax.convert import llava_tables
from minigpt4_jax.convert.architecture import (Shapes, consecutive_count, llama_from_dir,
                                               matching_indices, required_shape)
from minigpt4_jax.convert.assign import ConversionError, param_table
from minigpt4_jax.convert.convert import Read, write_checkpoint
from minigpt4_jax.convert.tables import LLAMA_HF, Layout
from minigpt4_jax.convert.torch_io import files_shapes, tensor_shapes, weight_files
from minigpt4_jax.models.configs import LlamaConfig, ProjectorKind
from minigpt4_jax.models.llava import LLaVA
from minigpt4_jax.models.llava_config import ClipVitConfig, LLaVAConfig
from minigpt4_jax.models.minigpt4 import make_projector
from minigpt4_jax.tokenizer import TOKENIZER_FILES


@dataclasses.dataclass(frozen=True)
class LLaVASources:
  """The files to convert, as given on the command line."""

  llava: pathlib.Path | None = None      # llava-hf directory (everything)
  clip: pathlib.Path | None = None       # transformers CLIP directory
  llm: pathlib.Path | None = None        # transformers LLaMA/Vicuna directory
  projector: pathlib.Path | None = None  # LLaVA's mm_projector.bin
  projector_kind: ProjectorKind = 'mlp2x_gelu'  # of a fresh projector (no mm_projector.bin)
  select_layer: int = -2                 # LLaVA's mm_vision_select_layer (pieces only)


@dataclasses.dataclass(frozen=True)
class LLaVAPlan:
  reads: tuple[Read, ...]
  cfg: LLaVAConfig
  tokenizer_files: tuple[pathlib.Path, ...]


def clip_architecture(shapes: Shapes, hf_vision: dict, select_layer: int, prefix: str,
                      source: str) -> tuple[ClipVitConfig, int]:
  """(the tower LLaVA builds, layers in the file). ``select_layer`` counts as
  transformers' ``hidden_states`` index: -2 = the second-to-last layer's output, so
  ``depth`` = layers - 1 and the last layer is left unread."""
  layers = consecutive_count(
      matching_indices(shapes, re.escape(prefix) + r'encoder\.layers\.(\d+)\..*'),
      'CLIP layers', source)
  depth = select_layer if select_layer >= 0 else layers + 1 + select_layer
  if not 1 <= depth <= layers:
    raise ConversionError(f'{source}: feature layer {select_layer} is outside the tower\'s '
                          f'{layers} layers')
  act = hf_vision.get('hidden_act', 'quick_gelu')
  if act not in ('quick_gelu', 'gelu'):
    raise ConversionError(f'{source}/config.json: vision hidden_act={act!r}; expected '
                          f'"quick_gelu" or "gelu"')
  patch = required_shape(shapes, prefix + 'embeddings.patch_embedding.weight', source)[-1]
  positions = required_shape(shapes, prefix + 'embeddings.position_embedding.weight', source)[0]
  grid = math.isqrt(positions - 1)  # one position per patch, plus CLS
  cfg = ClipVitConfig(
      image_size=grid * patch, patch_size=patch,
      width=required_shape(shapes, prefix + 'embeddings.class_embedding', source)[-1], depth=depth,
      num_heads=hf_vision['num_attention_heads'],
      mlp_dim=required_shape(shapes, prefix + 'encoder.layers.0.mlp.fc1.weight', source)[0],
      layer_norm_eps=hf_vision.get('layer_norm_eps', 1e-5), act=act)
  return cfg, layers


def _vision_prefix(shapes: Shapes, candidates: tuple[str, ...], source: str) -> str:
  """The prefix the CLIP embeddings sit under (hub files and transformers 5 differ)."""
  for prefix in candidates:
    if prefix + 'embeddings.class_embedding' in shapes:
      return prefix
  raise ConversionError(f'{source}: no CLIP embeddings.class_embedding under any of {candidates}')


def _llava_hf(src: LLaVASources) -> tuple[LLaVAConfig, list[Read], pathlib.Path]:
  if not (src.llava / 'config.json').is_file():
    raise FileNotFoundError(f'{src.llava}/config.json: missing (expected a llava-hf '
                            f'LlavaForConditionalGeneration directory)')
  hf = HFLlavaConfig.from_pretrained(str(src.llava))
  where = f'{src.llava}/config.json'
  if hf.vision_feature_select_strategy != 'default':
    raise ConversionError(f'{where}: vision_feature_select_strategy='
                          f'{hf.vision_feature_select_strategy!r}; LLaVA drops CLS ("default")')
  if not isinstance(hf.vision_feature_layer, int):
    raise ConversionError(f'{where}: vision_feature_layer={hf.vision_feature_layer!r}; '
                          f'one layer expected')
  if hf.projector_hidden_act != 'gelu' or not hf.multimodal_projector_bias:
    raise ConversionError(f'{where}: projector_hidden_act={hf.projector_hidden_act!r}, '
                          f'bias={hf.multimodal_projector_bias}; expected LLaVA-1.5\'s gelu with bias')
  files = tuple(weight_files(src.llava))
  shapes = files_shapes(files)
  nested = 'lm_head.weight' in shapes  # see llava_tables.llava_hf
  towers = 'model.vision_tower.' if nested else 'vision_tower.'
  prefix = _vision_prefix(shapes, (towers + 'vision_model.', towers), str(src.llava))
  vision, layers = clip_architecture(shapes, hf.vision_config.to_dict(), hf.vision_feature_layer,
                                     prefix, str(src.llava))
  llm = LlamaConfig.from_hf_config(hf.text_config.to_dict())
  cfg = LLaVAConfig(vision=vision, llm=llm, projector='mlp2x_gelu')
  read = Read(str(src.llava), files,
              llava_tables.llava_hf(prefix, vision.depth, layers, nested=nested),
              ('vision/', 'projector/', 'llm/'))
  return cfg, [read], src.llava


def _projector_kind(shapes: Shapes, cfg: LLaVAConfig, source: str) -> tuple[ProjectorKind, Layout]:
  """mm_projector.bin's kind from its keys, its shapes checked against the towers."""
  if 'model.mm_projector.0.weight' in shapes:
    kind, layout, first, last = ('mlp2x_gelu', llava_tables.PROJECTOR_LLAVA_MLP2X,
                                 'model.mm_projector.0.weight', 'model.mm_projector.2.weight')
  elif 'model.mm_projector.weight' in shapes:
    kind, layout = 'linear', llava_tables.PROJECTOR_LLAVA_LINEAR
    first = last = 'model.mm_projector.weight'
  else:
    raise ConversionError(f'{source}: no model.mm_projector.0.weight (mlp2x_gelu) or '
                          f'model.mm_projector.weight (linear); keys: {sorted(shapes)[:6]}')
  if shapes[first][1] != cfg.vision.width or shapes[last][0] != cfg.llm.hidden:
    raise ConversionError(f'{source}: {kind} projector maps {shapes[first][1]} -> '
                          f'{shapes[last][0]}; the towers need {cfg.vision.width} -> {cfg.llm.hidden}')
  return kind, layout


def _pieces(src: LLaVASources) -> tuple[LLaVAConfig, list[Read], pathlib.Path]:
  if src.llm is None:
    raise ConversionError('--clip needs --llm (the LLaMA/Vicuna directory)')
  if not (src.clip / 'config.json').is_file():
    raise FileNotFoundError(f'{src.clip}/config.json: missing (expected a transformers CLIP '
                            f'directory)')
  hf = AutoConfig.from_pretrained(str(src.clip))
  hf_vision = getattr(hf, 'vision_config', hf).to_dict()  # CLIPModel or CLIPVisionModel
  files = tuple(weight_files(src.clip))
  shapes = files_shapes(files)
  prefix = _vision_prefix(shapes, ('vision_model.', ''), str(src.clip))
  vision, layers = clip_architecture(shapes, hf_vision, src.select_layer, prefix, str(src.clip))
  clip_layout = (llava_tables.CLIP_HF
                 .also_unused(*llava_tables.clip_layers_unused(vision.depth, layers))
                 .prefixed(prefix).also_unused(*llava_tables.CLIP_TEXT_SIDE))
  reads = [Read(str(src.clip), files, clip_layout, ('vision/',)),
           Read(str(src.llm), tuple(weight_files(src.llm)), LLAMA_HF, ('llm/',))]
  cfg = LLaVAConfig(vision=vision, llm=llama_from_dir(src.llm), projector=src.projector_kind)
  if src.projector is not None:
    kind, layout = _projector_kind(tensor_shapes(src.projector), cfg, str(src.projector))
    cfg = dataclasses.replace(cfg, projector=kind)
    reads.append(Read(str(src.projector), (src.projector,), layout, ('projector/',)))
  return cfg, reads, src.llm


def plan(src: LLaVASources) -> LLaVAPlan:
  """What to read, and the architecture those files describe."""
  if (src.llava is None) == (src.clip is None):
    raise ConversionError('pass --llava (a llava-hf directory) or --clip with --llm, not both')
  if src.llava is not None and (src.llm is not None or src.projector is not None):
    raise ConversionError('--llava holds the LLM and the projector: drop --llm/--projector')
  cfg, reads, tokenizer_source = _llava_hf(src) if src.llava is not None else _pieces(src)
  tokenizer_files = tuple(checkpoint.tokenizer_files(tokenizer_source))
  if not tokenizer_files:  # checked before hours of conversion, not after
    raise FileNotFoundError(f'{tokenizer_source}: no tokenizer files ({", ".join(TOKENIZER_FILES)})')
  return LLaVAPlan(tuple(reads), cfg, tokenizer_files)


def convert_llava(src: LLaVASources, out_dir: str | pathlib.Path, dtype: str = 'bfloat16', *,
                  seed: int = 0, overwrite: bool = False) -> LLaVAConfig:
  """Writes the converted checkpoint to ``out_dir``; returns its architecture.

  ``dtype`` is the storage dtype of the towers; the projector stays float32. As in
  ``convert.convert``, every source key must be mapped or known-unused and every
  parameter filled exactly once, else ``ConversionError`` and nothing at ``out_dir``.
  """
  p = plan(src)
  jdtype = jnp.dtype(dtype)
  model = nnx.eval_shape(lambda: LLaVA(p.cfg, dtype=jdtype, param_dtype=jdtype,
                                       rngs=nnx.Rngs(seed)))
  fresh = {}
  if src.llava is None and src.projector is None:
    # Stage 1 starts from a seeded projector, as LLaVA's does from a fresh one.
    fresh = {f'projector/{path}': np.asarray(value[...])
             for path, value in param_table(make_projector(p.cfg, rngs=nnx.Rngs(seed))).items()}
  write_checkpoint(model, p.reads, fresh, p.cfg, jdtype, p.tokenizer_files, out_dir, overwrite)
  return p.cfg
