"""Peak host memory (RSS) of one piece of work, run alone in a fresh process.

Within one process the RSS high-water mark never comes down, so both frameworks'
peaks cannot be told apart in the interleaved run; each is measured in a spawned
process that imports the same modules, builds only its own model and steps it.
Linux only: it reads and resets the kernel's high-water mark through /proc.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from typing import Callable


def _status_bytes(field: str) -> int:
  """A ``kB`` line of /proc/self/status (VmRSS, VmHWM), in bytes."""
  with open('/proc/self/status') as f:
    for line in f:
      if line.startswith(field + ':'):
        return int(line.split()[1]) * 1024
  raise KeyError(field)


def _measure(fn: Callable[..., object], args: tuple) -> tuple[int, int]:
  # Reset the high-water mark to the current RSS, so the imports' own transient
  # peak does not hide the work's (Linux >= 4.0, /proc/PID/clear_refs value 5).
  with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')
  before = _status_bytes('VmRSS')
  fn(*args)
  return before, _status_bytes('VmHWM')


def peak_rss_alone(fn: Callable[..., object], *args) -> tuple[int, int]:
  """(RSS after imports, peak RSS while ``fn(*args)`` ran) in bytes, in a fresh process.

  ``fn`` must be a module-level function (the child imports it by name).
  """
  with concurrent.futures.ProcessPoolExecutor(
      max_workers=1, mp_context=multiprocessing.get_context('spawn')) as pool:
    return pool.submit(_measure, fn, args).result()
