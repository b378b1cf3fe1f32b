"""Prefill and the token-by-token decoding loop (greedy or sampling, one beam per row).

``prefill`` runs the left-padded prompt embeddings through the LLM once, filling
the KV cache; ``decode`` then runs ``jax.lax.while_loop`` steps (choose a token, record
it, feed it back through the cache) until ``limit`` steps are done or every row has
ended. The fast path calls ``decode`` once with ``limit = max_new_tokens``; streaming
calls the same compiled program with a growing limit, so both share one program and
produce the same tokens (sampling keys are derived from the step number).
Letters: B batch, T prompt length, D model dim, V vocabulary, M max new tokens,
S stop strings.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from minigpt4_jax.generate import sampling
from minigpt4_jax.generate.stop_strings import StopTables
from minigpt4_jax.models.llama import KVCache, Llama, positions_from_mask


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class DecodeState:
  """Everything the loop carries.

  tokens: int32[B, M] generated ids, ``pad_id`` after a row ended.
  num_tokens: int32[B] tokens of each row's answer, its EOS or stop token included.
  ended: bool[B] the row produced EOS or completed a stop string.
  seen: bool[B, V] ids generated so far (repetition penalty).
  stop_state: int32[B, S] how much of each stop string the text ends with.
  logits: float32[B, V] the model's prediction for the next token.
  positions: int32[B] rotary position of the next token (real tokens only).
  cache: the KV cache; step: int32[] tokens generated; key: the sampling key.
  """

  tokens: jax.Array
  num_tokens: jax.Array
  ended: jax.Array
  seen: jax.Array
  stop_state: jax.Array
  logits: jax.Array
  positions: jax.Array
  cache: KVCache
  step: jax.Array
  key: jax.Array


def prefill(llm: Llama, embeds_btd: jax.Array, mask_bt: jax.Array,
            cache_len: int) -> tuple[jax.Array, KVCache, jax.Array]:
  """Runs the prompt through a fresh cache of ``cache_len`` slots.

  Args:
    embeds_btd: float[B, T, D] left-padded prompt embeddings (image spliced in).
    mask_bt: bool[B, T], False on padding.

  Returns:
    (next-token logits float32[B, V], cache, next positions int32[B]).
  """
  cache = KVCache.empty(llm.cfg, embeds_btd.shape[0], cache_len, llm.embed_tokens.dtype)
  positions_bt = positions_from_mask(mask_bt)
  logits_btv, cache = llm(inputs_embeds=embeds_btd.astype(llm.embed_tokens.dtype),
                          attention_mask=mask_bt, positions=positions_bt, cache=cache,
                          first_logit=embeds_btd.shape[1] - 1)
  return logits_btv[:, -1].astype(jnp.float32), cache, positions_bt[:, -1] + 1


def start(llm: Llama, embeds_btd: jax.Array, mask_bt: jax.Array, key: jax.Array, *,
          max_new_tokens: int, num_stop_strings: int, pad_id: jax.Array,
          start_id: jax.Array) -> DecodeState:
  """Prefill, then the loop's initial state (cache of T + M slots); ``start_id``:
  the id the sequence starts with (``sampling.initially_seen``)."""
  b, t, _ = embeds_btd.shape
  logits_bv, cache, positions_b = prefill(llm, embeds_btd, mask_bt, t + max_new_tokens)
  return DecodeState(
      tokens=jnp.full((b, max_new_tokens), pad_id, jnp.int32),
      num_tokens=jnp.zeros(b, jnp.int32),
      ended=jnp.zeros(b, bool),
      seen=sampling.initially_seen(b, logits_bv.shape[-1], start_id),
      stop_state=jnp.zeros((b, num_stop_strings), jnp.int32),
      logits=logits_bv,
      positions=positions_b,
      cache=cache,
      step=jnp.zeros((), jnp.int32),
      key=key,
  )


def feed(llm: Llama, token_b: jax.Array, positions_b: jax.Array,
         cache: KVCache) -> tuple[jax.Array, KVCache]:
  """One new token per row through the cache: (logits float32[B, V], cache)."""
  ones_b1 = jnp.ones((token_b.shape[0], 1), bool)
  logits_b1v, cache = llm(inputs_embeds=llm.embed(token_b[:, None]), attention_mask=ones_b1,
                          positions=positions_b[:, None], cache=cache)
  return logits_b1v[:, 0].astype(jnp.float32), cache


def is_eos(token_b: jax.Array, eos_ids: jax.Array) -> jax.Array:
  return jnp.any(token_b[:, None] == eos_ids[None, :], axis=-1)


def decode(llm: Llama, state: DecodeState, knobs: sampling.Knobs, stops: StopTables,
           eos_ids: jax.Array, pad_id: jax.Array, limit: jax.Array) -> DecodeState:
  """Decodes until ``state.step == limit`` (<= M) or every row has ended."""

  def step(s: DecodeState) -> DecodeState:
    key = jax.random.fold_in(s.key, s.step)
    token_b = sampling.next_token(s.logits, s.seen, s.step, knobs, eos_ids, key)
    token_b = jnp.where(s.ended, pad_id, token_b)
    stop_state, hit_stop_b = stops.advance(s.stop_state, token_b)
    # The token after the last is fed too: one spare forward per call, in exchange
    # for a loop body without a branch (streaming chunks use it as their first logits).
    logits_bv, cache = feed(llm, token_b, s.positions, s.cache)
    rows = jnp.arange(token_b.shape[0])
    return DecodeState(
        tokens=s.tokens.at[:, s.step].set(token_b),
        num_tokens=jnp.where(s.ended, s.num_tokens, s.step + 1),
        ended=s.ended | is_eos(token_b, eos_ids) | hit_stop_b,
        seen=s.seen.at[rows, token_b].set(True),
        stop_state=stop_state,
        logits=logits_bv,
        positions=s.positions + 1,
        cache=cache,
        step=s.step + 1,
        key=s.key,
    )

  return jax.lax.while_loop(lambda s: (s.step < limit) & ~jnp.all(s.ended), step, state)
