"""Slot-based batched decoding, as JetStream's ``engine_api.py`` (prefill / insert /
generate): a fixed number of decode slots advance together in one compiled step
program; between steps a new request is prefilled (its prompt padded to a length
bucket) and inserted into a free slot, and a finished one frees its slot at once.

Compiled programs: the image encoder and the splice once, prefill and insert once per
prompt bucket (the buckets up to the context length), and one generate step. A slot
makes the same choices as ``Generator`` with one row: the same prefill, processors
and sampling key per step (``fold_in(key(seed), step)``), so greedy answers are the
tokens ``Chat`` gives. One thread (``run``) drives the device; request threads only
queue work and read tokens.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import queue
import threading
from typing import Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minigpt4_jax.generate import decode, sampling
from minigpt4_jax.generate.buckets import DEFAULT_BUCKETS, bucket_length, left_pad
from minigpt4_jax.generate.chat import encode_program, splice_program
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.generate.stop_strings import StopTables
from minigpt4_jax.models import VisionLanguageModel
from minigpt4_jax.models.llama import KVCache


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SlotState:
  """What the step program carries for S slots (rows of idle slots are stale).

  cache: the LLM's cache with one row per slot, each at its own ``index``; logits: float32[S, V] next-token predictions; seen: bool[S, V] generated ids
  (repetition penalty); stop_state: int32[S, stop strings]; positions: int32[S]
  rotary position of the next token; generated: int32[S] tokens so far; keys: the
  requests' sampling keys [S]; knobs: ``sampling.Knobs`` with [S] leaves.
  """

  cache: KVCache
  logits: jax.Array
  seen: jax.Array
  stop_state: jax.Array
  positions: jax.Array
  generated: jax.Array
  keys: jax.Array
  knobs: sampling.Knobs


def empty_state(llm, slots: int, length: int, num_stop_strings: int) -> SlotState:
  vocab = llm.cfg.vocab_size
  return SlotState(
      cache=KVCache.empty(llm.cfg, slots, length, llm.embed_tokens.dtype, per_row_index=True),
      logits=jnp.zeros((slots, vocab), jnp.float32),
      seen=jnp.zeros((slots, vocab), bool),
      stop_state=jnp.zeros((slots, num_stop_strings), jnp.int32),
      positions=jnp.zeros(slots, jnp.int32),
      generated=jnp.zeros(slots, jnp.int32),
      keys=jax.vmap(jax.random.key)(jnp.zeros(slots, jnp.uint32)),
      knobs=jax.tree.map(lambda x: jnp.repeat(x[None], slots),
                         sampling.Knobs.of(GenerationConfig())),
  )


def choose_tokens(state: SlotState, eos_ids: jax.Array) -> jax.Array:
  """int32[S]: each slot's next token, as ``decode.decode`` picks it for one row."""
  def one(logits_v, seen_v, generated, knobs, key):
    key = jax.random.fold_in(key, generated)
    return sampling.next_token(logits_v[None], seen_v[None], generated, knobs, eos_ids, key)[0]

  return jax.vmap(one)(state.logits, state.seen, state.generated, state.knobs, state.keys)


@functools.partial(jax.jit, static_argnames=('graphdef',), donate_argnames=('state',))
def generate_program(graphdef, params, state: SlotState, active_s, stops: StopTables, eos_ids):
  """One decode step for every slot -> (state, token int32[S], ended bool[S])."""
  llm = nnx.merge(graphdef, params)
  token_s = choose_tokens(state, eos_ids)
  stop_state, hit_s = stops.advance(state.stop_state, token_s)
  # Idle slots compute too (one program for any occupancy) but write at entry 0, so
  # their index never runs past the cache; insert_row rewrites a row before reuse.
  cache = dataclasses.replace(state.cache, index=jnp.where(active_s, state.cache.index, 0))
  logits_sv, cache = decode.feed(llm, token_s, state.positions, cache)
  rows = jnp.arange(token_s.shape[0])
  state = dataclasses.replace(
      state, cache=cache, logits=logits_sv, seen=state.seen.at[rows, token_s].set(True),
      stop_state=stop_state, positions=state.positions + 1, generated=state.generated + 1)
  return state, token_s, decode.is_eos(token_s, eos_ids) | hit_s


