"""The text of an answer that is still being generated, handed out in pieces.

Only text that later tokens cannot change is shown: cut at a stop string, minus a
tail that could still become one, minus trailing space (the final answer is stripped),
and minus a trailing run of byte-fallback tokens (``<0xE4>``) that is still valid
UTF-8. The tokenizer decodes such a run whole (tokenizers' ``ByteFallback`` decoder,
``tokenizers/src/decoders/byte_fallback.rs``): its text if the bytes are valid UTF-8,
else one U+FFFD per byte. So a run that is valid so far (a split character, or
characters that a later invalid byte would still turn into U+FFFDs) waits for the
token that ends it, while a run that is already invalid is shown at once (it stays
invalid, one U+FFFD per byte). The pieces therefore join to the non-streamed text.
Shared by ``Chat.stream_answer`` and the server's streamed replies.
"""

from __future__ import annotations

import codecs
import functools

from transformers import PreTrainedTokenizerBase

from minigpt4_jax.generate.stop_strings import BYTE_PIECE, settled_prefix


def decoded(tokenizer: PreTrainedTokenizerBase, tokens: list[int]) -> str:
  """An answer's text. Special tokens (a leading unk/BOS, the final EOS) are dropped,
  as MiniGPT-4 drops them."""
  return tokenizer.decode(tokens, skip_special_tokens=True)


@functools.lru_cache(maxsize=8)
def byte_fallback_values(tokenizer: PreTrainedTokenizerBase) -> dict[int, int]:
  """``id -> byte`` for the tokenizer's byte-fallback pieces ``<0x00>`` ... ``<0xFF>``."""
  return {i: int(m.group(1), 16) for piece, i in tokenizer.get_vocab().items()
          if (m := BYTE_PIECE.fullmatch(piece))}


def settled_tokens(tokens: list[int], byte_values: dict[int, int]) -> int:
  """How many leading tokens decode to text that no later token changes: all but a
  trailing byte-fallback run whose bytes are still valid UTF-8 (complete or not)."""
  start = len(tokens)
  while start and tokens[start - 1] in byte_values:
    start -= 1
  run = bytes(byte_values[t] for t in tokens[start:])
  try:
    codecs.getincrementaldecoder('utf-8')().decode(run, final=False)
  except UnicodeDecodeError:
    return len(tokens)  # already invalid: decodes to one U+FFFD per byte, whatever follows
  return start


class TextStream:

  def __init__(self, tokenizer: PreTrainedTokenizerBase, stop_strings: tuple[str, ...]):
    self.tokenizer = tokenizer
    self.byte_values = byte_fallback_values(tokenizer)
    self.stop_strings = stop_strings
    self.shown = ''

  def update(self, tokens: list[int]) -> str:
    """The new settled text of the answer's tokens so far ('' when none)."""
    text = decoded(self.tokenizer, tokens[:settled_tokens(tokens, self.byte_values)])
    return self._advance(settled_prefix(text, self.stop_strings).strip())

  def finish(self, final: str) -> str:
    """What the final answer adds to the text shown (nothing if it took text back:
    MiniGPT-4's cleanup keeps only what follows a generated ``Assistant:``)."""
    return self._advance(final)

  def _advance(self, text: str) -> str:
    if not text.startswith(self.shown) or len(text) <= len(self.shown):
      return ''
    piece, self.shown = text[len(self.shown):], text
    return piece
