"""Causal LM loss on the supervised (answer) tokens."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from minigpt4_jax.data.transforms import normalize
from minigpt4_jax.models import VisionLanguageModel


@jax.custom_vjp
def token_nll(logits_btv: jax.Array, targets_bt: jax.Array) -> jax.Array:
  """-log softmax(logits)[target] float32[B, T], accumulated in float32 from logits of
  any dtype without a float32 [B, T, V] buffer: a logsumexp over the vocabulary (XLA
  fuses the upcast into its reductions) less the gathered target logit. The backward
  keeps only the logits and the [B, T] logsumexp, and writes (softmax - one-hot) in
  the logits' dtype in one fused pass; ``jax.nn.log_softmax`` in float32 would keep
  a float32 [B, T, V] output and its softmax for the backward."""
  return _token_nll_fwd(logits_btv, targets_bt)[0]


def _token_nll_fwd(logits_btv, targets_bt):
  lse_bt = jax.nn.logsumexp(logits_btv.astype(jnp.float32), axis=-1)
  target_bt = jnp.take_along_axis(logits_btv, targets_bt[..., None], axis=-1)[..., 0]
  return lse_bt - target_bt.astype(jnp.float32), (logits_btv, targets_bt, lse_bt)


def _token_nll_bwd(residuals, g_bt):
  logits_btv, targets_bt, lse_bt = residuals
  softmax = jnp.exp(logits_btv.astype(jnp.float32) - lse_bt[..., None])
  one_hot = targets_bt[..., None] == jnp.arange(logits_btv.shape[-1])
  grad = (softmax - one_hot) * g_bt[..., None].astype(jnp.float32)
  return grad.astype(logits_btv.dtype), None


token_nll.defvjp(_token_nll_fwd, _token_nll_bwd)


def token_nll_sum(logits_btv: jax.Array, input_ids_bt: jax.Array,
                  target_mask_bt: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(sum of -log p over supervised tokens, number of them); position t-1 predicts t.

  Returning the sum and the count (not the mean) lets gradient accumulation and
  data parallelism reproduce the full batch's mean exactly, as HF's loss averages
  over all supervised tokens of the batch.
  """
  targets = jnp.maximum(input_ids_bt[:, 1:], 0)  # image placeholders are never targets
  nll = token_nll(logits_btv[:, :-1], targets)
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