@functools.partial(jax.jit, static_argnames=('graphdef',))
def prefill_program(graphdef, params, embeds_1pd, mask_1p):
  """``decode.prefill`` of one prompt into a cache of its own padded length."""
  return decode.prefill(nnx.merge(graphdef, params), embeds_1pd, mask_1p, embeds_1pd.shape[1])


def insert_row(cache: KVCache, slot: jax.Array, prefilled: KVCache) -> KVCache:
  """Row ``slot`` <- a one-row prefill cache of P left-padded entries.

  The real tokens move to entries [0, n) (rotary positions are already in the keys,
  so where an entry sits does not matter, only which entries are valid): a prompt
  then needs n + answer entries, not its padded bucket's P + answer.
  """
  valid_p = prefilled.slot_valid[0]
  p = valid_p.shape[0]
  shift = p - jnp.sum(valid_p, dtype=jnp.int32)

  def put(buffer_kl, new_1kp):  # [slots, K, L, H] <- [1, K, P, H]
    return buffer_kl.at[slot, :, :p].set(
        jnp.roll(new_1kp[0], -shift, axis=1).astype(buffer_kl.dtype))

  valid_l = jnp.zeros(cache.slot_valid.shape[1], bool).at[:p].set(jnp.roll(valid_p, -shift))
  return KVCache(k=tuple(map(put, cache.k, prefilled.k)), v=tuple(map(put, cache.v, prefilled.v)),
                 slot_valid=cache.slot_valid.at[slot].set(valid_l),
                 index=cache.index.at[slot].set(p - shift))


@functools.partial(jax.jit, donate_argnames=('state',))
def insert_program(state: SlotState, slot, logits_1v, prefilled, next_position, knobs, key,
                   start_id):
  """The prefilled request takes slot ``slot`` (its history of another request is reset);
  ``start_id``: the id its repetition penalty counts first (``sampling.initially_seen``)."""
  reset = lambda x, value: x.at[slot].set(value)
  vocab = state.seen.shape[1]
  return SlotState(
      cache=insert_row(state.cache, slot, prefilled),
      logits=reset(state.logits, logits_1v[0]),
      seen=reset(state.seen, sampling.initially_seen(1, vocab, start_id)[0]),
      stop_state=reset(state.stop_state, 0),
      positions=reset(state.positions, next_position[0]),
      generated=reset(state.generated, 0),
      keys=reset(state.keys, key),
      knobs=jax.tree.map(reset, state.knobs, knobs),
  )


class Request:
  """One completion: the prompt (ids with image placeholders, pixels or None), its
  settings, and a queue the engine fills with new tokens (None once finished)."""

  def __init__(self, ids: Sequence[int], pixels: np.ndarray | None, config: GenerationConfig,
               seed: int):
    self.ids, self.pixels, self.config, self.seed = list(ids), pixels, config, seed
    self.generated = 0
    self.finish_reason: str | None = None  # 'stop', 'length', 'cancelled' or 'error'
    self.error: str | None = None
    self._tokens: queue.Queue[int | None] = queue.Queue()
    self._cancelled = threading.Event()

  def cancel(self) -> None:
    """Asks the engine to drop this request (its slot is freed after the next step)."""
    self._cancelled.set()

  @property
  def cancelled(self) -> bool:
    return self._cancelled.is_set()

  def tokens(self) -> Iterator[list[int]]:
    """Yields the tokens generated since the last yield, until the request finishes."""
    while True:
      batch = [self._tokens.get()]
      while not self._tokens.empty():
        batch.append(self._tokens.get())
      done = batch[-1] is None
      new = [t for t in batch if t is not None]
      if new:
        yield new
      if done:
        return

  def _put(self, token: int) -> None:
    self._tokens.put(token)

  def _finish(self, reason: str, error: str | None = None) -> None:
    self.finish_reason, self.error = reason, error
    self._tokens.put(None)


