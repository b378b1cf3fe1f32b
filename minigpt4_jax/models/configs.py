"""Architecture descriptions as frozen dataclasses, with the named presets.

The presets record the released models' shapes (../shared/SPEC.md §1-§4). The
converter never trusts them: it reads every size from the checkpoint tensors and
config.json, and these presets exist for tests, benchmarks and random init.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal


class ViTGeometry:
  """Sizes every ViT config derives from image_size, patch_size, width and num_heads."""

  image_size: int
  patch_size: int
  width: int
  num_heads: int

  @property
  def head_dim(self) -> int:
    return self.width // self.num_heads

  @property
  def num_patches(self) -> int:
    return (self.image_size // self.patch_size) ** 2

  @property
  def num_tokens(self) -> int:
    return self.num_patches + 1  # + CLS


@dataclasses.dataclass(frozen=True)
class EvaVitConfig(ViTGeometry):
  """EVA-CLIP ViT (LAVIS ``eva_vit.py``)."""

  image_size: int = 224
  patch_size: int = 14
  width: int = 1408
  depth: int = 39  # MiniGPT-4 builds 39 of EVA-CLIP-g's 40 blocks (BLIP-2's second-to-last trick).
  num_heads: int = 16
  mlp_dim: int = 6144
  layer_norm_eps: float = 1e-6


@dataclasses.dataclass(frozen=True)
class QFormerConfig:
  """The query path of BLIP-2's BERT-base Q-Former."""

  hidden: int = 768
  num_layers: int = 12
  num_heads: int = 12
  mlp_dim: int = 3072
  layer_norm_eps: float = 1e-12
  encoder_width: int = 1408
  cross_attention_layers: tuple[int, ...] = (0, 2, 4, 6, 8, 10)
  num_query_tokens: int = 32

  @property
  def head_dim(self) -> int:
    return self.hidden // self.num_heads


@dataclasses.dataclass(frozen=True)
class LlamaConfig:
  """LLaMA / Vicuna / Llama-2 decoder (transformers ``LlamaForCausalLM``)."""

  vocab_size: int = 32000
  hidden: int = 4096
  num_layers: int = 32
  num_heads: int = 32
  num_kv_heads: int = 32
  head_dim: int = 128
  mlp_dim: int = 11008
  rms_norm_eps: float = 1e-6
  rope_theta: float = 10000.0
  max_position_embeddings: int = 2048
  bos_token_id: int = 1
  eos_token_id: int = 2

  @classmethod
  def from_hf_config(cls, hf: dict[str, Any]) -> 'LlamaConfig':
    """Reads a transformers LLaMA ``config.json`` dict; rejects what we do not implement."""
    if hf.get('rope_scaling') not in (None, {}):
      raise ValueError(f'config.json: rope_scaling={hf["rope_scaling"]!r} is not supported')
    if hf.get('tie_word_embeddings', False):
      raise ValueError('config.json: tie_word_embeddings=true is not supported (LLaMA unties)')
    if hf.get('attention_bias', False) or hf.get('mlp_bias', False):
      raise ValueError('config.json: attention_bias/mlp_bias are not supported (LLaMA has none)')
    if hf.get('hidden_act', 'silu') != 'silu':
      raise ValueError(f'config.json: hidden_act={hf["hidden_act"]!r}, expected "silu"')
    num_heads = hf['num_attention_heads']
    return cls(
        vocab_size=hf['vocab_size'],
        hidden=hf['hidden_size'],
        num_layers=hf['num_hidden_layers'],
        num_heads=num_heads,
        num_kv_heads=hf.get('num_key_value_heads') or num_heads,
        head_dim=hf.get('head_dim') or hf['hidden_size'] // num_heads,
        mlp_dim=hf['intermediate_size'],
        rms_norm_eps=hf.get('rms_norm_eps', 1e-6),
        rope_theta=hf.get('rope_theta', (hf.get('rope_parameters') or {}).get('rope_theta', 10000.0)),
        max_position_embeddings=hf.get('max_position_embeddings', 2048),
        bos_token_id=_first_id(hf.get('bos_token_id'), 1),
        eos_token_id=_first_id(hf.get('eos_token_id'), 2),
    )


