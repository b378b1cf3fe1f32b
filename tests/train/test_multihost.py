"""Two JAX processes (2 fake CPU devices each) train together through
``python -m launch.train --distributed``: the mesh's data and fsdp axes span both."""

import json
import pathlib
import signal

import numpy as np
import pytest

from configs import tiny
from minigpt4_jax.data.pipeline import make_train_iterator
from minigpt4_jax.bundled import TINY_CHECKPOINT as ASSET_DIR
from minigpt4_jax.train import loop
from minigpt4_jax.workdir import TrainCheckpoints
from tests.multiprocess import Processes, last_logged_step, run_all
from tests.train.test_loop import _steps_logged, _trained

STEPS, CHECKPOINT_EVERY = 10, 3
_RUN = {'train.steps': STEPS, 'train.checkpoint_every': CHECKPOINT_EVERY}


def _fields(stage: str, **fields) -> dict:
  fields = {'train.batch_size': 8, 'train.log_every': 1, 'mesh.data': 2, 'mesh.fsdp': 2,
            **fields}
  if stage == 'stage2':
    fields['init_from'] = str(ASSET_DIR)
  return fields


def _train_args(workdir, stage='stage1', **fields) -> list[str]:
  return ['--distributed', '--config', f'configs/tiny.py:{stage}', '--workdir', str(workdir),
          *(f'--config.{k}={v}' for k, v in _fields(stage, **fields).items())]


def _losses(workdir) -> list[float]:
  lines = (pathlib.Path(workdir) / 'metrics.jsonl').read_text().splitlines()
  return [json.loads(line)['loss'] for line in lines]


class _TwoHostsAsOne:
  """One process reading what two hosts read, concatenated: the same global batches."""

  def __init__(self, cfg, *, global_batch_size, seed):
    self.hosts = [make_train_iterator(cfg, global_batch_size=global_batch_size, seed=seed,
                                      process_index=i, process_count=2) for i in range(2)]

  def __next__(self):
    parts = [next(h) for h in self.hosts]
    return {k: (sum(p[k] for p in parts) if k == 'skipped'
                else np.concatenate([p[k] for p in parts])) for k in parts[0] if k != 'source'}

  def get_state(self):
    return [h.get_state() for h in self.hosts]

  def close(self):
    for host in self.hosts:
      host.close()


def _single_process_losses(monkeypatch, workdir, stage, **fields) -> list[float]:
  """The same run in this process (8 devices: mesh data 4 x fsdp 2) on the same batches."""
  monkeypatch.setattr(loop, 'make_train_iterator', _TwoHostsAsOne)
  c = tiny.get_config(stage).unlock()
  for key, value in {**_fields(stage, **fields), 'mesh.data': 4}.items():
    section, _, name = key.rpartition('.')
    (c[section] if section else c)[name] = value
  loop.train_and_evaluate(c.lock(), workdir)
  return _losses(workdir)


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
  """Tiny stage 1, two processes, start to end."""
  workdir = tmp_path_factory.mktemp('uninterrupted')
  run_all('launch.train', _train_args(workdir, **_RUN),
          workdir / 'logs')
  return workdir


def test_host_slices_are_disjoint_and_cover_the_data():
  cfg = tiny.get_config('stage2').data.unlock()
  cfg.shuffle = False
  texts = []
  for host in range(2):
    it = make_train_iterator(cfg, global_batch_size=2, seed=0, process_index=host,
                             process_count=2, num_epochs=1)
    host_texts = []
    with pytest.raises(StopIteration):
      while True:
        host_texts.extend(next(it)['text'])
    texts.append(host_texts)
  everything = make_train_iterator(cfg, global_batch_size=1, seed=0, num_epochs=1)
  all_texts = []
  with pytest.raises(StopIteration):
    while True:
      all_texts.extend(next(everything)['text'])
  assert len(texts[0]) + len(texts[1]) == len(all_texts)
  assert sorted(texts[0] + texts[1]) == sorted(all_texts)


