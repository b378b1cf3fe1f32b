"""End-to-end runs of the trainer on the bundled demo data (tiny model, CPU)."""

import json
import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from configs import tiny
from minigpt4_jax import sharding
from minigpt4_jax.workdir import TrainCheckpoints, abstract_like
from minigpt4_jax.train.loop import train_and_evaluate
from minigpt4_jax.loading import run_model
from minigpt4_jax.train.trainable import split_trainable

REPO = pathlib.Path(__file__).resolve().parents[2]


def _config(stage='stage1', **train):
  c = tiny.get_config(stage).unlock()
  c.train.batch_size = 8  # conftest gives 8 CPU devices; the batch splits over them
  c.train.log_every = 1
  c.train.update(train)
  return c.lock()


def _steps_logged(workdir) -> list[int]:
  lines = (pathlib.Path(workdir) / 'metrics.jsonl').read_text().splitlines()
  return [json.loads(line)['step'] for line in lines]


def _trained(workdir, config):
  """The trainable parameters of the latest checkpoint in ``workdir``, as numpy."""
  mesh = sharding.make_mesh(devices=jax.devices()[:1])
  _, trainable, _ = split_trainable(run_model(config, mesh).model, tuple(config.train.trainable))
  restored = TrainCheckpoints(workdir, read_only=True).restore_trainable(abstract_like(trainable))
  return [np.asarray(x) for x in jax.tree.leaves(restored)]


def test_stopped_run_resumes_exactly(tmp_path):
  one_go = _config(steps=4, checkpoint_every=2)
  train_and_evaluate(one_go, tmp_path / 'a')
  # "Killed" after the checkpoint at step 2, then started again with the same workdir.
  train_and_evaluate(_config(steps=2, checkpoint_every=2), tmp_path / 'b')
  last = train_and_evaluate(one_go, tmp_path / 'b')
  assert _steps_logged(tmp_path / 'b') == [1, 2, 3, 4]  # no step trained or logged twice
  assert TrainCheckpoints(tmp_path / 'b', read_only=True).latest_step() == 4
  for a, b in zip(_trained(tmp_path / 'a', one_go), _trained(tmp_path / 'b', one_go)):
    np.testing.assert_array_equal(a, b)  # same batches in the same order, bit for bit
  assert set(last) >= {'loss', 'lr', 'grad_norm', 'images_per_sec', 'skipped_samples'}


def test_stage2_starts_from_the_stage1_projector(tmp_path):
  stage1 = _config('stage1', steps=2, checkpoint_every=2)
  train_and_evaluate(stage1, tmp_path / 's1')
  stage2 = _config('stage2', steps=1).unlock()
  stage2.init_from = str(tmp_path / 's1')
  mesh = sharding.make_mesh(devices=jax.devices()[:1])
  _, start, _ = split_trainable(run_model(stage2.lock(), mesh).model)
  for a, b in zip(_trained(tmp_path / 's1', stage1), jax.tree.leaves(start)):
    np.testing.assert_array_equal(a, np.asarray(b))
  train_and_evaluate(stage2, tmp_path / 's2')
  assert _steps_logged(tmp_path / 's2') == [1]


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  # A rate of 1e30 after the first warmup step blows the projector up.
  config = _config(steps=6, checkpoint_every=1, warmup_steps=1, lr=1e30, min_lr=1e30,
                   warmup_lr=1e-4)
  with pytest.raises(FloatingPointError, match=r'non-finite loss .* or parameters at step \d'):
    train_and_evaluate(config, tmp_path)
  checkpoints = TrainCheckpoints(tmp_path, read_only=True)
  last_good = checkpoints.latest_step()
  assert last_good is not None and last_good < 6
  assert all(np.isfinite(x).all() for x in _trained(tmp_path, config))


def _launch(workdir, *overrides, devices=1):
  env = dict(os.environ, XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}',
             PYTHONPATH=str(REPO))
  return subprocess.run(
      [sys.executable, '-m', 'launch.train', '--config', 'configs/tiny.py:stage1',
       '--workdir', str(workdir), '--config.train.batch_size=8', *overrides],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_cli_trains_on_a_2x2x2_fake_device_mesh(tmp_path):
  result = _launch(tmp_path, '--config.train.steps=2', '--config.mesh.data=2',
                   '--config.mesh.fsdp=2', '--config.mesh.tensor=2', devices=8)
  assert result.returncode == 0, result.stderr[-3000:]
  assert _steps_logged(tmp_path)[-1] == 2
  assert json.loads((tmp_path / 'config.json').read_text())['mesh'] == {
      'data': 2, 'fsdp': 2, 'tensor': 2}


def test_cli_rejects_a_misspelt_field(tmp_path):
  result = _launch(tmp_path, '--config.train.stepz=2')
  assert result.returncode != 0
  assert 'stepz' in result.stderr


def test_padding_to_a_multiple_trains_exactly_as_fixed_length(tmp_path):
  """Stage 2 with each batch padded only to its longest answer (rounded up to 16):
  the same losses as at the fixed maximum length, with shorter batches."""
  from minigpt4_jax.bundled import TINY_CHECKPOINT
  losses = []
  for multiple in (0, 16):
    c = _config('stage2', steps=3).unlock()
    c.init_from, c.text.pad_multiple = str(TINY_CHECKPOINT), multiple
    train_and_evaluate(c.lock(), tmp_path / str(multiple))
    lines = (tmp_path / str(multiple) / 'metrics.jsonl').read_text().splitlines()
    losses.append([json.loads(line)['loss'] for line in lines])
  assert len(losses[0]) == 3
  np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)


def test_a_workdir_written_before_trainable_patterns_still_loads_and_continues(tmp_path):
  """Workdirs of the previous layout recorded what trained as booleans (train_qformer,
  train_llm, lora_rank) and remat as a bool; they load for use and start a next stage."""
  import minigpt4_jax
  train_and_evaluate(_config(steps=2, checkpoint_every=2), tmp_path / 'run')
  path = tmp_path / 'run' / 'config.json'
  old = json.loads(path.read_text())
  del old['train']['trainable'], old['model']['connector'], old['model']['lora_targets']
  old['model'].update(no_qformer=False, train_qformer=False, train_llm=False, remat=False)
  path.write_text(json.dumps(old))
  loaded = minigpt4_jax.load(tmp_path / 'run')
  np.testing.assert_array_equal(np.asarray(loaded.model.projector.kernel[...]),
                                _trained(tmp_path / 'run', _config())[1])
  stage2 = _config('stage2', steps=1).unlock()
  stage2.init_from = str(tmp_path / 'run')
  train_and_evaluate(stage2.lock(), tmp_path / 's2')
  assert _steps_logged(tmp_path / 's2') == [1]
