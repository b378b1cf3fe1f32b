"""Precompute the frozen ViT + Q-Former outputs of a stage-1 run's data, once.

  python -m launch.cache_features --config configs/tiny.py:stage1 \\
      --config.data.augment=False --out runs/tiny_features
  python -m launch.train --config configs/tiny.py:stage1 --workdir runs/tiny_from_cache \\
      --config.data.kind=features \\
      --config.data.feature_dirs="('runs/tiny_features/source_0',)"

The config is the training config (same --config.FIELD=VALUE overrides): its
init_from gives the frozen towers, its data section the sources; images get the
plain resize, captions the configured cleaning. It must say data.augment=False:
a cached image is the same in every epoch, so it cannot be augmented. One cache per
source lands in OUT/source_K; the command prints the overrides that train from
them. A stopped run resumes at the first unfinished shard. Only the projector may
train from a cache (not the Q-Former ablation), since the features stand in for
the towers' forward. With --distributed (see launch/train.py) every process
encodes every N-th shard on its own devices and process 0 writes the manifests.
"""

import pathlib

import jax
import numpy as np
from absl import flags
from flax import nnx
from ml_collections import config_flags

from minigpt4_jax import distributed, sharding
from minigpt4_jax.cli import run_absl
from minigpt4_jax.data.preflight import check_data_inputs
from minigpt4_jax.errors import BadInput
from minigpt4_jax.inputs import require_checkpoint
from minigpt4_jax.log_routing import VERBOSE_HELP, route_logs
from minigpt4_jax.data.feature_cache import cache_dirs, write_cache
from minigpt4_jax.data.pipeline import make_sources
from minigpt4_jax.loading import run_model

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Training config file, e.g. configs/tiny.py:stage1.', lock_config=True)
_OUT = flags.DEFINE_string('out', None, 'Output folder (one cache per data source).')
_BATCH = flags.DEFINE_integer('batch_size', 64, 'Images per forward pass.')
_SHARD = flags.DEFINE_integer('shard_size', 4096, 'Source rows per cache shard.')
_DTYPE = flags.DEFINE_enum('dtype', 'float16', ['float16', 'float32'], 'Stored precision.')
_DISTRIBUTED = flags.DEFINE_bool(
    'distributed', False, 'Join a multi-process run first; each process caches its shards.')
_VERBOSE = flags.DEFINE_bool('verbose', False, VERBOSE_HELP + ' (OUT/cache_features.log)')
flags.mark_flags_as_required(['config', 'out'])


def make_encoder(config, batch_size: int):
  """pixels float32[n <= batch_size, S, S, 3] -> frozen-tower features float32[n, Q, C]."""
  # This process's devices only: with --distributed each process encodes its own shards.
  mesh = sharding.make_mesh(config.mesh.data, config.mesh.fsdp, config.mesh.tensor,
                            devices=jax.local_devices())
  graphdef, state = nnx.split(run_model(config, mesh).model)
  data_parallel = mesh.shape['data'] * mesh.shape['fsdp']
  if batch_size % data_parallel:
    raise BadInput(f'--batch_size={batch_size} must divide by the {data_parallel} '
                   'data-parallel devices')
  features = jax.jit(lambda s, pixels: nnx.merge(graphdef, s).image_features(pixels))

  def encode(pixels: np.ndarray) -> np.ndarray:
    n = len(pixels)
    # Padded to one batch shape: one compilation, and it splits over the devices.
    padded = np.concatenate([pixels, np.repeat(pixels[-1:], batch_size - n, axis=0)])
    batch = jax.device_put(padded, sharding.batch_sharding(mesh, padded.ndim))
    return np.asarray(features(state, batch), np.float32)[:n]

  return encode


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise BadInput(f'unexpected arguments: {argv[1:]}')
  config = _CONFIG.value
  if config.data.kind == 'features':
    raise BadInput('the config already reads cached features (data.kind=features)')
  if config.data.augment:
    raise BadInput('cached features cannot be augmented: add --config.data.augment=False '
                   '(stage 1 then trains on plainly resized images)')
  if config.init_from:
    require_checkpoint(config.init_from, 'init_from')
  check_data_inputs(config.data)
  route_logs(pathlib.Path(_OUT.value) / 'cache_features.log', _VERBOSE.value)
  if _DISTRIBUTED.value:
    distributed.initialize()
  encode = make_encoder(config, _BATCH.value)
  sources = make_sources(config.data)
  dirs = cache_dirs(_OUT.value, len(sources))
  for source, directory in zip(sources, dirs):
    stats = write_cache(
        source, directory, encode, image_size=config.data.image_size,
        clean_captions=config.data.clean_captions, max_words=config.data.max_words,
        batch_size=_BATCH.value, shard_size=_SHARD.value, dtype=_DTYPE.value,
        provenance={'init_from': config.init_from, 'source': repr(source),
                    'data': config.data.to_dict()},
        share=distributed.this_process_share())
    print(f'{directory}: {stats.written} samples cached, {stats.skipped} bad samples skipped, '
          f'{stats.reused} shards kept from an earlier run')
  dirs_arg = '(' + ''.join(f"'{pathlib.Path(d)}'," for d in dirs) + ')'
  print(f'Train from the cache with:\n  --config.data.kind=features '
        f'--config.data.feature_dirs="{dirs_arg}"')


if __name__ == '__main__':
  run_absl(main)
