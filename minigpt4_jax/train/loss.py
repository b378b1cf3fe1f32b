"""Causal LM loss on the supervised (answer) tokens."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from minigpt4_jax.data.transforms import normalize
from minigpt4_jax.models import VisionLanguageModel


def token_nll_sum(logits_btv: jax.Array, input_ids_bt: jax.Array,
                  target_mask_bt: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(sum of -log p over supervised tokens, number of them); position t-1 predicts t.

  Returning the sum and the count (not the mean) lets gradient accumulation and
  data parallelism reproduce the full batch's mean exactly, as HF's loss averages
  over all supervised tokens of the batch.
  """
  logp = jax.nn.log_softmax(logits_btv[:, :-1].astype(jnp.float32), axis=-1)
  targets = jnp.maximum(input_ids_bt[:, 1:], 0)  # image placeholders are never targets
  nll = -jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
  mask = target_mask_bt[:, 1:].astype(jnp.float32)
  return jnp.sum(nll * mask), jnp.sum(mask)


def batch_nll_sum(model: VisionLanguageModel, batch: dict[str, jax.Array],
                  first_target: int = 1) -> tuple[jax.Array, jax.Array]:
  """Loss terms of a batch holding either ``image`` or the frozen towers' precomputed
  outputs ``features`` float[B, Q, C] (stage 1 without augmentation can cache them
  and skip the ViT and Q-Former). ``image``: uint8[B, S, S, 3] crops as the input
  pipeline sends them, CLIP-normalised here (on the device, in the step), or
  float[B, S, S, 3] pixels already normalised.

  ``first_target`` (static): no token before this position is ever supervised (the
  shortest prompt's length), so logits are computed from the position before it on.
  """
  if 'features' in batch:
    image_embeds = model.project(batch['features'])
  else:
    pixels = batch['image']
    if pixels.dtype == jnp.uint8:
      pixels = normalize(pixels)
    image_embeds = model.encode_image(pixels)
  embeds = model.embed_multimodal(batch['input_ids'], image_embeds)
  start = first_target - 1  # position start predicts token first_target
  logits = model.llm(inputs_embeds=embeds, attention_mask=batch['attention_mask'],
                     first_logit=start)
  return token_nll_sum(logits, batch['input_ids'][:, start:], batch['target_mask'][:, start:])
