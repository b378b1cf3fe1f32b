"""How much of the machine other processes took while we timed: on a shared host
(this project's CPU machines run several sessions) figures are only comparable
together with it."""

from __future__ import annotations

import os


def _jiffies() -> tuple[int, int, int]:
  """(busy, total) clock ticks of all CPUs since boot (/proc/stat) and this
  process's own CPU ticks."""
  with open('/proc/stat') as f:
    user, nice, system, idle, iowait, irq, softirq = (int(x) for x in f.readline().split()[1:8])
  busy = user + nice + system + irq + softirq
  times = os.times()
  own = round((times.user + times.system) * os.sysconf('SC_CLK_TCK'))
  return busy, busy + idle + iowait, own


class OtherLoad:
  """``with OtherLoad() as load: ...``; then ``load.fraction`` is the share of all
  CPUs' time that other processes used during the block (Linux)."""

  fraction: float

  def __enter__(self) -> 'OtherLoad':
    self._start = _jiffies()
    return self

  def __exit__(self, *exc) -> None:
    busy, total, own = (end - start for end, start in zip(_jiffies(), self._start))
    self.fraction = max(busy - own, 0) / max(total, 1)
