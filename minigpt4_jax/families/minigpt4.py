"""MiniGPT-4: EVA ViT-g/14 -> ln_vision -> BLIP-2 Q-Former -> linear -> Vicuna (v0), and the
Llama-2 variant without the Q-Former (4 raster-consecutive patches merged, 5632 -> 4096).

Sources: the original repository (Vision-CAIR/MiniGPT-4) at 22d8888 (the Vicuna v0
release) and ef1ac08 (Llama-2); the paper (arXiv 2304.10592). This module holds the
family's presets, its conversion (LAVIS ``eva_vit_g.pth`` or a transformers BLIP-2
directory for the ViT, ``blip2_pretrained_flant5xxl.pth`` for the Q-Former and
ln_vision, a transformers LLaMA directory, ``pretrained_minigpt4*.pth`` for the
projector), its projector export, templates, preprocessing and trained parameters.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
from typing import Any, Mapping

import numpy as np
from transformers import Blip2Config

from minigpt4_jax import checkpoint
from minigpt4_jax.convert import architecture, tables
from minigpt4_jax.convert.assign import ConversionError
from minigpt4_jax.convert.convert import Plan, Read, write_plan
from minigpt4_jax.convert.export import torch_linear, write_torch
from minigpt4_jax.convert.tables import Layout, linear_weight, rule
from minigpt4_jax.convert.torch_io import files_shapes, tensor_shapes, weight_files
from minigpt4_jax.errors import MissingInput
from minigpt4_jax.families.base import Family
from minigpt4_jax.families.registry import register
from minigpt4_jax.models import configs
from minigpt4_jax.models.configs import EvaVitConfig, ModelConfig, QFormerConfig
from minigpt4_jax.tokenizer import TOKENIZER_FILES

NAME = 'minigpt4'

PRESETS = {
    'vicuna_7b': ModelConfig(family=NAME, llm=configs.vicuna_7b),
    'vicuna_13b': ModelConfig(family=NAME, llm=configs.vicuna_13b),
    'llama2_7b': ModelConfig(family=NAME, connector='patch_group', qformer=None,
                             llm=configs.llama2_7b),
    'tiny': ModelConfig(family=NAME, vision=configs.tiny_vit, qformer=configs.tiny_qformer,
                        llm=configs.tiny_llm),
    'tiny_no_qformer': ModelConfig(family=NAME, vision=configs.tiny_vit, connector='patch_group',
                                   qformer=None, llm=configs.tiny_llm),
}

# Only the projector trains, in both stages (the paper's ablation (c) adds the Q-Former:
# configs/presets.py).
TRAINABLE = {'stage1': ('projector/.*',), 'stage2': ('projector/.*',)}


# The chat at HEAD (minigpt4/conversation/conversation.py, Chat.answer, d94738a) under
# transformers 4.30: min_length 1 counted the BOS its generated sequence starts with (so
# EOS is never banned), and the 1.05 repetition penalty counts that BOS too. Evaluation
# keeps GenerationConfig()'s 1.0.
CHAT_DEFAULTS = {'min_new_tokens': 0, 'repetition_penalty': 1.05, 'starts_with_bos': True}


def chat_template(cfg: ModelConfig) -> str:
  """The template the released model was trained with: Llama-2's for the variant
  without a Q-Former, Vicuna v0's otherwise."""
  return 'vicuna_v0' if cfg.connector == 'qformer' else 'llama2'


# --- conversion ----------------------------------------------------------------------

