"""The frozen-feature cache: contents, bad samples, resume, and training from it."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from configs import tiny
from launch.cache_features import make_encoder
from minigpt4_jax.bundled import demo_paths
from minigpt4_jax.data.feature_cache import MANIFEST, FeatureCacheSource, shard_paths, write_cache
from minigpt4_jax.data.sources import TarShardSource
from minigpt4_jax.data.transforms import DecodeSample, normalize
from minigpt4_jax.train.loop import train_and_evaluate

REPO = pathlib.Path(__file__).resolve().parents[2]
BATCH = 8


def stage1_config(**data):
  c = tiny.get_config('stage1').unlock()
  c.data.augment = False
  c.data.update(data)
  c.train.batch_size = BATCH
  c.train.log_every = 1
  c.train.steps = 4
  return c.lock()


@pytest.fixture(scope='module')
def encode():
  return make_encoder(stage1_config(), BATCH)


@pytest.fixture(scope='module')
def records():
  """The demo shards' records, with a corrupt image at row 3."""
  source = TarShardSource(demo_paths().shards)
  rows = [source[i] for i in range(len(source))]
  rows[3] = {**rows[3], 'image_bytes': b'not a jpeg'}
  return rows


def write(records, directory, encode, **kwargs):
  return write_cache(records, directory, encode, image_size=224, clean_captions=True,
                     max_words=50, batch_size=BATCH, shard_size=5, dtype='float32', **kwargs)


def test_cache_holds_each_good_sample_in_order(records, encode, tmp_path):
  stats = write(records, tmp_path, encode)
  cache = FeatureCacheSource(tmp_path)
  manifest = json.loads((tmp_path / MANIFEST).read_text())
  assert (stats.written, stats.skipped, stats.reused) == (len(records) - 1, 1, 0)
  assert len(cache) == manifest['num_samples'] == len(records) - 1
  assert [s['skipped'] for s in manifest['shards']] == [1, 0, 0, 0]

  decode = DecodeSample(augment=False, clean_captions=True, max_words=50, image_size=224)
  good = [decode.random_map(r, None) for i, r in enumerate(records) if i != 3]
  expected = encode(normalize(np.stack([g['image'] for g in good[:BATCH]])))
  for i in (0, 2, 3, 5, BATCH - 1):  # across the shard boundary and the skipped row
    sample = cache[i]
    assert sample['text'] == good[i]['text'] and sample['ok']
    np.testing.assert_allclose(sample['features'], expected[i], rtol=1e-5, atol=1e-6)
  assert cache[len(cache) - 1]['text'] == good[-1]['text']


def test_restart_encodes_only_missing_shards(records, encode, tmp_path):
  write(records, tmp_path, encode)
  before = FeatureCacheSource(tmp_path)[14]['features']
  for path in shard_paths(tmp_path, 2):  # as if stopped while writing shard 2
    path.unlink()
  (tmp_path / MANIFEST).unlink()
  calls = []

  def counting(pixels):
    calls.append(len(pixels))
    return encode(pixels)

  stats = write(records, tmp_path, counting)
  assert (stats.written, stats.reused, sum(calls)) == (5, 3, 5)
  np.testing.assert_array_equal(FeatureCacheSource(tmp_path)[14]['features'], before)
  stats = write(records, tmp_path, lambda pixels: pytest.fail('encoded again'))
  assert (stats.written, stats.reused) == (0, 4)


def test_unfinished_cache_is_an_error(tmp_path):
  with pytest.raises(FileNotFoundError, match=f'{tmp_path}/{MANIFEST} not found'):
    FeatureCacheSource(tmp_path)


def test_training_from_the_cache_equals_training_from_images(tmp_path):
  env = dict(os.environ, PYTHONPATH=str(REPO), XLA_FLAGS='--xla_force_host_platform_device_count=1')
  result = subprocess.run(
      [sys.executable, '-m', 'launch.cache_features', '--config', 'configs/tiny.py:stage1',
       '--config.data.augment=False', '--out', str(tmp_path / 'cache'), '--batch_size=8',
       '--dtype=float32'], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "--config.data.feature_dirs=\"('" in result.stdout
  augmented = subprocess.run(
      [sys.executable, '-m', 'launch.cache_features', '--config', 'configs/tiny.py:stage1',
       '--out', str(tmp_path / 'no')], cwd=REPO, env=env, capture_output=True, text=True,
      timeout=600)
  assert augmented.returncode != 0 and 'cannot be augmented' in augmented.stderr

  train_and_evaluate(stage1_config(), tmp_path / 'images')
  train_and_evaluate(
      stage1_config(kind='features', feature_dirs=(str(tmp_path / 'cache' / 'source_0'),)),
      tmp_path / 'cache_run')
  losses = [[json.loads(line)['loss'] for line in (tmp_path / run / 'metrics.jsonl').open()]
            for run in ('images', 'cache_run')]
  assert len(losses[0]) == len(losses[1]) == 4
  np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)


def test_cached_features_cannot_train_the_qformer(tmp_path):
  config = stage1_config(kind='features', feature_dirs=(str(tmp_path),)).unlock()
  config.train.trainable = ('projector/.*', 'qformer/.*')
  with pytest.raises(ValueError, match='trains tower parameters'):
    train_and_evaluate(config.lock(), tmp_path / 'run')
