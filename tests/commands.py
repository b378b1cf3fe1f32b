"""Running the real ``python -m ...`` commands in a subprocess, bounded in time."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def run_module(module: str, *args: str, cwd: str | pathlib.Path = REPO, timeout: float = 300,
               **env: str) -> subprocess.CompletedProcess:
  """``python -m MODULE ARGS`` on one CPU device with this checkout importable."""
  environment = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=1',
                     PYTHONPATH=str(REPO))
  # Not inherited: the debug switch, and the transformers verbosity that importing
  # ``launch`` in this process (a test module does) set for its own import.
  for name in ('MINIGPT4_JAX_DEBUG', 'TRANSFORMERS_VERBOSITY'):
    environment.pop(name, None)
  environment.update(env)
  return subprocess.run([sys.executable, '-m', module, *map(str, args)], cwd=cwd,
                        env=environment, capture_output=True, text=True, timeout=timeout)
