"""The persistent compilation cache: where it goes, how it is turned off, and that a second
command reads what the first one compiled."""

import os
import pathlib
import subprocess
import sys

from minigpt4_jax.compile_cache import CACHE_ENV, cache_dir_from_env, default_cache_dir

_ROOT = pathlib.Path(__file__).resolve().parents[1]

# A command that compiles one program through the CLI entry point and prints how many
# compilations the persistent cache answered and missed.
_COMMAND = """
import jax, jax.numpy as jnp
from jax import monitoring
from minigpt4_jax import cli
events = []
monitoring.register_event_listener(lambda name, **kw: events.append(name))
def main(argv):
  jax.jit(lambda x: jnp.tanh(x) @ x.T)(jnp.ones((8, 8))).block_until_ready()
cli.run(main, [])
print(events.count('/jax/compilation_cache/cache_hits'),
      events.count('/jax/compilation_cache/cache_misses'))
"""


def _run(env: dict[str, str]) -> tuple[int, int]:
  out = subprocess.run([sys.executable, '-c', _COMMAND], env=env, cwd=_ROOT, check=True,
                       capture_output=True, text=True, timeout=120).stdout
  hits, misses = out.split()
  return int(hits), int(misses)


def _environment(**values: str) -> dict[str, str]:
  env = {k: v for k, v in os.environ.items()
         if k not in (CACHE_ENV, 'JAX_COMPILATION_CACHE_DIR', 'XDG_CACHE_HOME')}
  env['PYTHONPATH'] = str(_ROOT)
  return {**env, **values}


def test_default_dir_follows_xdg_cache_home(tmp_path):
  assert cache_dir_from_env({}) == default_cache_dir()
  assert cache_dir_from_env({CACHE_ENV: str(tmp_path)}) == tmp_path
  for off in ('off', '0', 'none', ''):
    assert cache_dir_from_env({CACHE_ENV: off}) is None


def test_a_second_command_reads_what_the_first_compiled(tmp_path):
  env = _environment(XDG_CACHE_HOME=str(tmp_path), MINIGPT4_JAX_COMPILE_CACHE_MIN_SECS='0')
  first_hits, first_misses = _run(env)
  assert first_hits == 0 and first_misses > 0
  entries = list((tmp_path / 'minigpt4_jax' / 'xla').glob('*-cache'))
  assert entries, 'nothing was written to the cache'
  second_hits, second_misses = _run(env)
  assert second_hits >= first_misses and second_misses == 0


def test_off_writes_nothing(tmp_path):
  env = _environment(XDG_CACHE_HOME=str(tmp_path), MINIGPT4_JAX_COMPILE_CACHE_MIN_SECS='0',
                     **{CACHE_ENV: 'off'})
  assert _run(env) == (0, 0)
  assert not (tmp_path / 'minigpt4_jax').exists()
