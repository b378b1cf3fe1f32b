"""Joining a multi-process JAX run (one process per host) from the environment.

A plain launch sets three variables on every process:

  JAX_COORDINATOR_ADDRESS=host0:1234   process 0's host and a free port
  JAX_NUM_PROCESSES=2                  how many processes take part
  JAX_PROCESS_ID=0                     this process, 0 .. JAX_NUM_PROCESSES-1

Where they are unset, ``jax.distributed.initialize`` detects them itself: SLURM
(SLURM_JOB_ID, SLURM_NTASKS, SLURM_PROCID, SLURM_STEP_NODELIST: one task per node),
Open MPI and Cloud TPU VM pods (the TPU metadata server). On CPU the cross-process
collectives run over gloo (JAX's default ``jax_cpu_collectives_implementation``).
"""

from __future__ import annotations

import os
from typing import Mapping

import jax

COORDINATOR = 'JAX_COORDINATOR_ADDRESS'
NUM_PROCESSES = 'JAX_NUM_PROCESSES'
PROCESS_ID = 'JAX_PROCESS_ID'


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
  """Calls jax.distributed.initialize once, before any JAX computation."""
  jax.distributed.initialize(**settings_from_environment(
      os.environ if environ is None else environ))


def is_main_process() -> bool:
  """Process 0 writes what exists once (metrics, merged outputs)."""
  return jax.process_index() == 0
