"""Precomputed frozen-tower outputs: stage 1 without augmentation, minus the ViT and Q-Former.

In stage 1 only the projector trains, so when images are not augmented the ViT and
Q-Former map each image to the same [Q, C] features every epoch. ``write_cache``
computes them once (``launch.cache_features``); ``FeatureCacheSource`` serves them to
the input pipeline (``data.kind='features'``), and the train step projects them
directly (``batch['features']``), skipping the frozen towers' forward.

A cache directory (one per data source):

  manifest.json             written last: shard list, feature shape/dtype, totals, provenance
  shard-00000.npy           float[n, Q, C] features of the good samples of source rows
  shard-00000.json          [caption, ...] (already cleaned as the data config says)
  ...

Shard k covers source rows [k * shard_size, (k + 1) * shard_size). Each shard is written
atomically (temporary name, fsync, rename), so a stopped run resumes at the first
missing shard; bad samples are skipped, counted per shard, and named in the log.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any, Callable

import numpy as np
import tqdm

from minigpt4_jax.atomic import write_atomically, write_text_atomically
from minigpt4_jax.data.transforms import DecodeSample, normalize
from minigpt4_jax.distributed import WorkShare

MANIFEST = 'manifest.json'
FORMAT = 'minigpt4_jax/features/1'
# (uint8 images [B, S, S, 3] CLIP-normalised to float32) -> features float[B, Q, C]
EncodeFn = Callable[[np.ndarray], np.ndarray]


def shard_paths(directory: pathlib.Path, shard: int) -> tuple[pathlib.Path, pathlib.Path]:
  return directory / f'shard-{shard:05d}.npy', directory / f'shard-{shard:05d}.json'


@dataclasses.dataclass(frozen=True)
class CacheStats:
  written: int   # samples cached by this call
  skipped: int   # bad samples passed over by this call
  reused: int    # shards already complete from an earlier run


def _encode_shard(source, rows: range, decode: DecodeSample, encode: EncodeFn,
                  batch_size: int, progress: tqdm.tqdm) -> tuple[np.ndarray | None, list[str], int]:
  """(features of the good rows, their captions, number of bad rows)."""
  features, texts, skipped = [], [], 0
  images: list[np.ndarray] = []

  def flush() -> None:
    if images:
      features.append(np.asarray(encode(normalize(np.stack(images)))))
      images.clear()

  for row in rows:
    sample = decode.random_map(source[row], None)  # no augmentation: no randomness
    progress.update(1)
    if not sample['ok']:
      skipped += 1
      continue
    images.append(sample['image'])
    texts.append(sample['text'])
    if len(images) == batch_size:
      flush()
  flush()
  return (np.concatenate(features) if features else None), texts, skipped


def write_cache(source, directory: str | pathlib.Path, encode: EncodeFn, *, image_size: int,
                clean_captions: bool, max_words: int, batch_size: int = 64,
                shard_size: int = 4096, dtype: str = 'float16',
                provenance: dict[str, Any] | None = None,
                share: WorkShare = WorkShare()) -> CacheStats:
  """Caches ``encode`` of every good sample of ``source`` (a grain random-access source
  of raw records, e.g. ``TarShardSource``) into ``directory``; resumes a stopped run.

  ``dtype`` is the stored precision (float16 halves the disk of float32; the train
  step casts back). ``provenance`` (checkpoint, data config) goes into the manifest.
  With several processes each writes its ``share`` of the shards (every count-th),
  and process 0 writes the manifest once all are written.
  """
  directory = pathlib.Path(directory)
  directory.mkdir(parents=True, exist_ok=True)
  decode = DecodeSample(augment=False, clean_captions=clean_captions, max_words=max_words,
                        image_size=image_size)
  num_shards = -(-len(source) // shard_size)
  shard_rows = [range(shard * shard_size, min((shard + 1) * shard_size, len(source)))
          for shard in range(num_shards)]
  written, skipped, reused = 0, 0, 0
  with tqdm.tqdm(total=sum(map(len, share.take(shard_rows))), desc=f'cache {directory.name}',
                 unit='img', dynamic_ncols=True) as progress:
    for shard, rows in share.take(list(enumerate(shard_rows))):
      features_path, texts_path = shard_paths(directory, shard)
      if texts_path.exists() and features_path.exists():  # texts are renamed in last
        reused += 1
        progress.update(len(rows))
      else:
        features, texts, bad = _encode_shard(source, rows, decode, encode, batch_size, progress)
        if features is None:
          raise ValueError(f'{source!r}: rows {rows.start}..{rows.stop - 1} hold no readable '
                           f'sample; nothing to cache for shard {shard}')
        write_atomically(features_path, lambda f: np.save(f, features.astype(dtype)))
        write_text_atomically(texts_path, json.dumps({'texts': texts, 'skipped': bad}))
        written += len(texts)
        skipped += bad
  share.wait_for_all(f'feature cache {directory}')
  if share.is_main:
    _write_manifest(directory, num_shards, source_rows=len(source), shard_size=shard_size,
                    dtype=dtype, provenance=provenance or {})
  return CacheStats(written=written, skipped=skipped, reused=reused)


def _write_manifest(directory: pathlib.Path, num_shards: int, *, source_rows: int,
                    shard_size: int, dtype: str, provenance: dict[str, Any]) -> None:
  """The manifest of a cache whose ``num_shards`` shards are all written."""
  entries = [json.loads(shard_paths(directory, k)[1].read_text(encoding='utf-8'))
             for k in range(num_shards)]
  shards = [{'samples': len(e['texts']), 'skipped': e['skipped']} for e in entries]
  first = np.load(shard_paths(directory, 0)[0], mmap_mode='r')
  manifest = {'format': FORMAT, 'num_samples': sum(s['samples'] for s in shards),
              'skipped': sum(s['skipped'] for s in shards), 'source_rows': source_rows,
              'shard_size': shard_size, 'shards': shards, 'feature_shape': list(first.shape[1:]),
              'dtype': dtype, 'provenance': provenance}
  write_text_atomically(directory / MANIFEST, json.dumps(manifest, indent=2))


class FeatureCacheSource:
  """grain random-access source over a cache: {'features': float32[Q, C], 'text', 'ok'}."""

  def __init__(self, directory: str | pathlib.Path):
    self.directory = pathlib.Path(directory)
    path = self.directory / MANIFEST
    if not path.exists():
      raise FileNotFoundError(f'{path} not found: not a finished feature cache (write one with '
                              'python -m launch.cache_features)')
    self.manifest = json.loads(path.read_text(encoding='utf-8'))
    if self.manifest.get('format') != FORMAT:
      raise ValueError(f'{path}: format {self.manifest.get("format")!r}, expected {FORMAT!r}')
    counts = [s['samples'] for s in self.manifest['shards']]
    self.starts = np.concatenate([[0], np.cumsum(counts)])
    self._features: dict[int, np.ndarray] = {}  # memory maps, opened on first use
    self._texts: dict[int, list[str]] = {}

  def __len__(self) -> int:
    return int(self.starts[-1])

  def _shard(self, shard: int) -> tuple[np.ndarray, list[str]]:
    if shard not in self._features:
      features_path, texts_path = shard_paths(self.directory, shard)
      self._features[shard] = np.load(features_path, mmap_mode='r')
      self._texts[shard] = json.loads(texts_path.read_text(encoding='utf-8'))['texts']
    return self._features[shard], self._texts[shard]

  def __getitem__(self, index: int) -> dict[str, Any]:
    shard = int(np.searchsorted(self.starts, index, side='right')) - 1
    features, texts = self._shard(shard)
    row = index - int(self.starts[shard])
    # Decoded, cleaned and checked when cached: every sample is good.
    return {'features': np.asarray(features[row], np.float32), 'text': texts[row], 'ok': True}

  def __getstate__(self) -> dict[str, Any]:  # grain workers reopen the memory maps
    return {'directory': self.directory, 'manifest': self.manifest, 'starts': self.starts,
            '_features': {}, '_texts': {}}

  def __repr__(self) -> str:
    return f'FeatureCacheSource({self.directory}, {len(self)} samples)'


def cache_dirs(out: str | pathlib.Path, num_sources: int) -> list[pathlib.Path]:
  """Where ``launch.cache_features`` puts source k's cache."""
  return [pathlib.Path(out) / f'source_{k}' for k in range(num_sources)]

