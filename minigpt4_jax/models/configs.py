"""Architecture descriptions as frozen dataclasses: the towers, and ``ModelConfig``,
the one composition every family (``minigpt4_jax.families``) describes.

The tower constants at the end record the released models' shapes (MiniGPT-4's
``minigpt4/models/eva_vit.py``, ``Qformer.py`` and the LLaMA ``config.json`` files;
LLaVA's CLIP towers). The converter never trusts them: it reads every size from the
checkpoint tensors and config.json; these exist for presets, tests and benchmarks.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal

ClipAct = Literal['quick_gelu', 'gelu']


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


VisionConfig = EvaVitConfig | ClipVitConfig
_VISION_KINDS: dict[str, type] = {'eva': EvaVitConfig, 'clip': ClipVitConfig}


def vision_kind(cfg: VisionConfig) -> str:
  """'eva' or 'clip': which tower module ``cfg`` builds."""
  return next(k for k, t in _VISION_KINDS.items() if isinstance(cfg, t))


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


# linear: MiniGPT-4's llama_proj and LLaVA v1; mlp3: the MiniGPT-4 paper's ablation (b);
# mlp2x_gelu: LLaVA-1.5's Linear -> GELU -> Linear.
ProjectorKind = Literal['linear', 'mlp3', 'mlp2x_gelu']
# How vision tokens reach the projector:
#   qformer:     ln_vision -> Q-Former queries (MiniGPT-4 with Vicuna);
#   patch_group: ln_vision -> CLS dropped, ``patch_group`` raster-consecutive patches
#                concatenated (MiniGPT-4 with Llama-2, MiniGPT-v2);
#   patches:     the tower's patch tokens, CLS dropped (LLaVA's selected layer).
Connector = Literal['qformer', 'patch_group', 'patches']
CONNECTORS = ('qformer', 'patch_group', 'patches')
# LLaVA's find_all_linear_names: every Linear of the LLM blocks (lm_head excluded).
ALL_LINEARS = ('q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj')


@dataclasses.dataclass(frozen=True)
class LoraConfig:
  """Low-rank adapters on the LLM's linears (peft ``LoraConfig``): scale alpha / rank."""

  rank: int
  alpha: float
  targets: tuple[str, ...] = ALL_LINEARS

  @property
  def scale(self) -> float:
    return self.alpha / self.rank


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """One vision-language model: vision tower -> connector -> projector -> LLM.

  ``family`` names the ``minigpt4_jax.families`` module that owns the model's
  templates, preprocessing and conversion; the architecture itself is the fields.
  """

  family: str = 'minigpt4'
  vision: VisionConfig = EvaVitConfig()
  connector: Connector = 'qformer'
  qformer: QFormerConfig | None = QFormerConfig()  # the qformer connector's, else None
  llm: LlamaConfig = LlamaConfig()
  projector: ProjectorKind = 'linear'
  patch_group: int = 4
  ln_vision_eps: float = 1e-5  # a fresh torch LayerNorm, not the ViT's 1e-6
  lora: LoraConfig | None = None

  def __post_init__(self):
    if self.connector not in CONNECTORS:
      raise ValueError(f'connector={self.connector!r}; expected one of {CONNECTORS}')
    if (self.connector == 'qformer') != (self.qformer is not None):
      raise ValueError(f'connector={self.connector!r} with qformer={self.qformer!r}: a '
                       'Q-Former config goes with the qformer connector only')

  @property
  def has_ln_vision(self) -> bool:
    """Whether the model holds ln_vision (the connectors that normalise EVA's tokens)."""
    return self.connector in ('qformer', 'patch_group')

  @property
  def projector_in(self) -> int:
    if self.connector == 'qformer':
      return self.qformer.hidden
    if self.connector == 'patch_group':
      return self.vision.width * self.patch_group
    return self.vision.width

  @property
  def num_image_tokens(self) -> int:
    if self.connector == 'qformer':
      return self.qformer.num_query_tokens
    if self.connector == 'patch_group':
      if self.vision.num_patches % self.patch_group:
        raise ValueError(
            f'{self.vision.num_patches} patches do not split into groups of {self.patch_group}')
      return self.vision.num_patches // self.patch_group
    return self.vision.num_patches

  def to_json(self) -> str:
    raw = dataclasses.asdict(self)
    raw['vision'] = {'kind': vision_kind(self.vision), **raw['vision']}
    return json.dumps(raw, indent=2, sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> 'ModelConfig':
    """Reads ``to_json``'s output, and the two layouts written before families existed
    (MiniGPT-4's config without ``family``; LLaVA's with ``"family": "llava"`` and a
    CLIP tower without ``kind``), so older checkpoints and workdirs load unchanged."""
    raw = json.loads(text)
    vision = dict(raw.pop('vision'))
    family = raw.pop('family', 'minigpt4')
    kind = vision.pop('kind', 'clip' if 'act' in vision else 'eva')
    qformer = raw.pop('qformer', None)
    if qformer is not None:
      qformer['cross_attention_layers'] = tuple(qformer['cross_attention_layers'])
      qformer = QFormerConfig(**qformer)
    lora = raw.pop('lora', None)
    if lora is not None:
      lora = LoraConfig(**{**lora, 'targets': tuple(lora['targets'])})
    connector = raw.pop('connector', None) or (
        'qformer' if qformer is not None else 'patch_group' if kind == 'eva' else 'patches')
    return cls(family=family, vision=_VISION_KINDS[kind](**vision), connector=connector,
               qformer=qformer, llm=LlamaConfig(**raw.pop('llm')), lora=lora, **raw)


# --- tower presets (families compose them into ModelConfig presets) -------------------

eva_vit_g = EvaVitConfig()
qformer_blip2 = QFormerConfig()
vicuna_7b = LlamaConfig(vocab_size=32001, rms_norm_eps=1e-6, max_position_embeddings=2048)
vicuna_13b = LlamaConfig(
    vocab_size=32001, hidden=5120, num_layers=40, num_heads=40, num_kv_heads=40,
    mlp_dim=13824, rms_norm_eps=1e-6, max_position_embeddings=2048,
)
llama2_7b = LlamaConfig(vocab_size=32000, rms_norm_eps=1e-5, max_position_embeddings=4096)
# LLaVA: CLIP ViT-L/14 at 224 (v1) and 336 px (1.5); Vicuna v1.5 is Llama-2 shaped.
clip_vit_l14 = ClipVitConfig(image_size=224)
clip_vit_l14_336 = ClipVitConfig(image_size=336)
vicuna_v15_7b = dataclasses.replace(vicuna_7b, vocab_size=32000, max_position_embeddings=4096,
                                    rms_norm_eps=1e-5)
vicuna_v15_13b = dataclasses.replace(vicuna_13b, vocab_size=32000, max_position_embeddings=4096,
                                     rms_norm_eps=1e-5)

tiny_vit = EvaVitConfig(image_size=224, patch_size=14, width=64, depth=2, num_heads=4, mlp_dim=128)
tiny_qformer = QFormerConfig(
    hidden=32, num_layers=2, num_heads=4, mlp_dim=64, encoder_width=64,
    cross_attention_layers=(0,), num_query_tokens=8,
)
tiny_llm = LlamaConfig(
    vocab_size=1000, hidden=64, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=16,
    mlp_dim=128, rms_norm_eps=1e-6, max_position_embeddings=512,
)
# 64 image tokens (224 px / 28 px patches): cheap enough for CPU training.
tiny_clip = ClipVitConfig(image_size=224, patch_size=28, width=64, depth=2, num_heads=4,
                          mlp_dim=128)
