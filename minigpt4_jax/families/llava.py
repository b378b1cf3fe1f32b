"""LLaVA v1 / 1.5: CLIP ViT-L/14 (second-to-last layer, patch tokens) -> linear or
``mlp2x_gelu`` projector -> Vicuna (haotian-liu/LLaVA: ``llava/model/``,
``llava/conversation.py``, ``scripts/v1_5/*.sh``; transformers ``LlavaForConditionalGeneration``).

Conversion from two source forms:
  * a ``llava-hf`` directory (vision tower, ``multi_modal_projector``, language model,
    tokenizer, ``config.json``);
  * LLaVA's original pieces: a CLIP directory (``openai/clip-vit-large-patch14-336``),
    a LLaMA/Vicuna directory, and optionally the ``mm_projector.bin`` that stage 1
    saves (without it the projector starts fresh, for stage 1).
Sizes come from the tensors, heads / eps / activation / feature layer from config.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import pathlib
import re
from typing import Any, Mapping

import numpy as np
from transformers import AutoConfig, LlavaConfig as HFLlavaConfig

from minigpt4_jax import checkpoint
from minigpt4_jax.convert import tables
from minigpt4_jax.convert.architecture import (Shapes, consecutive_count, llama_from_dir,
                                               matching_indices, required_shape)
from minigpt4_jax.convert.assign import ConversionError
from minigpt4_jax.convert.convert import Plan, Read, write_plan
from minigpt4_jax.convert.export import torch_linear, write_torch
from minigpt4_jax.convert.tables import Layout, Rule, linear_weight, rule
from minigpt4_jax.convert.torch_io import files_shapes, tensor_shapes, weight_files
from minigpt4_jax.errors import MissingInput
from minigpt4_jax.families.base import Family
from minigpt4_jax.families.registry import register
from minigpt4_jax.models import configs
from minigpt4_jax.models.configs import ClipVitConfig, LlamaConfig, ModelConfig, ProjectorKind
from minigpt4_jax.tokenizer import TOKENIZER_FILES

NAME = 'llava'


def _config(vision: ClipVitConfig, llm: LlamaConfig, projector: ProjectorKind) -> ModelConfig:
  """One LLM token per CLIP patch (576 at 336 px), CLS dropped."""
  return ModelConfig(family=NAME, vision=vision, connector='patches', qformer=None, llm=llm,
                     projector=projector)


PRESETS = {
    'llava_v1_7b': _config(configs.clip_vit_l14,
                           dataclasses.replace(configs.vicuna_7b, vocab_size=32000), 'linear'),
    'llava_v15_7b': _config(configs.clip_vit_l14_336, configs.vicuna_v15_7b, 'mlp2x_gelu'),
    'llava_v15_13b': _config(configs.clip_vit_l14_336, configs.vicuna_v15_13b, 'mlp2x_gelu'),
    'tiny_llava': _config(configs.tiny_clip, configs.tiny_llm, 'mlp2x_gelu'),
}

# Stage 1 (feature alignment) trains the projector; stage 2 the projector and the whole
# LLM, or with LoRA (finetune_lora.sh) the projector and the adapters.
TRAINABLE = {
    'stage1': ('projector/.*',),
    'stage2': ('projector/.*', 'llm/.*'),
    'stage2_lora': ('projector/.*', r'llm/.*/lora_[ab]'),
}


def chat_template(cfg: ModelConfig) -> str:
  del cfg  # LLaVA v1 and 1.5 chat in conv_vicuna_v1
  return 'v1'


# --- tables: LLaVA's own files -------------------------------------------------------

# --- LLaVA's mm_projector.bin (stage-1 output; ``model.mm_projector.*``) ---------------
PROJECTOR_LLAVA_MLP2X = Layout(
    'projector_llava_mlp2x_gelu',
    rules=(
        # nn.Sequential(Linear, GELU, Linear): indices 0 and 2.
        rule(r'model\.mm_projector\.0\.weight', 'projector/fc1/kernel', transform=linear_weight),
        rule(r'model\.mm_projector\.0\.bias', 'projector/fc1/bias'),
        rule(r'model\.mm_projector\.2\.weight', 'projector/fc2/kernel', transform=linear_weight),
        rule(r'model\.mm_projector\.2\.bias', 'projector/fc2/bias'),
    ),
)
PROJECTOR_LLAVA_LINEAR = Layout(
    'projector_llava_linear',
    rules=(
        rule(r'model\.mm_projector\.weight', 'projector/kernel', transform=linear_weight),
        rule(r'model\.mm_projector\.bias', 'projector/bias'),
    ),
)

# --- transformers LlavaForConditionalGeneration (llava-hf/*), projector only -----------
PROJECTOR_LLAVA_HF = Layout(
    'projector_llava_hf',
    rules=(
        rule(r'multi_modal_projector\.linear_([12])\.weight', 'projector/fc{0}/kernel',
             transform=linear_weight),
        rule(r'multi_modal_projector\.linear_([12])\.bias', 'projector/fc{0}/bias'),
    ),
)


def _under_language_model(layout: Layout) -> Layout:
  """LLAMA_HF with ``model.`` read as ``model.language_model.`` (``lm_head`` stays on top)."""
  def nest(pattern: str) -> str:
    return pattern.replace(r'model\.', r'model\.language_model\.', 1)
  return Layout(layout.name + '_nested',
                tuple(Rule(nest(r.pattern), r.targets, r.transform) for r in layout.rules),
                tuple(nest(u) for u in layout.unused))


def llava_hf(vision_prefix: str, built: int, in_file: int, *, nested: bool) -> Layout:
  """The llava-hf layout, in either of transformers' two forms:

  * flat (first llava-hf uploads; what transformers 5 writes): ``vision_tower.``
    (+ ``vision_model.`` in hub files), ``multi_modal_projector.``,
    ``language_model.model.*`` and ``language_model.lm_head``;
  * nested (uploads since transformers 4.52): the same under ``model.``, the LLaMA
    body as ``model.language_model.*`` and the head as ``lm_head``.
  """
  vision = tables.CLIP_HF.also_unused(*tables.clip_layers_unused(built, in_file)).prefixed(vision_prefix)
  if nested:
    return tables.combined('llava_hf', vision, PROJECTOR_LLAVA_HF.prefixed('model.'),
                    _under_language_model(tables.LLAMA_HF))
  return tables.combined('llava_hf', vision, PROJECTOR_LLAVA_HF, tables.LLAMA_HF.prefixed('language_model.'))


# --- conversion ----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class LLaVASources:
  """The files to convert, as given on the command line."""

  llava: pathlib.Path | None = None      # llava-hf directory (everything)
  clip: pathlib.Path | None = None       # transformers CLIP directory
  llm: pathlib.Path | None = None        # transformers LLaMA/Vicuna directory
  projector: pathlib.Path | None = None  # LLaVA's mm_projector.bin
  projector_kind: ProjectorKind = 'mlp2x_gelu'  # of a fresh projector (no mm_projector.bin)
  select_layer: int = -2                 # LLaVA's mm_vision_select_layer (pieces only)


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


def _llava_hf(src: LLaVASources) -> tuple[ModelConfig, list[Read], pathlib.Path]:
  if not (src.llava / 'config.json').is_file():
    raise MissingInput(f'{src.llava}/config.json: missing (expected a llava-hf '
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
  nested = 'lm_head.weight' in shapes  # see llava_hf
  towers = 'model.vision_tower.' if nested else 'vision_tower.'
  prefix = _vision_prefix(shapes, (towers + 'vision_model.', towers), str(src.llava))
  vision, layers = clip_architecture(shapes, hf.vision_config.to_dict(), hf.vision_feature_layer,
                                     prefix, str(src.llava))
  llm = LlamaConfig.from_hf_config(hf.text_config.to_dict())
  cfg = _config(vision, llm, 'mlp2x_gelu')
  read = Read(str(src.llava), files,
              llava_hf(prefix, vision.depth, layers, nested=nested),
              ('vision/', 'projector/', 'llm/'))
  return cfg, [read], src.llava


def _projector_kind(shapes: Shapes, cfg: ModelConfig, source: str) -> tuple[ProjectorKind, Layout]:
  """mm_projector.bin's kind from its keys, its shapes checked against the towers."""
  if 'model.mm_projector.0.weight' in shapes:
    kind, layout, first, last = ('mlp2x_gelu', PROJECTOR_LLAVA_MLP2X,
                                 'model.mm_projector.0.weight', 'model.mm_projector.2.weight')
  elif 'model.mm_projector.weight' in shapes:
    kind, layout = 'linear', PROJECTOR_LLAVA_LINEAR
    first = last = 'model.mm_projector.weight'
  else:
    raise ConversionError(f'{source}: no model.mm_projector.0.weight (mlp2x_gelu) or '
                          f'model.mm_projector.weight (linear); keys: {sorted(shapes)[:6]}')
  if shapes[first][1] != cfg.vision.width or shapes[last][0] != cfg.llm.hidden:
    raise ConversionError(f'{source}: {kind} projector maps {shapes[first][1]} -> '
                          f'{shapes[last][0]}; the towers need {cfg.vision.width} -> {cfg.llm.hidden}')
  return kind, layout


