"""Timing order and the memory measurement, on stand-in work."""

import numpy as np

from minigpt4_jax.tools.bench.memory import peak_rss_alone
from minigpt4_jax.tools.bench.timing import interleaved

MIB = 2 ** 20


def test_interleaved_rotates_who_goes_first_after_the_warmup():
  calls = []
  times = interleaved({'a': lambda: calls.append('a'), 'b': lambda: calls.append('b')},
                      reps=3, warmup=1)
  assert calls == ['a', 'b'] + ['a', 'b', 'b', 'a', 'a', 'b']
  assert [len(t) for t in times.values()] == [3, 3]


def touch_mib(n: int) -> None:
  np.ones(n * MIB, np.uint8)


def test_peak_rss_alone_sees_an_allocation_in_its_own_process():
  before, peak = peak_rss_alone(touch_mib, 256)
  assert peak - before >= 250 * MIB
