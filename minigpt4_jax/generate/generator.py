"""``Generator``: batched generation from prompt embeddings with an LLM's weights.

The jitted programs take the LLM as (graphdef, params): the graphdef is static, so
each program compiles once per (batch, padded prompt length, max_new_tokens, number
of beams, number of stop strings) and is shared by every generator of the same
architecture. All other settings are traced (``sampling.Knobs``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minigpt4_jax.generate import beam, decode, sampling
from minigpt4_jax.generate.buckets import DEFAULT_BUCKETS, bucket_length
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.generate.stop_strings import StopTables
from minigpt4_jax.models.llama import Llama


@functools.partial(jax.jit, static_argnames=('graphdef', 'max_new_tokens', 'num_stop_strings'))
def start_program(graphdef, params, embeds_btd, mask_bt, key, pad_id, start_id, *,
                  max_new_tokens: int, num_stop_strings: int) -> decode.DecodeState:
  return decode.start(nnx.merge(graphdef, params), embeds_btd, mask_bt, key,
                      max_new_tokens=max_new_tokens, num_stop_strings=num_stop_strings,
                      pad_id=pad_id, start_id=start_id)


@functools.partial(jax.jit, static_argnames=('graphdef',), donate_argnames=('state',))
def decode_program(graphdef, params, state, knobs, stops, eos_ids, pad_id, limit):
  return decode.decode(nnx.merge(graphdef, params), state, knobs, stops, eos_ids, pad_id, limit)


@functools.partial(jax.jit, static_argnames=('graphdef', 'num_beams', 'max_new_tokens'))
def beam_program(graphdef, params, embeds_btd, mask_bt, knobs, stops, eos_ids, pad_id, start_id,
                 key, *, num_beams: int, max_new_tokens: int):
  """Prefill and the whole search in one program -> (tokens int32[B, M], lengths, ended)."""
  llm = nnx.merge(graphdef, params)
  state = beam.init_state(llm, embeds_btd, mask_bt, num_beams=num_beams,
                          max_new_tokens=max_new_tokens, num_stop_strings=stops.num_strings,
                          pad_id=pad_id, start_id=start_id)
  state = beam.search(llm, state, knobs, stops, eos_ids, key)
  return state.finished_tokens[:, 0], state.finished_lengths[:, 0], state.finished_ended[:, 0]


@dataclasses.dataclass(frozen=True)
class Generation:
  """tokens: int32[B, M] (pad after each answer); lengths: int32[B] answer tokens,
  the final EOS / stop-string token included; ended: bool[B] ended by EOS or a stop
  string rather than the budget."""

  tokens: np.ndarray
  lengths: np.ndarray
  ended: np.ndarray

  def sequences(self) -> list[list[int]]:
    return [row[:n].tolist() for row, n in zip(self.tokens, self.lengths)]


class Generator:
  """Generates from left-padded prompt embeddings float[B, T, D] with ``llm``.

  Args:
    llm: the language model (weights are read, not copied).
    eos_ids: ids that end an answer (default: the config's EOS).
    stops: stop-string tables (``StopTables.build``); default none.
    pad_id: filler after an answer ends (never fed back as a prompt token).
    buckets: prompt lengths are left-padded up to one of these (``buckets.py``).
  """

  def __init__(self, llm: Llama, *, eos_ids: Sequence[int] | None = None,
               stops: StopTables | None = None, pad_id: int = 0,
               buckets: Sequence[int] = DEFAULT_BUCKETS):
    self.graphdef, self.params = nnx.split(llm)
    self.hidden = llm.cfg.hidden
    self.eos_ids = jnp.asarray(eos_ids if eos_ids is not None else [llm.cfg.eos_token_id],
                               jnp.int32)
    self.stops = stops if stops is not None else StopTables.none(llm.cfg.vocab_size)
    self.pad_id = jnp.asarray(pad_id, jnp.int32)
    self.bos_id = llm.cfg.bos_token_id
    self.buckets = tuple(buckets)

  def pad_to_bucket(self, embeds_btd, mask_bt) -> tuple[jax.Array, jax.Array]:
    """More left padding, up to the bucket of T (a no-op when T is a bucket)."""
    t = mask_bt.shape[1]
    extra = bucket_length(t, self.buckets) - t
    embeds_btd, mask_bt = jnp.asarray(embeds_btd), jnp.asarray(mask_bt, bool)
    if not extra:
      return embeds_btd, mask_bt
    return (jnp.pad(embeds_btd, ((0, 0), (extra, 0), (0, 0))),
            jnp.pad(mask_bt, ((0, 0), (extra, 0))))

  def generate(self, embeds_btd, mask_bt, config: GenerationConfig = GenerationConfig(),
               seed: int = 0) -> Generation:
    """Answers for every prompt, in one while_loop (beam search if ``num_beams > 1``)."""
    embeds_btd, mask_bt = self.pad_to_bucket(embeds_btd, mask_bt)
    knobs = sampling.Knobs.of(config)
    key = jax.random.key(seed)
    if config.num_beams > 1:
      out = beam_program(self.graphdef, self.params, embeds_btd, mask_bt, knobs, self.stops,
                         self.eos_ids, self.pad_id, self._start_id(config), key,
                         num_beams=config.num_beams,
                         max_new_tokens=config.max_new_tokens)
      return Generation(*(np.asarray(x) for x in out))
    state = self._start(embeds_btd, mask_bt, config, key)
    state = decode_program(self.graphdef, self.params, state, knobs, self.stops, self.eos_ids,
                           self.pad_id, jnp.int32(config.max_new_tokens))
    return Generation(np.asarray(state.tokens), np.asarray(state.num_tokens),
                      np.asarray(state.ended))

  def stream(self, embeds_btd, mask_bt, config: GenerationConfig = GenerationConfig(),
             seed: int = 0, chunk: int = 8) -> Iterator[list[list[int]]]:
    """Yields each row's new answer tokens every ``chunk`` steps (one beam only).

    Same compiled programs and same tokens as ``generate``; the loop simply stops
    every ``chunk`` steps to hand tokens to the host.
    """
    if config.num_beams > 1:
      raise ValueError('beam search cannot stream: the best beam is known only at the end')
    embeds_btd, mask_bt = self.pad_to_bucket(embeds_btd, mask_bt)
    knobs = sampling.Knobs.of(config)
    state = self._start(embeds_btd, mask_bt, config, jax.random.key(seed))
    shown = np.zeros(mask_bt.shape[0], int)
    for limit in range(chunk, config.max_new_tokens + chunk, chunk):
      state = decode_program(self.graphdef, self.params, state, knobs, self.stops, self.eos_ids,
                             self.pad_id, jnp.int32(min(limit, config.max_new_tokens)))
      tokens, lengths = np.asarray(state.tokens), np.asarray(state.num_tokens)
      yield [row[a:n].tolist() for row, a, n in zip(tokens, shown, lengths)]
      shown = lengths
      if np.asarray(state.ended).all():
        return

  def _start(self, embeds_btd, mask_bt, config: GenerationConfig, key) -> decode.DecodeState:
    return start_program(self.graphdef, self.params, embeds_btd, mask_bt, key, self.pad_id,
                         self._start_id(config), max_new_tokens=config.max_new_tokens,
                         num_stop_strings=self.stops.num_strings)

  def _start_id(self, config: GenerationConfig) -> jax.Array:
    """A traced id, so either setting shares the compiled programs."""
    return jnp.int32(self.bos_id if config.starts_with_bos else -1)
