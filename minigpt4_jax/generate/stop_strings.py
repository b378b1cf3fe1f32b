"""Stop strings matched on decoded text, inside the jitted loop.

A stop string can be produced by many token sequences: Vicuna's ``###`` is one
token (835), two (2277 ``##`` + 29937 ``#``), three byte tokens, or the tail of a
longer piece such as ``.###``. MiniGPT-4 listed two of these id sequences; we match
the text itself instead, so every tokenization stops. Each stop string is compiled
into a KMP automaton over the UTF-8 bytes of the decoded tokens: its state is how
much of the string the text generated so far ends with, and a token moves it with
one table lookup, ``next_state[string, state, token]``. The tables are built once per
tokenizer on the host; the loop does two gathers per step.
"""

from __future__ import annotations

import dataclasses
import re

import jax
import jax.numpy as jnp
import numpy as np
from transformers import PreTrainedTokenizerBase

from minigpt4_jax.text.templates import cut_at_stop

BYTE_PIECE = re.compile(r'<0x([0-9A-Fa-f]{2})>')


def token_bytes(tokenizer: PreTrainedTokenizerBase, vocab_size: int) -> list[bytes]:
  """The UTF-8 bytes each id adds to decoded text (sentencepiece pieces: ``▁`` is a
  space, ``<0xNN>`` a raw byte). Special tokens and ids past the tokenizer's vocabulary
  (a model's padded rows) add nothing, as decoding with skip_special_tokens does."""
  special = set(tokenizer.all_special_ids)
  pieces = tokenizer.convert_ids_to_tokens(list(range(min(len(tokenizer), vocab_size))))
  out = [b''] * vocab_size
  for i, piece in enumerate(pieces):
    if i in special or piece is None:
      continue
    byte = BYTE_PIECE.fullmatch(piece)
    out[i] = bytes([int(byte.group(1), 16)]) if byte else piece.replace('▁', ' ').encode('utf-8')
  return out


def kmp_transitions(pattern: bytes) -> np.ndarray:
  """int32[m, 256]: from state q (the text ends with pattern[:q]) on a byte, the next
  state; m means a full match."""
  m = len(pattern)
  delta = np.zeros((m, 256), np.int32)
  fallback = 0  # state reached by the text minus its first byte (KMP failure link)
  for q in range(m):
    delta[q] = delta[fallback] if q else 0
    delta[q, pattern[q]] = q + 1
    if q:
      fallback = delta[fallback, pattern[q]]
  return delta


def token_transitions(pattern: bytes, pieces: list[bytes], num_states: int):
  """(next_state int32[Q, V], hit bool[Q, V]) for one pattern, states padded to Q."""
  delta = kmp_transitions(pattern)
  alphabet = set(pattern)
  vocab = len(pieces)
  next_state = np.zeros((num_states, vocab), np.int32)
  hit = np.zeros((num_states, vocab), bool)
  for t, piece in enumerate(pieces):
    if not piece:
      next_state[:, t] = np.arange(num_states)  # adds no text: state unchanged
      continue
    if not alphabet & set(piece):
      continue  # no byte of the pattern: back to state 0, no match
    for q in range(len(pattern)):
      state = q
      for byte in piece:
        state = delta[state, byte]
        if state == len(pattern):
          hit[q, t] = True
          break
      next_state[q, t] = 0 if hit[q, t] else state
  return next_state, hit


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class StopTables:
  """Device tables for S stop strings over a V-token vocabulary.

  next_state: int32[S, Q, V]; hit: bool[S, Q, V] (the token completes string s from
  state q). Q is the longest string's byte length.
  """

  next_state: jax.Array
  hit: jax.Array

  @property
  def num_strings(self) -> int:
    return self.next_state.shape[0]

  @classmethod
  def build(cls, tokenizer: PreTrainedTokenizerBase, strings: tuple[str, ...],
            vocab_size: int) -> 'StopTables':
    if not strings:
      return cls.none(vocab_size)
    if not all(strings):
      raise ValueError(f'empty stop string in {strings!r}')
    pieces = token_bytes(tokenizer, vocab_size)
    patterns = [s.encode('utf-8') for s in strings]
    num_states = max(len(p) for p in patterns)
    tables = [token_transitions(p, pieces, num_states) for p in patterns]
    return cls(next_state=jnp.asarray(np.stack([t[0] for t in tables])),
               hit=jnp.asarray(np.stack([t[1] for t in tables])))

  @classmethod
  def none(cls, vocab_size: int) -> 'StopTables':
    return cls(next_state=jnp.zeros((0, 1, vocab_size), jnp.int32),
               hit=jnp.zeros((0, 1, vocab_size), bool))

  def advance(self, state_bs: jax.Array, token_b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Feeds one token per row: int32[B, S], int32[B] -> (new state int32[B, S], hit bool[B])."""
    s_1s = jnp.arange(self.num_strings)[None, :]
    t_b1 = token_b[:, None]
    hit_b = jnp.any(self.hit[s_1s, state_bs, t_b1], axis=-1)
    return self.next_state[s_1s, state_bs, t_b1], hit_b


def settled_prefix(text: str, strings: tuple[str, ...]) -> str:
  """The part of a growing text that no later token can turn into a stop string: cut
  at a stop string, minus a tail that could still become one (``#`` or ``##``)."""
  text = cut_at_stop(text, strings)
  pending = max((k for s in strings for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
  return text[:len(text) - pending]
