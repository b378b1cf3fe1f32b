"""Logits processors with transformers' semantics, as pure functions on float[B, V].

``process``: what HF applies in every decoding mode (repetition penalty, then the
minimum-length EOS ban); ``warp``: what it adds only when sampling (temperature,
top-k, top-p, in that order). Knob values are traced scalars, so changing a slider
in the demo never recompiles; "off" values follow HF (top_k 0, top_p 1.0, penalty 1.0).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from minigpt4_jax.generate.config import GenerationConfig


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Knobs:
  """The traced (recompile-free) part of a ``GenerationConfig``: scalars only."""

  do_sample: jax.Array
  temperature: jax.Array
  top_k: jax.Array
  top_p: jax.Array
  repetition_penalty: jax.Array
  min_new_tokens: jax.Array
  length_penalty: jax.Array

  @classmethod
  def of(cls, config: GenerationConfig) -> 'Knobs':
    return cls(
        do_sample=jnp.asarray(config.do_sample, bool),
        temperature=jnp.asarray(config.temperature, jnp.float32),
        top_k=jnp.asarray(config.top_k, jnp.int32),
        top_p=jnp.asarray(config.top_p, jnp.float32),
        repetition_penalty=jnp.asarray(config.repetition_penalty, jnp.float32),
        min_new_tokens=jnp.asarray(config.min_new_tokens, jnp.int32),
        length_penalty=jnp.asarray(config.length_penalty, jnp.float32),
    )


def repetition_penalty(logits_bv: jax.Array, seen_bv: jax.Array, penalty: jax.Array) -> jax.Array:
  """HF ``RepetitionPenaltyLogitsProcessor``: seen tokens' logits are divided by
  ``penalty`` when positive and multiplied when negative.

  ``seen_bv`` marks the generated tokens: generation starts from embeddings, so, as in
  HF ``generate(inputs_embeds=...)``, the prompt has no ids to penalise (transformers
  4.30 started the sequence with BOS: ``initially_seen``).
  """
  penalised = jnp.where(logits_bv < 0, logits_bv * penalty, logits_bv / penalty)
  return jnp.where(seen_bv, penalised, logits_bv)


def initially_seen(batch: int, vocab: int, start_id: jax.Array) -> jax.Array:
  """bool[B, V]: what the repetition penalty counts before any token is generated:
  ``start_id`` (the BOS a ``starts_with_bos`` sequence begins with), none if negative."""
  return jnp.broadcast_to(jnp.arange(vocab) == start_id, (batch, vocab))


def ban_eos_before(logits_bv: jax.Array, eos_ids: jax.Array, num_generated: jax.Array,
                   min_new_tokens: jax.Array) -> jax.Array:
  """HF ``MinNewTokensLengthLogitsProcessor``: every EOS id is -inf while fewer than
  ``min_new_tokens`` tokens have been generated.

  HF's ``min_length`` counts ``input_ids``: under transformers 4.30 they start with BOS
  when decoding from ``inputs_embeds``, so MiniGPT-4's ``min_length=1`` is this with
  ``min_new_tokens=0``.
  """
  is_eos_v = jnp.zeros(logits_bv.shape[-1], bool).at[eos_ids].set(True)
  return jnp.where(is_eos_v & (num_generated < min_new_tokens), -jnp.inf, logits_bv)


def top_k_threshold(ascending_bv: jax.Array, top_k: jax.Array, min_keep: int) -> jax.Array:
  """float[B, 1]: the k-th largest logit (HF keeps everything >= it); top_k <= 0: -inf."""
  vocab = ascending_bv.shape[-1]
  k = jnp.clip(jnp.maximum(top_k, min_keep), 1, vocab)
  kth_b1 = jnp.take(ascending_bv, vocab - k, axis=-1)[..., None]
  return jnp.where(top_k <= 0, -jnp.inf, kth_b1)


def top_p_threshold(ascending_bv: jax.Array, top_p: jax.Array, min_keep: int) -> jax.Array:
  """float[B, 1]: the smallest logit HF's ``TopPLogitsWarper`` keeps.

  HF drops the ascending-sorted prefix whose cumulative probability stays <= 1 - top_p
  (never the ``min_keep`` most likely); the first logit after it is the threshold.
  """
  cumulative_bv = jnp.cumsum(jax.nn.softmax(ascending_bv, axis=-1), axis=-1)
  vocab = ascending_bv.shape[-1]
  removable_bv = (cumulative_bv <= 1 - top_p) & (jnp.arange(vocab) < vocab - min_keep)
  num_removed_b1 = jnp.sum(removable_bv, axis=-1, keepdims=True)
  return jnp.take_along_axis(ascending_bv, num_removed_b1, axis=-1)


def top_k_filter(logits_bv: jax.Array, top_k: jax.Array, min_keep: int = 1) -> jax.Array:
  """HF ``TopKLogitsWarper``: logits below the k-th largest become -inf (ties kept);
  ``top_k <= 0`` keeps everything."""
  kth_b1 = top_k_threshold(jnp.sort(logits_bv, axis=-1), top_k, min_keep)
  return jnp.where(logits_bv < kth_b1, -jnp.inf, logits_bv)


def top_p_filter(logits_bv: jax.Array, top_p: jax.Array, min_keep: int = 1) -> jax.Array:
  """HF ``TopPLogitsWarper``: only the most likely tokens covering ``top_p`` of the mass."""
  smallest_kept_b1 = top_p_threshold(jnp.sort(logits_bv, axis=-1), top_p, min_keep)
  return jnp.where(logits_bv < smallest_kept_b1, -jnp.inf, logits_bv)


def process(logits_bv: jax.Array, seen_bv: jax.Array, num_generated: jax.Array,
            knobs: Knobs, eos_ids: jax.Array) -> jax.Array:
  """The processors HF applies in every mode, in HF's order."""
  logits_bv = repetition_penalty(logits_bv, seen_bv, knobs.repetition_penalty)
  return ban_eos_before(logits_bv, eos_ids, num_generated, knobs.min_new_tokens)


