"""SIGTERM / SIGINT during training: every process saves at the same step, then exits.

SLURM (``scancel``, ``--signal``, time limits) and Cloud TPU maintenance send
SIGTERM; a person presses Ctrl-C (SIGINT). The handler only records the signal.
At each step boundary every process calls ``PreemptionWatch.agreed_signal``, which
allgathers the recorded signals, so all processes see the same answer at the same
step (one process may be signalled before the others, or alone) and save one
cooperative checkpoint there. A second SIGINT exits at once, without saving.
With several processes that agreement is one 4-byte allgather per step, which waits
for the step just dispatched (as the ``text.pad_multiple`` length agreement does).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import signal
import sys
import time

import jax
import numpy as np
from jax.experimental import multihost_utils

WATCHED = (signal.SIGTERM, signal.SIGINT)
SIGINT_EXIT_CODE = 128 + signal.SIGINT  # what a shell reports for a Ctrl-C'd job


def exit_code(signum: int) -> int:
  """SIGTERM is a scheduler's request: a clean stop (0). SIGINT keeps the shell's 130."""
  return SIGINT_EXIT_CODE if signum == signal.SIGINT else 0


@dataclasses.dataclass(eq=False)  # exceptions compare (and hash) by identity
class Preempted(Exception):
  """Raised by the step loop once the checkpoint at ``step`` is written."""
  signum: int
  step: int
  directory: pathlib.Path
  seconds_since_signal: float | None  # None on a process the signal did not reach

  def __str__(self) -> str:
    waited = ('' if self.seconds_since_signal is None
              else f', {self.seconds_since_signal:.2f} s after the signal')
    return (f'{signal.Signals(self.signum).name}: saved step {self.step} in {self.directory}'
            f'{waited}; rerun the same command to resume from it')


class PreemptionWatch:
  """Records SIGTERM/SIGINT from construction until ``close`` (which restores the
  previous handlers). Must be built in the main thread."""

  def __init__(self):
    self.signum = 0
    self.received_at: float | None = None
    self.previous = {s: signal.signal(s, self._record) for s in WATCHED}

  def _record(self, signum: int, frame) -> None:
    del frame
    if signum == signal.SIGINT and self.signum == signal.SIGINT:
      print('second SIGINT: exiting without saving', file=sys.stderr, flush=True)
      os._exit(SIGINT_EXIT_CODE)
    self.signum = max(self.signum, signum)
    self.received_at = self.received_at or time.monotonic()
    print(f'{signal.Signals(signum).name} received: saving a checkpoint at the next step '
          f'boundary' + (' (SIGINT again exits at once)' if signum == signal.SIGINT else ''),
          file=sys.stderr, flush=True)

  def agreed_signal(self) -> int:
    """The signal every process stops for now, 0 for none. A collective when there
    are several processes: all of them call it at every step boundary."""
    if jax.process_count() == 1:
      return self.signum
    # SIGTERM (15) outranks SIGINT (2): a scheduler's stop is a clean exit everywhere.
    return int(np.max(multihost_utils.process_allgather(np.int32(self.signum))))

  def preempted(self, signum: int, step: int, directory: pathlib.Path) -> Preempted:
    since = None if self.received_at is None else time.monotonic() - self.received_at
    return Preempted(signum, step, directory, since)

  def close(self) -> None:
    for s, handler in self.previous.items():
      signal.signal(s, handler)
