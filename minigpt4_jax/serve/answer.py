"""One reply's tokens -> its text: the template's cleanup (``text.templates.postprocess``,
as ``Chat`` records answers), the request's own ``stop`` strings, and streamed pieces;
for a grounding family, the boxes the text names (``serve.boxes``).

The template's stop strings end decoding on the device (``StopTables``); a request's
``stop`` strings are matched here, on the decoded text, and the server cancels the
request when one appears (OpenAI: the stop string itself is not returned).
"""

from __future__ import annotations

from typing import Any

from minigpt4_jax.generate.text_stream import TextStream, decoded
from minigpt4_jax.serve.boxes import boxes_field
from minigpt4_jax.text.templates import cut_at_stop, postprocess


class Answer:
  """``grounded``: the reply carries ``boxes`` (relative to ``image_size``, (W, H))."""

  def __init__(self, tokenizer, template_stops: tuple[str, ...], request_stops: tuple[str, ...],
               *, grounded: bool = False, image_size: tuple[int, int] | None = None):
    self.tokenizer = tokenizer
    self.template_stops, self.request_stops = template_stops, request_stops
    self.grounded, self.image_size = grounded, image_size
    self.tokens: list[int] = []
    self.stopped = False  # a request stop string appeared
    self.stream = TextStream(tokenizer, template_stops + request_stops)

  def add(self, new: list[int]) -> str:
    """Takes newly generated tokens (those after a request stop string are dropped);
    returns the new settled text."""
    for token in new:
      if self.stopped:
        break
      self.tokens.append(token)
      # Decoding after each token finds the token that completes the stop string,
      # so usage counts the tokens up to it whatever the batching.
      if self.request_stops:
        self.stopped = cut_at_stop(self.decoded(), self.request_stops) != self.decoded()
    return self.stream.update(self.tokens)

  def decoded(self) -> str:
    return decoded(self.tokenizer, self.tokens)

  def text(self) -> str:
    """The whole reply, as ``Chat`` would record it."""
    return postprocess(cut_at_stop(self.decoded(), self.request_stops), self.template_stops)

  def finish(self) -> str:
    """The streamed reply's last piece (the pieces join to ``text()``)."""
    return self.stream.finish(self.text())

  def extras(self) -> dict[str, Any]:
    """Message fields beside ``content``: ``boxes`` for a grounding family, else none."""
    return {'boxes': boxes_field(self.text(), self.image_size)} if self.grounded else {}
