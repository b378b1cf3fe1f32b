"""Joining a multi-process JAX run (one process per host) from the environment.

A plain launch sets three variables on every process:

  JAX_COORDINATOR_ADDRESS=host0:1234   process 0's host and a free port
  JAX_NUM_PROCESSES=2                  how many processes take part
  JAX_PROCESS_ID=0                     this process, 0 .. JAX_NUM_PROCESSES-1

Where they are unset, ``jax.distributed.initialize`` detects them itself: SLURM
(SLURM_JOB_ID, SLURM_NTASKS, SLURM_PROCID, SLURM_STEP_NODELIST: one task per node),
Open MPI and Cloud TPU VM pods (the TPU metadata server). On CPU the cross-process
collectives run over gloo (JAX's default ``jax_cpu_collectives_implementation``).

``WorkShare`` splits a preprocessing job (feature caching, evaluation, curation)
over the processes: each takes every ``count``-th item, writes its own resumable
files, and process 0 merges them into the one output a single process writes.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import sys
from typing import Mapping, Sequence, TypeVar

import jax
from jax.experimental import multihost_utils

COORDINATOR = 'JAX_COORDINATOR_ADDRESS'
NUM_PROCESSES = 'JAX_NUM_PROCESSES'
PROCESS_ID = 'JAX_PROCESS_ID'
T = TypeVar('T')


def _int_variable(environ: Mapping[str, str], name: str) -> int | None:
  value = environ.get(name)
  if value is None:
    return None
  try:
    return int(value)
  except ValueError:
    raise ValueError(f'environment variable {name}={value!r} is not an integer') from None


def settings_from_environment(environ: Mapping[str, str]) -> dict[str, str | int | None]:
  """jax.distributed.initialize keyword arguments from our variables (None: JAX detects)."""
  settings = {'coordinator_address': environ.get(COORDINATOR),
              'num_processes': _int_variable(environ, NUM_PROCESSES),
              'process_id': _int_variable(environ, PROCESS_ID)}
  count, index = settings['num_processes'], settings['process_id']
  if count is not None and count < 1:
    raise ValueError(f'environment variable {NUM_PROCESSES}={count} must be >= 1')
  if count is not None and index is not None and not 0 <= index < count:
    raise ValueError(f'environment variable {PROCESS_ID}={index} must be in [0, {count})')
  return settings


def initialize(environ: Mapping[str, str] | None = None) -> None:
  """Calls jax.distributed.initialize once, before any JAX computation. A CLI's
  ``--distributed``: a malformed variable is a one-line error and exit status 2."""
  try:
    settings = settings_from_environment(os.environ if environ is None else environ)
  except ValueError as err:
    print(f'error: {err}', file=sys.stderr)
    sys.exit(2)
  jax.distributed.initialize(**settings)


@dataclasses.dataclass(frozen=True)
class WorkShare:
  """Process ``index`` of ``count``: items index, index + count, index + 2 count, ..."""
  index: int = 0
  count: int = 1

  @property
  def is_main(self) -> bool:
    """Process 0 merges the shares and writes what exists once."""
    return self.index == 0

  def take(self, items: Sequence[T]) -> list[T]:
    return list(items[self.index::self.count])

  def file_name(self, name: str, index: int | None = None) -> str:
    """Process ``index``'s (default: this one's) own copy of a resumable file:
    'predictions.jsonl' -> 'predictions.process-1-of-2.jsonl'; one process keeps the name."""
    if self.count == 1:
      return name
    path = pathlib.PurePath(name)
    index = self.index if index is None else index
    return f'{path.stem}.process-{index}-of-{self.count}{path.suffix}'

  def file_names(self, name: str) -> list[str]:
    """Every process's copy of ``name``, in process order (what process 0 merges)."""
    return [self.file_name(name, i) for i in range(self.count)]

  def wait_for_all(self, what: str) -> None:
    """A barrier: returns once every process has reached it (named by ``what``)."""
    if self.count > 1:
      multihost_utils.sync_global_devices(what)


def this_process_share() -> WorkShare:
  return WorkShare(jax.process_index(), jax.process_count())
