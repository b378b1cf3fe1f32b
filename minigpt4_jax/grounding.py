"""Boxes as text, as MiniGPT-v2 writes and reads them (arXiv 2310.09478).

A box is ``{<x1><y1><x2><y2>}``: integer corners on a 0-100 grid relative to the
original image's width (x) and height (y), truncated toward zero
(Vision-CAIR/MiniGPT-4 d94738a ``minigpt4/datasets/datasets/coco_dataset.py:53-74``).
Images are squashed to a square (no pad, no crop), so the grid is also relative to
the model's input. A phrase with its boxes is ``<p>phrase</p> {..}``; several boxes
of one phrase are joined by ``<delim>`` (``flickr.py:146``, ``demo_v2.py:189-246``).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

GRID = 100  # MiniGPT-v2's bounding_box_size (demo_v2.py:64)
DELIM = '<delim>'

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 on the 0-GRID grid


def box_from_corners(x1: float, y1: float, x2: float, y2: float, width: float,
                     height: float) -> Box:
  """Pixel corners -> grid integers, ``int(v / size * 100)`` as the original (truncation)."""
  return (int(x1 / width * GRID), int(y1 / height * GRID),
          int(x2 / width * GRID), int(y2 / height * GRID))


def box_from_xywh(xywh: Sequence[float], width: float, height: float) -> Box:
  """A COCO box [x, y, w, h] in pixels -> grid integers (corners x, y, x + w, y + h)."""
  x, y, w, h = xywh
  return box_from_corners(x, y, x + w, y + h, width, height)


def box_text(box: Box) -> str:
  """``{<x1><y1><x2><y2>}``."""
  return '{' + ''.join(f'<{v}>' for v in box) + '}'


def boxes_text(boxes: Sequence[Box]) -> str:
  """Several boxes of one phrase: ``{..}<delim>{..}``."""
  return DELIM.join(box_text(b) for b in boxes)


def phrase_text(phrase: str, boxes: Sequence[Box]) -> str:
  """``<p>phrase</p> {..}`` (flickr.py:146 puts one space before the box)."""
  return f'<p>{phrase}</p> {boxes_text(boxes)}'


@dataclasses.dataclass(frozen=True)
class Grounded:
  """A phrase and its boxes as parsed from an answer; phrase '' for a bare [refer] box."""

  phrase: str
  boxes: tuple[Box, ...]


_PHRASE = re.compile(r'<p>(.*?)\}(?!<)')
_INT = re.compile(r'-?\d+')


def _boxes(text: str) -> tuple[Box, ...]:
  """The boxes of ``{..}<delim>{..}`` text; a part without exactly 4 integers is dropped."""
  out = []
  for part in text.split(DELIM):
    ints = [int(v) for v in _INT.findall(part)]
    if len(ints) == 4:
      out.append(tuple(ints))
  return tuple(out)


def parse_grounded(answer: str) -> list[Grounded]:
  """The phrases and boxes of an answer, as the original demo reads them.

  demo_v2.py:81-91, 189-246: text after the last '}' is cut; each ``<p>(.*?)}`` not
  followed by '<' is one phrase (split on '</p>'), its boxes split on ``<delim>``,
  each needing exactly 4 integers. Without any ``<p>``, an answer holding exactly 4
  integers is one unnamed box (the [refer] answer).
  """
  answer = answer[:answer.rfind('}') + 1] if '}' in answer else answer
  found = []
  for match in _PHRASE.findall(answer):
    if '</p>' not in match:
      continue
    phrase, boxes = match.split('</p>', 1)
    boxes = _boxes(boxes)
    if boxes:
      found.append(Grounded(phrase.strip(), boxes))
  if not found and '<p>' not in answer:
    ints = [int(v) for v in _INT.findall(answer)]
    if len(ints) == 4:
      found.append(Grounded('', (tuple(ints),)))
  return found


_BOX_SYNTAX = re.compile(r'\{<-?\d+><-?\d+><-?\d+><-?\d+>\}|<delim>')


def strip_box_syntax(answer: str) -> str:
  """The answer as the demo shows it: boxes and ``<delim>`` removed, ``<p>`` tags dropped
  (the demo recolours the phrases instead, demo_v2.py:360-375)."""
  text = _BOX_SYNTAX.sub('', answer).replace('<p>', '').replace('</p>', '')
  return re.sub(r'\s+([.,;:!?])', r'\1', re.sub(r' {2,}', ' ', text)).strip()


def to_pixels(box: Box, width: float, height: float) -> tuple[float, float, float, float]:
  """Grid integers -> pixel corners of a ``width`` x ``height`` image (v / 100 * size)."""
  x1, y1, x2, y2 = box
  return (x1 / GRID * width, y1 / GRID * height, x2 / GRID * width, y2 / GRID * height)


# The demo's colour cycle starts red, green, blue, olive (demo_v2.py:162-179); the rest
# are distinct colours of our own.
COLORS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (210, 210, 0), (255, 0, 255), (0, 255, 255),
          (255, 128, 0), (128, 0, 255), (0, 128, 0), (128, 128, 255), (255, 0, 128),
          (0, 128, 128))


def draw_grounded(image: Image.Image, grounded: Sequence[Grounded],
                  width: int | None = 500) -> Image.Image:
  """A copy of ``image`` (resized to ``width`` keeping aspect, as the demo does; None:
  as is) with every box drawn, 2 px wide, labelled with its phrase, one colour per phrase."""
  out = image.convert('RGB')
  if width is not None:
    out = out.resize((width, max(1, round(out.height * width / out.width))), Image.BICUBIC)
  draw = ImageDraw.Draw(out)
  font = ImageFont.load_default()
  for n, item in enumerate(grounded):
    color = COLORS[n % len(COLORS)]
    for box in item.boxes:
      x1, y1, x2, y2 = to_pixels(box, out.width, out.height)
      draw.rectangle((min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)), outline=color, width=2)
      if item.phrase:
        left, top, right, bottom = draw.textbbox((0, 0), item.phrase, font=font)
        tx, ty = min(x1, x2) + 2, min(y1, y2) + 2
        draw.rectangle((tx, ty, tx + right - left + 2, ty + bottom - top + 2), fill=color)
        draw.text((tx + 1, ty + 1 - top), item.phrase, fill=(255, 255, 255), font=font)
  return out


def pixel_box_lines(grounded: Sequence[Grounded], width: int, height: int) -> list[str]:
  """One line per box in pixels of a ``width`` x ``height`` image, for a terminal:
  'dog: [50, 60, 250, 300]' (a bare [refer] box is labelled 'box')."""
  lines = []
  for item in grounded:
    for box in item.boxes:
      corners = ', '.join(str(round(v)) for v in to_pixels(box, width, height))
      lines.append(f'{item.phrase or "box"}: [{corners}]')
  return lines
