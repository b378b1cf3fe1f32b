"""The ``boxes`` field of a grounding family's replies: the boxes an answer's text
names (``<p>phrase</p> {<x1><y1><x2><y2>}``, parsed as the MiniGPT-v2 demo parses
them, ``minigpt4_jax.grounding``), so a client need not parse the box syntax.

Each box is ``{"phrase": "dog", "box": [x1, y1, x2, y2], "pixels": [x1, y1, x2, y2]}``:
``box`` on the model's 0-100 grid, ``pixels`` in the request image's own width and
height (None without an image); a bare [refer] answer's phrase is "". ``content``
keeps the model's text as it is, box syntax included.
"""

from __future__ import annotations

from typing import Any

from minigpt4_jax.grounding import parse_grounded, to_pixels


def boxes_field(text: str, image_size: tuple[int, int] | None) -> list[dict[str, Any]]:
  """The boxes of ``text``; ``image_size`` (width, height) of the request's image."""
  return [{'phrase': item.phrase, 'box': list(box),
           'pixels': None if image_size is None else list(to_pixels(box, *image_size))}
          for item in parse_grounded(text) for box in item.boxes]
