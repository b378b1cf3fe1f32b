"""WorkShare in one process: shares taken one after another merge into the output of
one process, and each share resumes from its own files."""

import json
import pathlib

import numpy as np
from minigpt4_jax.bundled import demo_paths
from minigpt4_jax.data.feature_cache import MANIFEST, shard_paths, write_cache
from minigpt4_jax.data.sources import TarShardSource
from minigpt4_jax.distributed import WorkShare
from tests.evaluate import test_runner

SHARES = [WorkShare(1, 2), WorkShare(0, 2)]  # process 0 merges, so it finishes last


def test_shares_are_disjoint_and_cover_the_items():
  items = list(range(7))
  taken = [WorkShare(i, 3).take(items) for i in range(3)]
  assert sorted(sum(taken, [])) == items and taken[1] == [1, 4]
  assert WorkShare().file_name('predictions.jsonl') == 'predictions.jsonl'
  assert WorkShare(1, 2).file_names('state.jsonl') == ['state.process-0-of-2.jsonl',
                                                       'state.process-1-of-2.jsonl']


def test_evaluation_shares_merge_into_the_single_process_output(tmp_path):
  single = test_runner.run(tmp_path / 'one', test_runner.Recorder())
  results = [test_runner.runner.run(
      test_runner.TASKS['pope'], test_runner.RECORDS, test_runner.Recorder(),
      test_runner.CONFIG, batch_size=2, out_dir=tmp_path / 'two', share=share)
      for share in SHARES]
  assert results[0] is None and results[1]['metrics'] == single['metrics']
  assert ((tmp_path / 'two' / 'predictions.jsonl').read_text()
          == (tmp_path / 'one' / 'predictions.jsonl').read_text())
  # A rerun of process 1's share resumes its own file: nothing is predicted again.
  never = test_runner.Recorder(fail_after=0)
  test_runner.runner.run(test_runner.TASKS['pope'], test_runner.RECORDS, never,
                         test_runner.CONFIG, batch_size=2, out_dir=tmp_path / 'two',
                         share=SHARES[0])
  assert never.calls == []


def _mean_colour(pixels: np.ndarray) -> np.ndarray:
  """A stand-in tower: float32[n, 1, 3]."""
  return pixels.mean(axis=(1, 2))[:, None, :]


def _cache(directory: pathlib.Path, share=WorkShare()):
  return write_cache(TarShardSource(demo_paths().shards), directory, _mean_colour,
                     image_size=32, clean_captions=True, max_words=50, batch_size=4,
                     shard_size=5, dtype='float32', share=share)


def test_feature_cache_shares_write_the_single_process_cache(tmp_path):
  _cache(tmp_path / 'one')
  for share in SHARES:
    _cache(tmp_path / 'two', share)
  one, two = (sorted(p.name for p in (tmp_path / d).iterdir()) for d in ('one', 'two'))
  assert one == two and MANIFEST in two
  for name in one:
    assert (tmp_path / 'one' / name).read_bytes() == (tmp_path / 'two' / name).read_bytes(), name
  # Process 1 resumes: it encodes only its own missing shard again.
  num_shards = len(json.loads((tmp_path / 'two' / MANIFEST).read_text())['shards'])
  shard_paths(tmp_path / 'two', 1)[1].unlink()
  resumed = _cache(tmp_path / 'two', SHARES[0])
  assert resumed.written > 0 and resumed.reused == len(SHARES[0].take(range(num_shards))) - 1
  assert (tmp_path / 'one' / MANIFEST).read_text() == (tmp_path / 'two' / MANIFEST).read_text()
