"""launch.cache_features, launch.evaluate and launch.curate on two processes (2 fake
CPU devices each): one output, equal to a single process's."""

import json
import pathlib
import subprocess
import sys

import numpy as np

from minigpt4_jax.data.feature_cache import MANIFEST
from minigpt4_jax.bundled import TINY_CHECKPOINT
from tests.curate.test_launch import IMAGES
from tests.evaluate.test_launch import MAX_NEW, pope_dir  # noqa: F401 (a fixture)
from tests.multiprocess import REPO, environment, run_all


def _files(directory: pathlib.Path) -> dict[str, bytes]:
  return {str(p.relative_to(directory)): p.read_bytes()
          for p in sorted(directory.rglob('*')) if p.is_file()}


def test_cache_features_on_two_processes_equals_one(tmp_path):
  args = ['--config', 'configs/tiny.py:stage1', '--config.data.augment=False',
          '--batch_size=4', '--shard_size=4', '--dtype=float32']
  single = subprocess.run([sys.executable, '-m', 'launch.cache_features', *args,
                           '--out', str(tmp_path / 'one')], cwd=REPO,
                          env=environment(0, 1, 0), capture_output=True, text=True, timeout=300)
  assert single.returncode == 0, single.stderr[-3000:]
  run_all('launch.cache_features', [*args, '--distributed', '--out', str(tmp_path / 'two')],
          tmp_path / 'logs')
  one, two = _files(tmp_path / 'one' / 'source_0'), _files(tmp_path / 'two' / 'source_0')
  assert one.keys() == two.keys() and MANIFEST in one
  assert len(json.loads(one[MANIFEST])['shards']) > 2  # both processes wrote shards
  for name in one:
    if name.endswith('.npy'):  # the same tower on 2 devices instead of 2 of 4
      np.testing.assert_allclose(np.load(tmp_path / 'two' / 'source_0' / name),
                                 np.load(tmp_path / 'one' / 'source_0' / name), rtol=1e-5,
                                 atol=1e-6)
    else:
      assert two[name] == one[name], name


def test_evaluate_on_two_processes_equals_one(pope_dir, tmp_path):  # noqa: F811
  from launch import evaluate
  args = ['--ckpt', str(TINY_CHECKPOINT), '--task', 'pope', '--data', str(pope_dir),
          '--batch-size', '2', '--max-new-tokens', str(MAX_NEW)]
  single = evaluate.main([*args, '--out', str(tmp_path / 'one')])
  procs = run_all('launch.evaluate', [*args, '--distributed', '--out', str(tmp_path / 'two')],
                  tmp_path / 'logs')
  assert ((tmp_path / 'two' / 'predictions.jsonl').read_text()
          == (tmp_path / 'one' / 'predictions.jsonl').read_text())
  two = json.loads((tmp_path / 'two' / 'results.json').read_text())
  assert two['metrics'] == single['metrics'] and two['num_samples'] == 3
  assert '| pope |' in procs.output(0) and '| pope |' not in procs.output(1)


def test_curate_on_two_processes_equals_one(tmp_path):
  from launch import curate
  args = ['--ckpt', str(TINY_CHECKPOINT), '--images', str(IMAGES), '--limit', '6',
          '--batch-size', '2', '--max-new-tokens', '6', '--fixer', 'generator',
          '--fixer-max-new-tokens', '6', '--no-progress']
  counts = curate.main([*args, '--out', str(tmp_path / 'one')])
  procs = run_all('launch.curate', [*args, '--distributed', '--out', str(tmp_path / 'two')],
                  tmp_path / 'logs')
  # The per-process state files and the library log (timestamps) are not outputs.
  def outputs(folder):
    return {k: v for k, v in _files(folder).items()
            if not k.startswith('state') and k != 'curate.log'}

  one, two = outputs(tmp_path / 'one'), outputs(tmp_path / 'two')
  assert one.keys() == two.keys() and 'filter_cap.json' in one
  for name in one:
    assert two[name] == one[name], name
  assert f'6 images -> {tmp_path / "two"}: {counts["kept"]} kept' in procs.output(0)
