import math

import pytest

from minigpt4_jax.train.schedule import warmup_cosine


def lavis_lr(step, init=1e-4, minimum=8e-5, warm=1e-6, warmup=5000, total=20000):
  """LAVIS LinearWarmupCosineLRScheduler for warmup == iters_per_epoch, written out."""
  if step < warmup:
    return min(init, warm + (init - warm) * step / warmup)
  return (init - minimum) * 0.5 * (1.0 + math.cos(math.pi * step / total)) + minimum


@pytest.mark.parametrize('step', [0, 1, 2500, 4999, 5000, 5001, 12345, 19999, 20000])
def test_stage1_schedule_matches_lavis(step):
  assert float(warmup_cosine(1e-4, 8e-5, 1e-6, 5000, 20000)(step)) == pytest.approx(
      lavis_lr(step), rel=1e-6)


def test_cosine_starts_below_init_lr_after_warmup():
  # The paper's run dropped from 1e-4 to ~9.71e-5 when the cosine took over.
  assert float(warmup_cosine(1e-4, 8e-5, 1e-6, 5000, 20000)(5000)) == pytest.approx(9.7071e-5, rel=1e-4)
