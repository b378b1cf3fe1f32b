"""Prompt-length buckets: a padded prompt length picks the compiled program.

Prompts are left-padded up to the next bucket and the KV cache holds
``bucket + max_new_tokens`` slots, so a chat session whose prompt grows each turn
compiles once per bucket it reaches, not once per turn. Doubling buckets waste at
most half the prefill and keep the count logarithmic in the context length.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

DEFAULT_BUCKETS = (64, 128, 256, 512, 1024, 2048, 4096)


def bucket_length(length: int, buckets: Sequence[int] = DEFAULT_BUCKETS) -> int:
  """The smallest bucket >= ``length``; past the last, the next multiple of it."""
  for b in buckets:
    if length <= b:
      return b
  return -(-length // buckets[-1]) * buckets[-1]


def left_pad(rows: Sequence[Sequence[int]], length: int,
             pad_id: int) -> tuple[np.ndarray, np.ndarray]:
  """Token rows -> (ids int32[B, length], mask bool[B, length]), padding on the left so
  every row's last token sits in the last column (decoding then advances all rows in
  the same cache slot)."""
  ids = np.full((len(rows), length), pad_id, np.int32)
  mask = np.zeros((len(rows), length), bool)
  for b, row in enumerate(rows):
    if len(row) > length:
      raise ValueError(f'row {b} has {len(row)} tokens, more than the padded length {length}')
    if row:
      ids[b, length - len(row):] = row
      mask[b, length - len(row):] = True
  return ids, mask
