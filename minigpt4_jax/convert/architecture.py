"""Reads the architecture from checkpoint tensors and config.json; nothing is assumed.

Every function takes ``shapes`` (key -> shape, read without loading tensor data) and
the ``source`` it came from, so an error names the file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import re

from minigpt4_jax.convert.assign import ConversionError
from minigpt4_jax.models.configs import EvaVitConfig, LlamaConfig, QFormerConfig

Shapes = dict[str, tuple[int, ...]]


@dataclasses.dataclass(frozen=True)
class HeadRule:
  """What the released models tell us about a tower's head count (see ``num_heads``)."""

  head_dim: int
  widths: tuple[int, ...] | None  # the widths the rule is known to hold for; None: any
  flag: str                       # the CLI flag that states the count otherwise


# EVA-CLIP ViT-g: 1408 = 16 heads x 88. Other EVA widths use other head widths
# (ViT-L: 1024 = 16 x 64), so 88 is trusted for 1408 only.
EVA_HEADS = HeadRule(head_dim=88, widths=(1408,), flag='--vision-heads')
# BLIP-2's Q-Former is BERT-base (768 = 12 x 64); BERT-family models keep 64 per head.
BERT_HEADS = HeadRule(head_dim=64, widths=None, flag='--qformer-heads')


def num_heads(width: int, rule: HeadRule, override: int | None, source: str) -> int:
  """The number of attention heads of a tower ``width`` wide.

  A state dict does not record heads (q/k/v are stored merged), so:
  1. an explicit ``override`` (``--vision-heads`` / ``--qformer-heads``) wins; it must
     divide ``width``;
  2. else ``width // rule.head_dim`` where the released models fix the head width:
     EVA ViT width 1408 -> 16 heads; a Q-Former width that is a multiple of 64 ->
     width / 64 heads;
  3. else (e.g. the tiny test files) the flag is required.
  """
  if override:
    if width % override:
      raise ConversionError(f'{source}: width {width} does not split into {override} heads')
    return override
  known = width in rule.widths if rule.widths is not None else width % rule.head_dim == 0
  if not known:
    raise ConversionError(f'{source}: cannot tell the heads of width {width} (the released '
                          f'models use head width {rule.head_dim}); pass {rule.flag}')
  return width // rule.head_dim


def matching_indices(shapes: Shapes, pattern: str) -> list[int]:
  return sorted({int(m.group(1)) for k in shapes if (m := re.fullmatch(pattern, k))})


def required_shape(shapes: Shapes, key: str, source: str) -> tuple[int, ...]:
  if key not in shapes:
    raise ConversionError(f'{source}: missing key {key!r}')
  return shapes[key]


def consecutive_count(indices: list[int], what: str, source: str) -> int:
  if not indices or indices != list(range(len(indices))):
    raise ConversionError(f'{source}: {what} are missing or not numbered 0..N-1: {indices}')
  return len(indices)


def _eva(shapes: Shapes, source: str, names: dict[str, str], depth: int,
         heads: int) -> EvaVitConfig:
  """The ViT from its tensors: width from the CLS token, image size from the number
  of position embeddings, MLP width from the first block's fc1."""
  width = required_shape(shapes, names['cls'], source)[-1]
  patch = required_shape(shapes, names['patch'], source)[-1]
  grid = math.isqrt(required_shape(shapes, names['pos'], source)[1] - 1)  # minus CLS
  return EvaVitConfig(image_size=grid * patch, patch_size=patch, width=width, depth=depth,
                      num_heads=heads, mlp_dim=required_shape(shapes, names['fc1'], source)[0])


