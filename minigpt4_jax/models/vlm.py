"""The vision-language model of every family: vision tower -> connector -> projector -> LLM.

MiniGPT-4 (Vicuna): EVA ViT -> ln_vision -> Q-Former -> linear projector -> LLaMA.
MiniGPT-4 (Llama-2) and MiniGPT-v2: EVA ViT -> ln_vision -> 4-patch groups -> linear.
LLaVA: CLIP ViT (selected layer) -> patch tokens -> linear / mlp2x_gelu projector.
``ModelConfig.connector`` names the path; the tower module follows the vision config.

Image tokens enter the LLM through placeholder ids: a prompt is tokenized with
``IMAGE_TOKEN_ID`` repeated ``num_image_tokens`` times where the image marker stood
(``minigpt4_jax.text``), and ``embed_multimodal`` swaps those positions for the
projected image embeddings. Placeholders make splicing a pure gather that works for
any batch layout (left or right padding, several images) inside one jit. LLaVA's own
``IMAGE_TOKEN_INDEX`` is the same -200.

Parameter paths (``vision/``, ``ln_vision/``, ``qformer/``, ``projector/``, ``llm/``)
are the checkpoint format's and the trainable patterns' vocabulary.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from minigpt4_jax.models import layers
from minigpt4_jax.models.clip_vit import ClipViT
from minigpt4_jax.models.configs import LoraConfig, ModelConfig, ProjectorKind, vision_kind
from minigpt4_jax.models.eva_vit import EvaViT
from minigpt4_jax.models.llama import Llama
from minigpt4_jax.models.lora import apply_lora
from minigpt4_jax.models.projectors import make_projector
from minigpt4_jax.models.qformer import QFormer

# Never a real vocabulary id; marks where image embeddings go.
IMAGE_TOKEN_ID = -200

_TOWERS = {'eva': EvaViT, 'clip': ClipViT}


def group_patches(tokens_bpe: jax.Array, group: int) -> jax.Array:
  """The patch_group connector: drop CLS, concatenate ``group`` raster-consecutive patches.

  float[B, 1 + P, E] -> float[B, P / group, group * E]. Like the original
  ``view(B, P/4, 4E)`` (MiniGPT-4 ``minigpt4.py`` at ef1ac08, ``minigpt_v2.py``), a group
  is a 1x4 horizontal strip, not a 2x2 block.
  """
  patches = tokens_bpe[:, 1:, :]
  b, p, e = patches.shape
  return patches.reshape(b, p // group, group * e)


class VisionLanguageModel(nnx.Module):

  def __init__(self, cfg: ModelConfig, *, dtype=jnp.float32, param_dtype=jnp.float32,
               remat: str = 'none', rngs: nnx.Rngs):
    self.cfg = cfg
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.vision = _TOWERS[vision_kind(cfg.vision)](cfg.vision, **kw)
    if cfg.has_ln_vision:
      # Without a Q-Former the original never loads ln_vision: it stays at ones/zeros.
      self.ln_vision = layers.layer_norm(cfg.vision.width, cfg.ln_vision_eps, **kw)
    self.qformer = QFormer(cfg.qformer, **kw) if cfg.connector == 'qformer' else None
    self.projector = make_projector(cfg.projector, cfg.projector_in, cfg.llm.hidden, rngs=rngs)
    self.llm = Llama(cfg.llm, remat=remat, **kw)
    if cfg.lora is not None:
      apply_lora(self.llm, cfg.lora, rngs=rngs)

  def replace_projector(self, kind: ProjectorKind, *, rngs: nnx.Rngs) -> None:
    """A fresh projector of another kind (the paper's ablation b on a converted model)."""
    if kind != self.cfg.projector:
      self.cfg = dataclasses.replace(self.cfg, projector=kind)
      self.projector = make_projector(kind, self.cfg.projector_in, self.cfg.llm.hidden, rngs=rngs)

  def add_lora(self, lora: LoraConfig, *, rngs: nnx.Rngs) -> None:
    """Adapters on the LLM (a run that tunes with LoRA); a no-op where they exist."""
    if self.cfg.lora is None:
      self.cfg = dataclasses.replace(self.cfg, lora=lora)
      apply_lora(self.llm, lora, rngs=rngs)

  def scan_layers(self) -> None:
    """The LLM's and the vision tower's blocks as stacks under ``lax.scan``
    (``model.scan_layers``; ``models/scanned_layers.py``), in place."""
    self.llm.scan_layers()
    self.vision.scan_layers()

  def image_features(self, pixels: jax.Array) -> jax.Array:
    """The frozen part: float[B, S, S, 3] -> projector inputs float[B, Q, C]."""
    tokens = self.vision(pixels)
    if self.cfg.connector == 'patches':
      return tokens[:, 1:, :]  # LLaVA's mm_vision_select_feature 'patch': CLS dropped
    tokens = self.ln_vision(tokens)
    if self.cfg.connector == 'qformer':
      return self.qformer(tokens)
    return group_patches(tokens, self.cfg.patch_group)

  def project(self, features: jax.Array) -> jax.Array:
    """float[B, Q, C] -> float[B, Q, D_llm] in the LLM's compute dtype."""
    return self.projector(features.astype(jnp.float32)).astype(self.llm.embed_tokens.dtype)

  def encode_image(self, pixels: jax.Array) -> jax.Array:
    """CLIP-normalised float[B, S, S, 3] -> image embeddings float[B, Q, D_llm]."""
    return self.project(self.image_features(pixels))

  def embed_multimodal(self, input_ids: jax.Array, image_embeds: jax.Array) -> jax.Array:
    """Token embeddings with image embeddings spliced in at the placeholders.

    Args:
      input_ids: int[B, T]; ``IMAGE_TOKEN_ID`` where image tokens go. Row b must hold
        a multiple of Q placeholders, filled in order from ``image_embeds[b]``.
      image_embeds: float[B, Q * images, D].

    Returns:
      float[B, T, D].
    """
    is_image_bt = input_ids == IMAGE_TOKEN_ID
    text_btd = self.llm.embed(jnp.where(is_image_bt, 0, input_ids))
    slot_bt = jnp.clip(jnp.cumsum(is_image_bt, axis=1) - 1, 0, image_embeds.shape[1] - 1)
    image_btd = jnp.take_along_axis(image_embeds, slot_bt[..., None], axis=1)
    return jnp.where(is_image_bt[..., None], image_btd.astype(text_btd.dtype), text_btd)

  def __call__(self, input_ids: jax.Array, pixels: jax.Array,
               attention_mask: jax.Array | None = None) -> jax.Array:
    """Logits float[B, T, V] of a prompt with the image of each row spliced in."""
    embeds = self.embed_multimodal(input_ids, self.encode_image(pixels))
    return self.llm(inputs_embeds=embeds, attention_mask=attention_mask)
