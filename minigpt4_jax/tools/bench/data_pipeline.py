"""Input-pipeline throughput: decoded + augmented images per second.

  python -m minigpt4_jax.tools.bench.data_pipeline --workers 0 1 2 --copies 16 --images 800

Replicates the demo shards ``--copies`` times in a temporary directory (so reads are
real tar reads), then times the training pipeline (RandomResizedCrop, CLIP
normalisation, batching) after a warm-up, for each worker count.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import tempfile
import time

from minigpt4_jax.bundled import demo_paths
from minigpt4_jax.data.config import default_config
from minigpt4_jax.data.pipeline import make_train_iterator
from minigpt4_jax.data.sources import expand_braces

BATCH = 16


def replicate_demo(directory: pathlib.Path, copies: int) -> str:
  shards = expand_braces(demo_paths().shards)
  n = 0
  for _ in range(copies):
    for shard in shards:
      shutil.copyfile(shard, directory / f'{n:05d}.tar')
      n += 1
  return str(directory / f'{{00000..{n - 1:05d}}}.tar')


def images_per_second(pattern: str, workers: int, images: int) -> float:
  cfg = default_config()
  cfg.train_shards = (pattern,)
  cfg.num_workers = workers
  it = make_train_iterator(cfg, global_batch_size=BATCH, seed=0, process_index=0,
                           process_count=1)
  for _ in range(max(2, workers * 2)):  # warm-up: start workers, fill buffers
    next(it)
  start = time.perf_counter()
  for _ in range(images // BATCH):
    next(it)
  rate = images // BATCH * BATCH / (time.perf_counter() - start)
  it.close()
  return rate


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--workers', type=int, nargs='+', default=[0, 1, 2])
  parser.add_argument('--copies', type=int, default=16)
  parser.add_argument('--images', type=int, default=800)
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    pattern = replicate_demo(pathlib.Path(tmp), args.copies)
    print(f'{os.cpu_count()} CPU cores; demo images (<= 256 px JPEG) -> 224x224 crops')
    print(f'{"workers":>8} {"images/s":>10}')
    for workers in args.workers:
      print(f'{workers:>8} {images_per_second(pattern, workers, args.images):>10.1f}')


if __name__ == '__main__':
  main()