def _first_id(value: int | list[int] | None, default: int) -> int:
  if value is None:
    return default
  return value[0] if isinstance(value, list) else value


# mlp2x_gelu: LLaVA-1.5's Linear -> GELU -> Linear (llava_config.py).
ProjectorKind = Literal['linear', 'mlp3', 'mlp2x_gelu']


@dataclasses.dataclass(frozen=True)
class MiniGPT4Config:
  """The composition: vision -> ln_vision -> [Q-Former] -> projector -> LLM.

  ``qformer=None`` is the Llama-2 MiniGPT-4 path: CLS dropped and every
  ``patch_group`` raster-consecutive patch tokens concatenated before the projector.
  """

  vision: EvaVitConfig = EvaVitConfig()
  qformer: QFormerConfig | None = QFormerConfig()
  llm: LlamaConfig = LlamaConfig()
  projector: ProjectorKind = 'linear'
  patch_group: int = 4
  ln_vision_eps: float = 1e-5  # a fresh torch LayerNorm, not the ViT's 1e-6

  @property
  def projector_in(self) -> int:
    if self.qformer is not None:
      return self.qformer.hidden
    return self.vision.width * self.patch_group

  @property
  def num_image_tokens(self) -> int:
    if self.qformer is not None:
      return self.qformer.num_query_tokens
    if self.vision.num_patches % self.patch_group:
      raise ValueError(
          f'{self.vision.num_patches} patches do not split into groups of {self.patch_group}'
      )
    return self.vision.num_patches // self.patch_group

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> 'MiniGPT4Config':
    raw = json.loads(text)
    qformer = raw.pop('qformer')
    if qformer is not None:
      qformer['cross_attention_layers'] = tuple(qformer['cross_attention_layers'])
      qformer = QFormerConfig(**qformer)
    return cls(
        vision=EvaVitConfig(**raw.pop('vision')),
        qformer=qformer,
        llm=LlamaConfig(**raw.pop('llm')),
        **raw,
    )


# --- presets -------------------------------------------------------------------------

eva_vit_g = EvaVitConfig()
qformer_blip2 = QFormerConfig()
vicuna_7b = LlamaConfig(vocab_size=32001, rms_norm_eps=1e-6, max_position_embeddings=2048)
vicuna_13b = LlamaConfig(
    vocab_size=32001, hidden=5120, num_layers=40, num_heads=40, num_kv_heads=40,
    mlp_dim=13824, rms_norm_eps=1e-6, max_position_embeddings=2048,
)
llama2_7b = LlamaConfig(vocab_size=32000, rms_norm_eps=1e-5, max_position_embeddings=4096)

tiny_vit = EvaVitConfig(image_size=224, patch_size=14, width=64, depth=2, num_heads=4, mlp_dim=128)
tiny_qformer = QFormerConfig(
    hidden=32, num_layers=2, num_heads=4, mlp_dim=64, encoder_width=64,
    cross_attention_layers=(0,), num_query_tokens=8,
)
tiny_llm = LlamaConfig(
    vocab_size=1000, hidden=64, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=16,
    mlp_dim=128, rms_norm_eps=1e-6, max_position_embeddings=512,
)

PRESETS: dict[str, MiniGPT4Config] = {
    'vicuna_7b': MiniGPT4Config(llm=vicuna_7b),
    'vicuna_13b': MiniGPT4Config(llm=vicuna_13b),
    'llama2_7b': MiniGPT4Config(qformer=None, llm=llama2_7b),
    'tiny': MiniGPT4Config(vision=tiny_vit, qformer=tiny_qformer, llm=tiny_llm),
    'tiny_no_qformer': MiniGPT4Config(vision=tiny_vit, qformer=None, llm=tiny_llm),
}


def preset(name: str) -> MiniGPT4Config:
  """A named architecture; ``name`` is one of ``PRESETS``."""
  try:
    return PRESETS[name]
  except KeyError:
    raise ValueError(f'unknown architecture preset {name!r}; known: {sorted(PRESETS)}') from None
