"""DevicePrefetch: the host batches in order, on the device, one step ahead, resumable."""

import jax
import numpy as np
import pytest

from minigpt4_jax import sharding
from minigpt4_jax.bundled import demo_paths
from minigpt4_jax.data.config import default_config
from minigpt4_jax.data.pipeline import make_train_iterator
from minigpt4_jax.data.prefetch import DevicePrefetch

BATCH = 8  # split over the 8 test devices


def _host_batches():
  cfg = default_config()
  cfg.train_shards = (demo_paths().shards,)
  cfg.num_workers = 0
  return make_train_iterator(cfg, global_batch_size=BATCH, seed=0, process_index=0,
                             process_count=1)


def _on_device(step, raw):
  mesh = sharding.make_mesh(-1, 1, 1)
  image = jax.make_array_from_process_local_data(sharding.batch_sharding(mesh, 4), raw['image'])
  return step, list(raw['text']), image


@pytest.mark.parametrize('ahead', [1, 2])  # the trainer's, and a longer queue
def test_prefetch_yields_the_host_batches_in_order_and_resumes(ahead):
  plain = _host_batches()
  reference = [next(plain) for _ in range(6)]  # 48 samples: crosses epochs of 16
  plain.close()
  prefetch = DevicePrefetch(_host_batches(), _on_device, ahead=ahead)
  first = [next(prefetch) for _ in range(3)]
  assert len(prefetch.queue) == ahead  # bounded: the batches after the one taken
  state = prefetch.get_state()
  prefetch.close()
  resumed = DevicePrefetch(_host_batches(), _on_device, ahead=ahead)
  resumed.set_state(state, 3)
  rest = [next(resumed) for _ in range(3)]
  resumed.close()
  for step, ((got_step, text, image), want) in enumerate(zip(first + rest, reference)):
    assert got_step == step and text == list(want['text'])
    assert isinstance(image, jax.Array) and image.dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(image), want['image'])
