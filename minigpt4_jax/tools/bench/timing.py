"""Interleaved timing: contenders alternate, so drift (thermal, turbo, a noisy
neighbour on a shared host) hits them alike."""

from __future__ import annotations

import time
from typing import Callable


def interleaved(contenders: dict[str, Callable[[], object]], reps: int,
                warmup: int) -> dict[str, list[float]]:
  """Seconds of each of ``reps`` calls of every contender, after ``warmup`` calls each.

  Each call must return only once its work is done (read a loss, synchronise). Round
  r starts at contender r mod n, so no contender always runs right after the same one.
  """
  for _ in range(warmup):
    for call in contenders.values():
      call()
  names = list(contenders)
  times: dict[str, list[float]] = {name: [] for name in names}
  for r in range(reps):
    for name in names[r % len(names):] + names[:r % len(names)]:
      start = time.perf_counter()
      contenders[name]()
      times[name].append(time.perf_counter() - start)
  return times
