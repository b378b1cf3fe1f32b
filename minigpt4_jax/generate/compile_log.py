"""Counts XLA compilations by program name (for tests, the benchmark and the report).

JAX logs each compilation (not each call) when ``jax_log_compiles`` is on; this
collects those records instead of printing them.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import re
from typing import Iterator

import jax

_COMPILING = re.compile(r'Compiling jit\((\w+)\)')


class _Collector(logging.Handler):

  def __init__(self):
    super().__init__(logging.DEBUG)
    self.counts: collections.Counter[str] = collections.Counter()

  def emit(self, record: logging.LogRecord) -> None:
    match = _COMPILING.search(record.getMessage())
    if match:
      self.counts[match.group(1)] += 1


@contextlib.contextmanager
def compile_log() -> Iterator[collections.Counter]:
  """Yields a Counter {jitted function name: compilations} filled while the block runs."""
  collector = _Collector()
  logger = logging.getLogger('jax')
  propagate = logger.propagate
  logger.addHandler(collector)
  logger.propagate = False  # keep the records off the console
  try:
    with jax.log_compiles(True):
      yield collector.counts
  finally:
    logger.removeHandler(collector)
    logger.propagate = propagate