def warp(logits_bv: jax.Array, knobs: Knobs, min_keep: int = 1) -> jax.Array:
  """Temperature, top-k, then top-p, as HF chains its warpers, with one sort: the
  top-k survivors keep their ascending order, so top-p reuses the sorted logits.
  Beam sampling keeps 2 tokens (HF keeps one more than the number of EOS ids there,
  so a beam can always continue)."""
  logits_bv = logits_bv / knobs.temperature
  ascending_bv = jnp.sort(logits_bv, axis=-1)
  kth_b1 = top_k_threshold(ascending_bv, knobs.top_k, min_keep)
  ascending_bv = jnp.where(ascending_bv < kth_b1, -jnp.inf, ascending_bv)
  smallest_kept_b1 = top_p_threshold(ascending_bv, knobs.top_p, min_keep)
  return jnp.where(logits_bv < jnp.maximum(kth_b1, smallest_kept_b1), -jnp.inf, logits_bv)


def next_token(logits_bv: jax.Array, seen_bv: jax.Array, num_generated: jax.Array,
               knobs: Knobs, eos_ids: jax.Array, key: jax.Array) -> jax.Array:
  """int32[B]: argmax of the processed logits, or a sample of the warped ones.

  ``do_sample`` is traced, so greedy and sampling share one compiled program; the
  branch skips the sort and the draw when decoding greedily.
  """
  processed_bv = process(logits_bv.astype(jnp.float32), seen_bv, num_generated, knobs, eos_ids)
  return jax.lax.cond(
      knobs.do_sample,
      lambda x: jax.random.categorical(key, warp(x, knobs), axis=-1).astype(jnp.int32),
      lambda x: jnp.argmax(x, axis=-1).astype(jnp.int32),
      processed_bv)
