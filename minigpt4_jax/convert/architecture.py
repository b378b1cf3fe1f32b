"""Reads the architecture from checkpoint tensors and config.json; nothing is assumed."""

from __future__ import annotations

import json
import math
import pathlib
import re

from minigpt4_jax.convert.assign import ConversionError
from minigpt4_jax.models.configs import EvaVitConfig, LlamaConfig, QFormerConfig

EVA_HEAD_DIM = 88   # EVA-CLIP ViT-g: 1408 = 16 x 88
BERT_HEAD_DIM = 64  # BERT-base Q-Former: 768 = 12 x 64


def num_heads(width: int, head_dim: int, override: int | None, what: str) -> int:
  """Heads are not stored in a state dict: the released models' head widths give them
  (88 for EVA-g, 64 for BERT); other widths (test files) need an explicit count."""
  if override:
    if width % override:
      raise ConversionError(f'{what}: width {width} does not split into {override} heads')
    return override
  if width % head_dim:
    raise ConversionError(f'{what}: width {width} is not a multiple of the head width '
                          f'{head_dim}; pass the number of heads explicitly')
  return width // head_dim


def _indices(shapes: dict, pattern: str) -> list[int]:
  found = {int(m.group(1)) for k in shapes if (m := re.fullmatch(pattern, k))}
  return sorted(found)


def _need(shapes: dict, key: str, source: str) -> tuple[int, ...]:
  if key not in shapes:
    raise ConversionError(f'{source}: missing key {key!r}')
  return shapes[key]


def eva_from_lavis(shapes: dict, source: str, heads: int | None) -> tuple[EvaVitConfig, int]:
  """(architecture, blocks in the file). MiniGPT-4 builds one block fewer than the
  file holds (BLIP-2 reads the second-to-last layer of EVA-CLIP-g)."""
  width = _need(shapes, 'cls_token', source)[-1]
  patch = _need(shapes, 'patch_embed.proj.weight', source)[-1]
  tokens = _need(shapes, 'pos_embed', source)[1]
  grid = math.isqrt(tokens - 1)
  blocks = _indices(shapes, r'blocks\.(\d+)\..*')
  if not blocks or blocks != list(range(len(blocks))):
    raise ConversionError(f'{source}: blocks are missing or not numbered 0..N-1')
  if len(blocks) < 2:
    raise ConversionError(f'{source}: {len(blocks)} block(s); MiniGPT-4 drops the last of >= 2')
  cfg = EvaVitConfig(
      image_size=grid * patch, patch_size=patch, width=width, depth=len(blocks) - 1,
      num_heads=num_heads(width, EVA_HEAD_DIM, heads, source),
      mlp_dim=_need(shapes, 'blocks.0.mlp.fc1.weight', source)[0])
  return cfg, len(blocks)


def qformer_from_lavis(shapes: dict, source: str, heads: int | None,
                       prefix: str = 'Qformer.bert.encoder.layer.') -> QFormerConfig:
  _, num_query, hidden = _need(shapes, 'query_tokens', source)
  layer = re.escape(prefix) + r'(\d+)\.'
  layers = _indices(shapes, layer + r'.*')
  cross = _indices(shapes, layer + r'crossattention\..*')
  if not layers or not cross:
    raise ConversionError(f'{source}: no Q-Former layers / cross-attention under {prefix!r}')
  attn = 'attention' if prefix.startswith('qformer.') else 'self'
  return QFormerConfig(
      hidden=hidden, num_layers=len(layers),
      num_heads=num_heads(hidden, BERT_HEAD_DIM, heads, source),
      mlp_dim=_need(shapes, f'{prefix}0.intermediate_query.dense.weight', source)[0],
      encoder_width=_need(shapes, f'{prefix}{cross[0]}.crossattention.{attn}.key.weight', source)[1],
      cross_attention_layers=tuple(cross), num_query_tokens=num_query)


def eva_from_hf(shapes: dict, hf_vision: dict, source: str) -> EvaVitConfig:
  """transformers layout: its checkpoints already hold only the blocks BLIP-2 runs."""
  layers = _indices(shapes, r'vision_model\.encoder\.layers\.(\d+)\..*')
  return EvaVitConfig(
      image_size=hf_vision.get('image_size', 224), patch_size=hf_vision.get('patch_size', 14),
      width=hf_vision['hidden_size'], depth=len(layers),
      num_heads=hf_vision['num_attention_heads'], mlp_dim=hf_vision['intermediate_size'],
      layer_norm_eps=hf_vision.get('layer_norm_eps', 1e-6))


def llama_from_dir(directory: pathlib.Path) -> LlamaConfig:
  path = directory / 'config.json'
  if not path.is_file():
    raise FileNotFoundError(f'{path}: missing (expected a transformers LLaMA directory)')
  return LlamaConfig.from_hf_config(json.loads(path.read_text()))