def _pieces(src: LLaVASources) -> tuple[ModelConfig, list[Read], pathlib.Path]:
  if src.llm is None:
    raise ConversionError('--clip needs --llm (the LLaMA/Vicuna directory)')
  if not (src.clip / 'config.json').is_file():
    raise MissingInput(f'{src.clip}/config.json: missing (expected a transformers CLIP '
                       f'directory)')
  hf = AutoConfig.from_pretrained(str(src.clip))
  hf_vision = getattr(hf, 'vision_config', hf).to_dict()  # CLIPModel or CLIPVisionModel
  files = tuple(weight_files(src.clip))
  shapes = files_shapes(files)
  prefix = _vision_prefix(shapes, ('vision_model.', ''), str(src.clip))
  vision, layers = clip_architecture(shapes, hf_vision, src.select_layer, prefix, str(src.clip))
  clip_layout = (tables.CLIP_HF
                 .also_unused(*tables.clip_layers_unused(vision.depth, layers))
                 .prefixed(prefix).also_unused(*tables.CLIP_TEXT_SIDE))
  reads = [Read(str(src.clip), files, clip_layout, ('vision/',)),
           Read(str(src.llm), tuple(weight_files(src.llm)), tables.LLAMA_HF, ('llm/',))]
  cfg = _config(vision, llama_from_dir(src.llm), src.projector_kind)
  if src.projector is not None:
    kind, layout = _projector_kind(tensor_shapes(src.projector), cfg, str(src.projector))
    cfg = dataclasses.replace(cfg, projector=kind)
    reads.append(Read(str(src.projector), (src.projector,), layout, ('projector/',)))
  return cfg, reads, src.llm


