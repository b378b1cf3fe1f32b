"""Referring-expression accuracy as MiniGPT-v2's ``eval_scripts/eval_ref.py`` scores it.

The answer, with spaces and ``<unk>`` removed, must start with ``{<a><b><c><d>}``
(1-3 digits each, eval_ref.py:63-71); the integers are 0-100 grid corners, scaled
by the image's width and height. A hit is IoU > 0.5 with the ground-truth box
[x, y, x + w, y + h], IoU counting pixels inclusively (+1 on each side,
``eval_utils.py:64-76``). Unparsable answers are misses, and are counted.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from minigpt4_jax.evaluate.metrics.common import aligned, percent
from minigpt4_jax.evaluate.refcoco_reader import RefRecord
from minigpt4_jax.grounding import to_pixels

_ANSWER_BOX = re.compile(r'\{<(\d{1,3})><(\d{1,3})><(\d{1,3})><(\d{1,3})>\}')

Corners = tuple[float, float, float, float]


def answer_box(answer: str, width: int, height: int) -> Corners | None:
  """The answer's box in pixels, or None if it does not start with one."""
  match = _ANSWER_BOX.match(answer.replace(' ', '').replace('<unk>', ''))
  if match is None:
    return None
  return to_pixels(tuple(int(v) for v in match.groups()), width, height)


def iou_inclusive(a: Corners, b: Corners) -> float:
  """IoU of corner boxes whose pixel extents are inclusive (width = x2 - x1 + 1)."""
  iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]) + 1)
  ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
  inter = iw * ih
  area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
  area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
  return inter / (area_a + area_b - inter)


def refcoco_scores(records: Sequence[RefRecord], predictions: Mapping[int, str]
                   ) -> dict[str, float | int]:
  """Accuracy at IoU > 0.5 in percent, over all sentences; and how many answers held no box."""
  hits = unparsable = 0
  for record, answer in zip(records, aligned(records, predictions)):
    box = answer_box(answer, record.width, record.height)
    if box is None:
      unparsable += 1
      continue
    x, y, w, h = record.box_xywh
    hits += iou_inclusive(box, (x, y, x + w, y + h)) > 0.5
  return {'accuracy': percent(hits, len(records)), 'unparsable': unparsable}

