"""Metrics a person can plot: WORKDIR/metrics.jsonl and TensorBoard event files."""

from __future__ import annotations

import json
import pathlib

import jax
from tensorboardX import SummaryWriter

from minigpt4_jax.atomic import write_text_atomically


class MetricsWriter:
  """Appends one JSON object per logged step; only process 0 writes."""

  def __init__(self, workdir: str | pathlib.Path):
    self.enabled = jax.process_index() == 0
    workdir = pathlib.Path(workdir)
    if self.enabled:
      self.jsonl = open(workdir / 'metrics.jsonl', 'a', encoding='utf-8')
      self.tensorboard = SummaryWriter(str(workdir / 'tensorboard'))

  def write(self, step: int, metrics: dict[str, float]) -> None:
    if not self.enabled:
      return
    self.jsonl.write(json.dumps({'step': step, **metrics}) + '\n')
    self.jsonl.flush()
    for name, value in metrics.items():
      self.tensorboard.add_scalar(name, value, step)
    self.tensorboard.flush()

  def close(self) -> None:
    if self.enabled:
      self.jsonl.close()
      self.tensorboard.close()


def drop_logged_after(workdir: str | pathlib.Path, step: int) -> None:
  """Removes JSONL rows past ``step`` (logged after the checkpoint a resume starts
  from), so a resumed run never shows a step twice."""
  path = pathlib.Path(workdir) / 'metrics.jsonl'
  if jax.process_index() != 0 or not path.exists():
    return
  kept = [line for line in path.read_text(encoding='utf-8').splitlines()
          if line.strip() and json.loads(line)['step'] <= step]
  write_text_atomically(path, ''.join(line + '\n' for line in kept))
