"""The text of an answer that is still being generated, handed out in pieces.

Only text that later tokens cannot change is shown: cut at a stop string, minus a
tail that could still become one, minus a half-decoded character and trailing space
(the final answer is stripped). Shared by ``Chat.stream_answer`` and the server's
streamed replies, so both show the same pieces.
"""

from __future__ import annotations

from minigpt4_jax.generate.stop_strings import settled_prefix


class TextStream:

  def __init__(self, stop_strings: tuple[str, ...]):
    self.stop_strings = stop_strings
    self.shown = ''

  def update(self, decoded: str) -> str:
    """The new settled text of the answer decoded so far ('' when none)."""
    return self._advance(settled_prefix(decoded, self.stop_strings).rstrip('\ufffd').strip())

  def finish(self, final: str) -> str:
    """What the final answer adds to the text shown (nothing if it took text back:
    MiniGPT-4's cleanup keeps only what follows a generated ``Assistant:``)."""
    return self._advance(final)

  def _advance(self, text: str) -> str:
    if not text.startswith(self.shown) or len(text) <= len(self.shown):
      return ''
    piece, self.shown = text[len(self.shown):], text
    return piece
