"""A killed conversion's hidden .OUT.partial-PID folder is removed by the next conversion to
the same --out, only when its process is gone (issue 14, item 8)."""

import logging
import subprocess
import sys

import pytest

from minigpt4_jax import partial_dirs
from minigpt4_jax.checkpoint import CheckpointWriter
from minigpt4_jax.errors import OutputExists


def _finished_pid() -> int:
  process = subprocess.Popen([sys.executable, '-c', 'pass'])
  process.wait()
  return process.pid


def test_stale_partials_are_removed_and_live_ones_kept(tmp_path, caplog):
  out = tmp_path / 'ckpt'
  dead = partial_dirs.sibling(out, 'partial', _finished_pid())
  dead_old = partial_dirs.sibling(out, 'old', _finished_pid())
  with subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']) as alive:
    try:
      live = partial_dirs.sibling(out, 'partial', alive.pid)
      other = tmp_path / f'.other.partial-{_finished_pid()}'  # another output's
      for folder in (dead, dead_old, live, other):
        (folder / 'params').mkdir(parents=True)
      with caplog.at_level(logging.WARNING):
        writer = CheckpointWriter(out)
      writer.abort()
      assert not dead.exists() and not dead_old.exists()
      assert live.exists() and other.exists()
    finally:
      alive.kill()
  said = [r.getMessage() for r in caplog.records]
  assert any(f'removed {dead}, left by an interrupted conversion' in m for m in said), said
  assert not writer.tmp_dir.exists()


def test_existing_output_names_the_flag(tmp_path):
  (tmp_path / 'ckpt').mkdir()
  with pytest.raises(OutputExists, match='pass --overwrite'):
    CheckpointWriter(tmp_path / 'ckpt')