def eva_from_lavis(shapes: Shapes, source: str, heads: int | None) -> tuple[EvaVitConfig, int]:
  """(architecture, blocks in the file) of an ``eva_vit_g.pth``-style state dict.

  MiniGPT-4 builds one block fewer than the file holds: BLIP-2 reads EVA-CLIP-g's
  second-to-last layer, so the 40th block is loaded nowhere (``strict=False``).
  """
  blocks = consecutive_count(matching_indices(shapes, r'blocks\.(\d+)\..*'), 'ViT blocks', source)
  if blocks < 2:
    raise ConversionError(f'{source}: {blocks} ViT block(s); MiniGPT-4 drops the last of >= 2')
  width = required_shape(shapes, 'cls_token', source)[-1]
  names = dict(cls='cls_token', patch='patch_embed.proj.weight', pos='pos_embed',
               fc1='blocks.0.mlp.fc1.weight')
  return _eva(shapes, source, names, blocks - 1, num_heads(width, EVA_HEADS, heads, source)), blocks


def eva_from_hf(shapes: Shapes, hf_vision: dict, source: str) -> EvaVitConfig:
  """The ViT of a transformers BLIP-2 directory; its heads come from config.json.

  transformers' conversion already dropped EVA-CLIP's last block, so every layer
  present is built. LayerNorm eps stays LAVIS's 1e-6 (what the weights were trained
  with): transformers configs have carried 1e-5 or 1e-6 across versions.
  """
  prefix = 'vision_model.'
  layers = consecutive_count(
      matching_indices(shapes, r'vision_model\.encoder\.layers\.(\d+)\..*'), 'ViT layers', source)
  names = dict(cls=prefix + 'embeddings.class_embedding',
               patch=prefix + 'embeddings.patch_embedding.weight',
               pos=prefix + 'embeddings.position_embedding',
               fc1=prefix + 'encoder.layers.0.mlp.fc1.weight')
  return _eva(shapes, source, names, layers, hf_vision['num_attention_heads'])


def _qformer(shapes: Shapes, source: str, prefix: str, attention: str, heads: int,
             **hf) -> QFormerConfig:
  """The Q-Former from its tensors: layers and cross-attention layers from the keys
  present, the query count from ``query_tokens``."""
  _, num_query, hidden = required_shape(shapes, 'query_tokens', source)
  layer = re.escape(prefix) + r'(\d+)\.'
  layers = consecutive_count(matching_indices(shapes, layer + r'.*'), 'Q-Former layers', source)
  cross = matching_indices(shapes, layer + r'crossattention\..*')
  if not cross:
    raise ConversionError(f'{source}: no Q-Former cross-attention under {prefix!r}')
  return QFormerConfig(
      hidden=hidden, num_layers=layers,
      num_heads=heads,
      mlp_dim=required_shape(shapes, f'{prefix}0.intermediate_query.dense.weight', source)[0],
      encoder_width=required_shape(
          shapes, f'{prefix}{cross[0]}.crossattention.{attention}.key.weight', source)[1],
      cross_attention_layers=tuple(cross), num_query_tokens=num_query, **hf)


def qformer_from_lavis(shapes: Shapes, source: str, heads: int | None) -> QFormerConfig:
  """The Q-Former of a ``blip2_pretrained_flant5xxl.pth``-style state dict."""
  hidden = required_shape(shapes, 'query_tokens', source)[-1]
  return _qformer(shapes, source, 'Qformer.bert.encoder.layer.', 'self',
                  num_heads(hidden, BERT_HEADS, heads, source))


def qformer_from_hf(shapes: Shapes, hf_qformer: dict, source: str) -> QFormerConfig:
  """The Q-Former of a transformers BLIP-2 directory; heads and eps from config.json."""
  return _qformer(shapes, source, 'qformer.encoder.layer.', 'attention',
                  hf_qformer['num_attention_heads'],
                  layer_norm_eps=hf_qformer.get('layer_norm_eps', 1e-12))


def llama_from_dir(directory: pathlib.Path) -> LlamaConfig:
  path = directory / 'config.json'
  if not path.is_file():
    raise FileNotFoundError(f'{path}: missing (expected a transformers LLaMA directory)')
  return LlamaConfig.from_hf_config(json.loads(path.read_text()))