def plan(src: LLaVASources) -> Plan:
  """What to read, and the architecture those files describe."""
  if (src.llava is None) == (src.clip is None):
    raise ConversionError('pass --llava (a llava-hf directory) or --clip with --llm, not both')
  if src.llava is not None and (src.llm is not None or src.projector is not None):
    raise ConversionError('--llava holds the LLM and the projector: drop --llm/--projector')
  cfg, reads, tokenizer_source = _llava_hf(src) if src.llava is not None else _pieces(src)
  tokenizer_files = tuple(checkpoint.tokenizer_files(tokenizer_source))
  if not tokenizer_files:  # checked before hours of conversion, not after
    raise MissingInput(f'{tokenizer_source}: no tokenizer files ({", ".join(TOKENIZER_FILES)})')
  return Plan(tuple(reads), cfg, tokenizer_files)




def add_convert_arguments(group: argparse._ArgumentGroup) -> None:
  group.add_argument('--llava', type=pathlib.Path,
                     help='a llava-hf (LlavaForConditionalGeneration) directory')
  group.add_argument('--clip', type=pathlib.Path,
                     help='LLaVA from its pieces: a transformers CLIP directory (with --llm)')
  group.add_argument('--projector-kind', default='mlp2x_gelu', choices=('linear', 'mlp2x_gelu'),
                     help='a fresh projector\'s kind (v1: linear, 1.5: mlp2x_gelu)')
  group.add_argument('--vision-select-layer', type=int, default=-2,
                     help='pieces: mm_vision_select_layer (hidden-states index)')


def convert(args: argparse.Namespace, out_dir: pathlib.Path, dtype: str, *, seed: int,
            overwrite: bool) -> ModelConfig:
  """``launch.convert --family llava``: ``--llm`` and ``--projector`` (mm_projector.bin)
  are shared flags."""
  return write_plan(plan(LLaVASources(llava=args.llava, clip=args.clip, llm=args.llm,
                                      projector=args.projector, projector_kind=args.projector_kind,
                                      select_layer=args.vision_select_layer)),
                    out_dir, dtype, seed=seed, overwrite=overwrite)


def export_projector(params: Mapping[str, np.ndarray], out_path: Any) -> None:
  """``mm_projector.bin`` as LLaVA's stage 1 saves it: a plain state dict of
  ``model.mm_projector.weight/bias`` (linear) or ``model.mm_projector.{0,2}.*``
  (``mlp2x_gelu``), float32."""
  if set(params) == {'kernel', 'bias'}:
    state = torch_linear(params, '', 'model.mm_projector')
  elif set(params) == {'fc1/kernel', 'fc1/bias', 'fc2/kernel', 'fc2/bias'}:
    state = {**torch_linear(params, 'fc1/', 'model.mm_projector.0'),
             **torch_linear(params, 'fc2/', 'model.mm_projector.2')}
  else:
    raise ConversionError(f'projector has {sorted(params)}; LLaVA\'s mm_projector.bin holds a '
                          'linear or an mlp2x_gelu projector')
  write_torch(state, out_path)


FAMILY = register(Family(
    name=NAME, title='LLaVA', presets=PRESETS, chat_template=chat_template,
    image_transform='pad', trainable=TRAINABLE, add_convert_arguments=add_convert_arguments,
    convert=convert, export_projector=export_projector))
