"""LLaVA: frozen CLIP ViT -> projector -> LLaMA/Vicuna (SPEC §13).

The same machinery as MiniGPT-4: image tokens enter the LLM through
``IMAGE_TOKEN_ID`` placeholders (LLaVA's own ``IMAGE_TOKEN_INDEX`` is the same -200),
the projector stays float32, and the LLM is ``Llama``. So ``LLaVA`` subclasses
``MiniGPT4`` for splicing, projection and the forward, and replaces only the image
path: no ln_vision, no Q-Former, and one LLM token per CLIP patch (CLS dropped).
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
from flax import nnx

from minigpt4_jax.models.clip_vit import ClipViT
from minigpt4_jax.models.configs import MiniGPT4Config
from minigpt4_jax.models.llama import Llama
from minigpt4_jax.models.llava_config import LLaVAConfig
from minigpt4_jax.models.minigpt4 import MiniGPT4, make_projector


class LLaVA(MiniGPT4):

  def __init__(self, cfg: LLaVAConfig, *, dtype=jnp.float32, param_dtype=jnp.float32,
               rngs: nnx.Rngs):
    # MiniGPT4.__init__ is not called: it would build EVA, ln_vision and a Q-Former.
    self.cfg = cfg
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.vision = ClipViT(cfg.vision, **kw)
    self.projector = make_projector(cfg, rngs=rngs)
    self.llm = Llama(cfg.llm, **kw)

  def image_features(self, pixels: jax.Array) -> jax.Array:
    """The frozen part: float[B, S, S, 3] -> patch tokens float[B, P, D_vit]
    (``mm_vision_select_feature patch``: the CLS token is dropped)."""
    return self.vision(pixels)[:, 1:, :]


def build_model(cfg: MiniGPT4Config | LLaVAConfig, **kwargs) -> MiniGPT4:
  """The model class ``cfg`` describes (checkpoints and training hold either family)."""
  return LLaVA(cfg, **kwargs) if isinstance(cfg, LLaVAConfig) else MiniGPT4(cfg, **kwargs)


def config_from_json(text: str) -> MiniGPT4Config | LLaVAConfig:
  """A checkpoint's ``model`` config: LLaVA's carries ``"family": "llava"``."""
  if json.loads(text).get('family') == LLaVAConfig.family:
    return LLaVAConfig.from_json(text)
  return MiniGPT4Config.from_json(text)
