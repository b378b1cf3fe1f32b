"""MiniGPT-4: frozen EVA ViT -> ln_vision -> [frozen Q-Former] -> projector -> frozen LLaMA.

Image tokens enter the LLM through placeholder ids: a prompt is tokenized with
``IMAGE_TOKEN_ID`` repeated ``num_image_tokens`` times where ``<ImageHere>`` stood
(``minigpt4_jax.text.tokens``), and ``embed_multimodal`` swaps those positions for the
projected image embeddings. Placeholders make splicing a pure gather that works for
any batch layout (left or right padding, several images) inside one jit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from minigpt4_jax.models import layers
from minigpt4_jax.models.configs import MiniGPT4Config
from minigpt4_jax.models.eva_vit import EvaViT
from minigpt4_jax.models.llama import Llama
from minigpt4_jax.models.qformer import QFormer

# Never a real vocabulary id; marks where image embeddings go.
IMAGE_TOKEN_ID = -200


class Mlp3Projector(nnx.Module):
  """The paper's ablation (b): three linear layers with GELU between, in place of one."""

  def __init__(self, in_features: int, out_features: int, *, rngs: nnx.Rngs):
    # The trainable projector stays f32, as MiniGPT-4 keeps llama_proj in fp32.
    self.fc1 = layers.linear(in_features, out_features, ('projector_in', 'embed'), rngs=rngs)
    self.fc2 = layers.linear(out_features, out_features, ('projector_in', 'embed'), rngs=rngs)
    self.fc3 = layers.linear(out_features, out_features, ('projector_in', 'embed'), rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.fc3(layers.gelu_exact(self.fc2(layers.gelu_exact(self.fc1(x)))))


class Mlp2xGeluProjector(nnx.Module):
  """LLaVA-1.5's ``mlp2x_gelu``: Linear -> exact GELU -> Linear (``mm_projector.0/2``)."""

  def __init__(self, in_features: int, out_features: int, *, rngs: nnx.Rngs):
    self.fc1 = layers.linear(in_features, out_features, ('projector_in', 'embed'), rngs=rngs)
    self.fc2 = layers.linear(out_features, out_features, ('projector_in', 'embed'), rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.fc2(layers.gelu_exact(self.fc1(x)))


def make_projector(cfg: MiniGPT4Config, *, rngs: nnx.Rngs) -> nnx.Module:
  """The projector ``cfg.projector`` names (``cfg`` may also be a ``LLaVAConfig``)."""
  if cfg.projector == 'linear':
    return layers.linear(cfg.projector_in, cfg.llm.hidden, ('projector_in', 'embed'), rngs=rngs)
  if cfg.projector == 'mlp3':
    return Mlp3Projector(cfg.projector_in, cfg.llm.hidden, rngs=rngs)
  if cfg.projector == 'mlp2x_gelu':
    return Mlp2xGeluProjector(cfg.projector_in, cfg.llm.hidden, rngs=rngs)
  raise ValueError(f'unknown projector {cfg.projector!r}; expected "linear", "mlp3" or "mlp2x_gelu"')


def group_patches(tokens_bpe: jax.Array, group: int) -> jax.Array:
  """Llama-2 MiniGPT-4 path: drop CLS, concatenate ``group`` raster-consecutive patches.

  float[B, 1 + P, E] -> float[B, P / group, group * E]. Like the original
  ``view(B, P/4, 4E)``, a group is a 1x4 horizontal strip, not a 2x2 block.
  """
  patches = tokens_bpe[:, 1:, :]
  b, p, e = patches.shape
  return patches.reshape(b, p // group, group * e)


class MiniGPT4(nnx.Module):

  def __init__(self, cfg: MiniGPT4Config, *, dtype=jnp.float32, param_dtype=jnp.float32,
               rngs: nnx.Rngs):
    self.cfg = cfg
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.vision = EvaViT(cfg.vision, **kw)
    # In the no-Q-Former variant ln_vision is never loaded and stays at ones/zeros.
    self.ln_vision = layers.layer_norm(cfg.vision.width, cfg.ln_vision_eps, **kw)
    self.qformer = QFormer(cfg.qformer, **kw) if cfg.qformer is not None else None
    self.projector = make_projector(cfg, rngs=rngs)
    self.llm = Llama(cfg.llm, **kw)

  def image_features(self, pixels: jax.Array) -> jax.Array:
    """The frozen part: float[B, S, S, 3] -> projector inputs float[B, Q, C]."""
    tokens = self.ln_vision(self.vision(pixels))
    if self.qformer is not None:
      return self.qformer(tokens)
    return group_patches(tokens, self.cfg.patch_group)

  def project(self, features: jax.Array) -> jax.Array:
    """float[B, Q, C] -> float[B, Q, D_llm] in the LLM's compute dtype."""
    return self.projector(features.astype(jnp.float32)).astype(self.llm.embed_tokens.dtype)

  def encode_image(self, pixels: jax.Array) -> jax.Array:
    """CLIP-normalised float[B, 224, 224, 3] -> image embeddings float[B, Q, D_llm]."""
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