# MiniGPT-4's released projector (pretrained_minigpt4*.pth['model']).
PROJECTOR_MINIGPT4 = Layout(
    'projector_minigpt4',
    rules=(
        rule(r'llama_proj\.weight', 'projector/kernel', transform=linear_weight),
        rule(r'llama_proj\.bias', 'projector/bias'),
    ),
    # Non-parameter buffers the original saver can sweep in alongside llama_proj.
    unused=(r'.*position_ids', r'.*inv_freq'),
)

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
    raise MissingInput(f'{directory}/config.json: missing (expected a transformers '
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
    raise MissingInput(f'{src.llm}: no tokenizer files ({", ".join(TOKENIZER_FILES)})')
  reads.append(Read(str(src.llm), tuple(weight_files(src.llm)), tables.LLAMA_HF, ('llm/',)))
  cfg = ModelConfig(family=NAME, vision=vision, qformer=qformer, llm=llm,
                    connector='qformer' if qformer is not None else 'patch_group')
  if src.projector is not None:
    _check_projector(tensor_shapes(src.projector), cfg, str(src.projector))
    reads.append(Read(str(src.projector), (src.projector,), PROJECTOR_MINIGPT4,
                      ('projector/',)))
  return Plan(tuple(reads), cfg, tokenizer_files)


def _check_projector(shapes: Shapes, cfg: ModelConfig, source: str) -> None:
  """``llama_proj.weight`` [out, in] says which variant the projector was trained for:
  in = the Q-Former width (Vicuna MiniGPT-4) or 4 x the ViT width (Llama-2, no Q-Former)."""
  found = architecture.required_shape(shapes, 'llama_proj.weight', source)
  expected = (cfg.llm.hidden, cfg.projector_in)
  if found == expected:
    return
  no_qformer_in = cfg.vision.width * cfg.patch_group
  if cfg.connector == 'qformer' and found[1] == no_qformer_in:
    hint = 'it is a no-Q-Former (Llama-2) projector: drop --qformer or pass --no-qformer'
  elif cfg.connector != 'qformer' and found[1] != no_qformer_in:
    hint = f'it takes {found[1]} features, not {no_qformer_in}: a Q-Former projector needs --qformer'
  else:
    hint = f'the LLM hidden size is {cfg.llm.hidden}'
  raise ConversionError(f'{source}: llama_proj.weight has shape {found}, expected {expected}; {hint}')


def add_convert_arguments(group: argparse._ArgumentGroup) -> None:
  group.add_argument('--qformer', type=pathlib.Path,
                     help='LAVIS BLIP-2 file (blip2_pretrained_flant5xxl.pth); omit for the '
                          'no-Q-Former (Llama-2) variant')
  group.add_argument('--blip2', type=pathlib.Path,
                     help='transformers Blip2Model directory, instead of --vision/--qformer')
  group.add_argument('--no-qformer', action='store_true',
                     help='the Llama-2 variant (implied when --vision comes without --qformer)')
  group.add_argument('--qformer-heads', type=int, help='Q-Former heads, for widths other than 768')


def convert(args: argparse.Namespace, out_dir: pathlib.Path, dtype: str, *, seed: int,
            overwrite: bool) -> ModelConfig:
  """``launch.convert --family minigpt4``: ``--llm`` and ``--projector`` are shared flags."""
  if args.llm is None:
    raise ConversionError('--llm (the LLaMA/Vicuna directory) is required')
  return write_plan(plan(Sources(llm=args.llm, vision=args.vision, qformer=args.qformer,
                                 blip2=args.blip2, projector=args.projector,
                                 no_qformer=args.no_qformer, vision_heads=args.vision_heads,
                                 qformer_heads=args.qformer_heads)),
                    out_dir, dtype, seed=seed, overwrite=overwrite)


def export_projector(params: Mapping[str, np.ndarray], out_path: Any) -> None:
  """``{'model': {'llama_proj.weight': [out, in], 'llama_proj.bias': [out]}}``, which the
  original loads with ``ckpt['model']`` (strict=False), float32."""
  if set(params) != {'kernel', 'bias'}:
    raise ConversionError(f'projector has {sorted(params)}; only the linear projector '
                          f'(kernel, bias) exists in MiniGPT-4\'s format')
  write_torch({'model': torch_linear(params, '', 'llama_proj')}, out_path)


FAMILY = register(Family(
    name=NAME, title='MiniGPT-4', presets=PRESETS, chat_template=chat_template,
    image_transform='resize', trainable=TRAINABLE, chat_defaults=CHAT_DEFAULTS,
    add_convert_arguments=add_convert_arguments,
    convert=convert, export_projector=export_projector))
