"""LLaVA architectures (../shared/SPEC.md §13): CLIP ViT-L/14 -> projector -> Vicuna.

Kept beside ``configs.py`` (MiniGPT-4's) rather than in it: the two families share
the LLM and the projector kinds, nothing else. As there, the converter reads every
size from the files; these presets serve tests, benchmarks and random init.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Literal

from minigpt4_jax.models.configs import (LlamaConfig, ProjectorKind, ViTGeometry, tiny_llm,
                                         vicuna_7b, vicuna_13b)

ClipAct = Literal['quick_gelu', 'gelu']


@dataclasses.dataclass(frozen=True)
class ClipVitConfig(ViTGeometry):
  """OpenAI CLIP vision tower (transformers ``CLIPVisionModel``), built to the layer
  LLaVA reads.

  ``depth`` counts the blocks built, not the blocks of the released tower: LLaVA reads
  the hidden states of the second-to-last layer (``mm_vision_select_layer -2``), so
  ViT-L/14's 24th block and its ``post_layernorm`` are never built, as MiniGPT-4 drops
  EVA's 40th.
  """

  image_size: int = 336
  patch_size: int = 14
  width: int = 1024
  depth: int = 23
  num_heads: int = 16
  mlp_dim: int = 4096
  layer_norm_eps: float = 1e-5
  act: ClipAct = 'quick_gelu'  # OpenAI CLIP's x * sigmoid(1.702 x)


@dataclasses.dataclass(frozen=True)
class LLaVAConfig:
  """The composition: CLIP patch tokens (CLS dropped) -> projector -> LLM, one LLM
  token per patch (576 at 336 px)."""

  vision: ClipVitConfig = ClipVitConfig()
  llm: LlamaConfig = vicuna_7b
  projector: ProjectorKind = 'mlp2x_gelu'

  family = 'llava'  # a class constant, not a field: tells checkpoints' config.json apart

  @property
  def projector_in(self) -> int:
    return self.vision.width

  @property
  def num_image_tokens(self) -> int:
    return self.vision.num_patches

  def to_json(self) -> str:
    return json.dumps({'family': self.family, **dataclasses.asdict(self)}, indent=2, sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> 'LLaVAConfig':
    raw = json.loads(text)
    if raw.pop('family', None) != cls.family:
      raise ValueError(f'model config family is not {cls.family!r}: {text[:80]!r}')
    return cls(vision=ClipVitConfig(**raw.pop('vision')), llm=LlamaConfig(**raw.pop('llm')), **raw)


# --- presets -------------------------------------------------------------------------

clip_vit_l14 = ClipVitConfig(image_size=224)
clip_vit_l14_336 = ClipVitConfig(image_size=336)
vicuna_v15_7b = dataclasses.replace(vicuna_7b, vocab_size=32000, max_position_embeddings=4096,
                                    rms_norm_eps=1e-5)
vicuna_v15_13b = dataclasses.replace(vicuna_13b, vocab_size=32000, max_position_embeddings=4096,
                                     rms_norm_eps=1e-5)
tiny_clip = ClipVitConfig(image_size=224, patch_size=28, width=64, depth=2, num_heads=4,
                          mlp_dim=128)

PRESETS: dict[str, LLaVAConfig] = {
    'llava_v1_7b': LLaVAConfig(vision=clip_vit_l14, llm=dataclasses.replace(vicuna_7b, vocab_size=32000),
                               projector='linear'),
    'llava_v15_7b': LLaVAConfig(vision=clip_vit_l14_336, llm=vicuna_v15_7b),
    'llava_v15_13b': LLaVAConfig(vision=clip_vit_l14_336, llm=vicuna_v15_13b),
    # 64 image tokens (224 px / 28 px patches): cheap enough for CPU training.
    'tiny_llava': LLaVAConfig(vision=tiny_clip, llm=tiny_llm),
}


def preset(name: str) -> LLaVAConfig:
  """A named LLaVA architecture; ``name`` is one of ``PRESETS``."""
  try:
    return PRESETS[name]
  except KeyError:
    raise ValueError(f'unknown LLaVA preset {name!r}; known: {sorted(PRESETS)}') from None
