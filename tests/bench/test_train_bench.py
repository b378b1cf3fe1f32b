"""The tiny train benchmark end to end: both frameworks, finite figures, the chart."""

import math

import numpy as np
import pytest

from minigpt4_jax.tools.bench import report, train_bench
from minigpt4_jax.tools.bench.sizes import SIZES, STAGE1
from minigpt4_jax.tools.bench.train_bench import JAX, JAX_FEATURES, PYTORCH


@pytest.fixture(scope='module')
def tiny_summary():
  bench = train_bench.run('tiny', SIZES['tiny'], (STAGE1,), reps=1, warmup=1, batch=2,
                          memory=False)
  return report.summary(bench)


def test_one_timed_step_per_framework_gives_finite_figures(tiny_summary):
  (shape,) = tiny_summary['shapes']
  assert set(shape['contenders']) == {JAX, PYTORCH, JAX_FEATURES}
  for row in shape['contenders'].values():
    assert len(row['step_s']) == 1
    for key in ('median_step_s', 'images_per_s', 'tokens_per_s', 'tflops_per_s', 'mfu'):
      assert math.isfinite(row[key]) and row[key] > 0, key
  for key in ('jax_speedup_vs_pytorch', 'feature_cache_gain'):
    assert math.isfinite(shape[key]) and shape[key] > 0
  assert tiny_summary['peak_flops_per_s'] > 0
  assert 0 <= shape['other_cpu_load'] <= 1


def test_both_frameworks_start_from_the_same_loss(tiny_summary):
  """Same weights, same batch, f32: the steps compute the same thing."""
  rows = tiny_summary['shapes'][0]['contenders']
  np.testing.assert_allclose(rows[JAX]['first_loss'], rows[PYTORCH]['first_loss'], rtol=1e-5)


def test_table_and_small_chart(tiny_summary, tmp_path):
  assert 'JAX' in report.table(tiny_summary)
  chart = tmp_path / 'chart.png'
  report.plot([tiny_summary, tiny_summary], chart)
  assert chart.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
  assert chart.stat().st_size < 200_000
