"""A persistent XLA compilation cache, so a restarted or repeated command does not recompile.

A 7B/13B step takes minutes to compile; a preempted run that restarts, or a chat after
a training run of the same model, would pay that again. JAX can keep compiled
executables on disk (``jax_compilation_cache_dir``) and look them up by a hash of the
program, the compiler flags and the devices, so a hit is the very executable a fresh
compile would build.

Every ``launch.*`` command turns it on at start (``minigpt4_jax.cli``):

- ``MINIGPT4_JAX_COMPILE_CACHE=DIR`` puts it in DIR; ``off`` (or ``0``, ``none``, empty)
  turns it off. Unset: ``$XDG_CACHE_HOME/minigpt4_jax/xla`` (``~/.cache/...`` without
  XDG_CACHE_HOME).
- JAX's own ``JAX_COMPILATION_CACHE_DIR``, when set, wins: the user chose already.
- Only programs that took at least ``MINIGPT4_JAX_COMPILE_CACHE_MIN_SECS`` seconds to
  compile are written (default 1.0, JAX's own default), which keeps the thousands of
  tiny eager programs off the disk.
- It holds at most ``MAX_BYTES``; the least recently used entries go first. With a size
  bound JAX reads and writes entries under a file lock, so processes that share the
  directory (a multi-process run on one host) never read a half-written entry.
"""

from __future__ import annotations

import os
import pathlib

import jax

CACHE_ENV = 'MINIGPT4_JAX_COMPILE_CACHE'
MIN_SECONDS_ENV = 'MINIGPT4_JAX_COMPILE_CACHE_MIN_SECS'
_OFF = ('', '0', 'off', 'none', 'false')
MAX_BYTES = 16 * 2**30


def default_cache_dir() -> pathlib.Path:
  """``$XDG_CACHE_HOME/minigpt4_jax/xla``, or ``~/.cache/minigpt4_jax/xla``."""
  root = os.environ.get('XDG_CACHE_HOME') or pathlib.Path.home() / '.cache'
  return pathlib.Path(root) / 'minigpt4_jax' / 'xla'


def cache_dir_from_env(environ: os._Environ | dict[str, str] = os.environ) -> pathlib.Path | None:
  """Where the cache goes per ``MINIGPT4_JAX_COMPILE_CACHE`` (None: off)."""
  if CACHE_ENV not in environ:
    return default_cache_dir()
  value = environ[CACHE_ENV].strip()
  return None if value.lower() in _OFF else pathlib.Path(value).expanduser()


def use_compile_cache(environ: os._Environ | dict[str, str] = os.environ) -> pathlib.Path | None:
  """Turns the persistent cache on as the environment says; returns its directory (None:
  off, or left to ``JAX_COMPILATION_CACHE_DIR``)."""
  if environ.get('JAX_COMPILATION_CACHE_DIR'):
    return None
  directory = cache_dir_from_env(environ)
  if directory is None:
    return None
  try:
    directory.mkdir(parents=True, exist_ok=True)
  except OSError:  # a read-only home: run without the cache rather than fail
    return None
  jax.config.update('jax_compilation_cache_dir', str(directory))
  jax.config.update('jax_compilation_cache_max_size', MAX_BYTES)
  jax.config.update('jax_persistent_cache_min_compile_time_secs',
                    float(environ.get(MIN_SECONDS_ENV, '1.0')))
  return directory