def test_stage1_on_two_processes_equals_one_process(uninterrupted, tmp_path, monkeypatch):
  assert _steps_logged(uninterrupted) == list(range(1, STEPS + 1))
  # One metrics file and one TensorBoard log, by process 0; orbax saved cooperatively.
  assert len(list((uninterrupted / 'tensorboard').iterdir())) == 1
  latest = uninterrupted / 'checkpoints' / str(STEPS) / 'trainable'
  assert {p.name for p in latest.glob('ocdbt.process_*')} == {'ocdbt.process_0',
                                                              'ocdbt.process_1'}
  single = _single_process_losses(monkeypatch, tmp_path, 'stage1', **_RUN)
  print(f'stage 1, 2 processes vs 1: max relative loss difference '
        f'{np.max(np.abs(np.subtract(_losses(uninterrupted), single)) / np.abs(single)):.2e}')
  np.testing.assert_allclose(_losses(uninterrupted), single, rtol=1e-5)


def test_stage2_with_per_host_lengths_equals_one_process(tmp_path, monkeypatch):
  """pad_multiple=8: each host's longest answer differs, the allgather agrees on one."""
  fields = {'train.steps': 3, 'train.checkpoint_every': 3, 'text.pad_multiple': 8}
  run_all('launch.train', _train_args(tmp_path / 'multi', 'stage2', **fields), tmp_path / 'logs')
  single = _single_process_losses(monkeypatch, tmp_path / 'single', 'stage2', **fields)
  multi = _losses(tmp_path / 'multi')
  print(f'stage 2, 2 processes vs 1: max relative loss difference '
        f'{np.max(np.abs(np.subtract(multi, single)) / np.abs(single)):.2e}')
  np.testing.assert_allclose(multi, single, rtol=1e-5)


def test_killed_then_preempted_run_ends_bit_identical(uninterrupted, tmp_path):
  args = _train_args(tmp_path, **_RUN)
  # kill -9 one process after the first checkpoint; the scheduler then ends the job.
  first = Processes('launch.train', args, tmp_path / 'logs1')
  first.wait_until(lambda: (tmp_path / 'checkpoints' / str(CHECKPOINT_EVERY)).is_dir()
                   and last_logged_step(tmp_path) > CHECKPOINT_EVERY)
  first.send(1, signal.SIGKILL)
  first.kill()
  complete = TrainCheckpoints(tmp_path, read_only=True).latest_step()
  assert complete is not None and complete < STEPS
  # Restart all; SIGTERM to process 1 alone stops both at the same step, saved.
  second = Processes('launch.train', args, tmp_path / 'logs2')
  # (metrics.jsonl still shows the killed run's steps until the resume drops them)
  second.wait_until(lambda: 'resumed from' in second.output(0)
                    and last_logged_step(tmp_path) > complete)
  second.send(1, signal.SIGTERM)
  assert second.wait() == [0, 0], second.tails()
  saved = [line for i in range(2) for line in second.output(i).splitlines()
           if line.startswith('SIGTERM: saved step')]
  assert len(saved) == 2 and saved[0].split(' in ')[0] == saved[1].split(' in ')[0], saved
  preempted_at = int(saved[0].split()[3])
  assert complete < preempted_at < STEPS
  assert TrainCheckpoints(tmp_path, read_only=True).latest_step() == preempted_at
  print(saved[1])  # process 1's line holds the signal-to-saved time
  # The rerun resumes there and ends where the uninterrupted run ended, bit for bit.
  run_all('launch.train', args, tmp_path / 'logs3')
  assert _steps_logged(tmp_path) == list(range(1, STEPS + 1))  # none trained or logged twice
  config = tiny.get_config('stage1')
  for a, b in zip(_trained(uninterrupted, config), _trained(tmp_path, config)):
    np.testing.assert_array_equal(a, b)