class Engine:
  """Decode slots over ``model`` (any family).

  Args:
    slots: requests decoded at once.
    context: cache entries per slot: prompt (n real tokens) + answer must fit.
    stops: the template's stop-string tables; eos_ids: ids that end an answer.
  """

  def __init__(self, model: VisionLanguageModel, *, slots: int, context: int, stops: StopTables,
               eos_ids: Sequence[int], buckets: Sequence[int] = DEFAULT_BUCKETS):
    self.slots, self.context = slots, context
    self.buckets = tuple(b for b in buckets if b < context) + (context,)
    self.graphdef, self.params = nnx.split(model)
    self.llm_graphdef, self.llm_params = nnx.split(model.llm)
    self.stops = stops
    self.eos_ids = jnp.asarray(eos_ids, jnp.int32)
    self.bos_id = model.cfg.llm.bos_token_id
    dtype = model.llm.embed_tokens.dtype
    self.no_image = jnp.zeros((1, model.cfg.num_image_tokens, model.cfg.llm.hidden), dtype)
    self.state = empty_state(model.llm, slots, context, stops.num_strings)
    self.active = np.zeros(slots, bool)
    self.running: list[Request | None] = [None] * slots
    self.pending: collections.deque[Request] = collections.deque()
    self.wakeup = threading.Condition()
    self.closing = False
    self.thread = threading.Thread(target=self.run, name='engine', daemon=True)

  def start(self) -> 'Engine':
    self.thread.start()
    return self

  def close(self) -> None:
    with self.wakeup:
      self.closing = True
      self.wakeup.notify()
    self.thread.join()

  def submit(self, request: Request) -> Request:
    """Queues ``request``; it is inserted into the first free slot between two steps."""
    if len(request.ids) + request.config.max_new_tokens > self.context:
      raise ValueError(f'{len(request.ids)} prompt + {request.config.max_new_tokens} new '
                       f'tokens exceed the context of {self.context}')
    with self.wakeup:
      self.pending.append(request)
      self.wakeup.notify()
    return request

  def busy_slots(self) -> int:
    return int(self.active.sum())

  def run(self) -> None:
    """The device loop: admit waiting requests into free slots, step, hand out tokens."""
    while True:
      with self.wakeup:
        while not self.closing and not self.pending and not self.active.any():
          self.wakeup.wait()
        if self.closing:
          return self._drop_all()
      self._admit()
      if self.active.any():
        self._step()

  def _admit(self) -> None:
    for slot in np.flatnonzero(~self.active):
      request = self._next_pending()
      if request is None:
        return
      try:
        self._insert(int(slot), request)
      except Exception as err:  # one bad request must not stop the server
        request._finish('error', f'{type(err).__name__}: {err}')

  def _next_pending(self) -> Request | None:
    with self.wakeup:
      while self.pending:
        request = self.pending.popleft()
        if not request.cancelled:
          return request
        request._finish('cancelled')
    return None

  def _insert(self, slot: int, request: Request) -> None:
    image = self.no_image
    if request.pixels is not None:
      image = encode_program(self.graphdef, self.params, jnp.asarray(request.pixels)[None])
    ids_1p, mask_1p = left_pad([request.ids], bucket_length(len(request.ids), self.buckets), 0)
    embeds = splice_program(self.graphdef, self.params, jnp.asarray(ids_1p), image)
    logits, prefilled, next_position = prefill_program(self.llm_graphdef, self.llm_params,
                                                       embeds, jnp.asarray(mask_1p))
    knobs = sampling.Knobs.of(request.config)
    start_id = self.bos_id if request.config.starts_with_bos else -1  # as Generator's
    self.state = insert_program(self.state, jnp.int32(slot), logits, prefilled, next_position,
                                knobs, jax.random.key(request.seed), jnp.int32(start_id))
    self.active[slot] = True
    self.running[slot] = request

  def _step(self) -> None:
    self.state, token_s, ended_s = generate_program(
        self.llm_graphdef, self.llm_params, self.state, jnp.asarray(self.active), self.stops,
        self.eos_ids)
    token_s, ended_s = np.asarray(token_s), np.asarray(ended_s)
    for slot in np.flatnonzero(self.active):
      request = self.running[slot]
      request._put(int(token_s[slot]))
      request.generated += 1
      if ended_s[slot]:
        self._free(slot, 'stop')
      elif request.generated >= request.config.max_new_tokens:
        self._free(slot, 'length')
      elif request.cancelled:
        self._free(slot, 'cancelled')

  def _drop_all(self) -> None:
    """On close, every waiting and running request ends, so no reader waits forever."""
    for slot in np.flatnonzero(self.active):
      self._free(slot, 'cancelled')
    while self.pending:
      self.pending.popleft()._finish('cancelled')

  def _free(self, slot: int, reason: str) -> None:
    self.running[slot]._finish(reason)
    self.running[slot] = None
    self.active[slot] = False
