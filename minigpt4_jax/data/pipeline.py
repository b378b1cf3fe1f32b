"""The grain input pipeline: shuffled, repeated, per-host, decoded in workers, resumable.

Per source: slice for this host -> seeded shuffle, reshuffled every epoch -> decode +
augment -> chunks of b consecutive samples, stacked (both in worker processes, the
chunks handed over in shared memory) -> batches of b good samples. Bad samples are
dropped and counted into each batch's ``skipped``; a batch takes rows from the next
chunk when its own held bad ones, so batches are the same for any worker count. With
several sources each *batch* comes from one source drawn with probability
proportional to its weight, as MiniGPT-4's ``MultiIterLoader`` does (LAION 115 :
CC/SBU 14 in stage 1).

A batch: image uint8[b, S, S, 3] (normalised inside the jitted step; or, from a
feature cache, features float32[b, Q, C]), text str[b], skipped int64 (bad samples
dropped while assembling it), where b = global batch // process count.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, Iterator, Sequence

import grain
import jax
import ml_collections
import numpy as np
from absl import flags

from minigpt4_jax.data.llava import DecodeLLaVASample, LLaVAJsonSource
from minigpt4_jax.data.feature_cache import FeatureCacheSource
from minigpt4_jax.data.sources import AlignFolderSource, TarShardSource
from minigpt4_jax.data.transforms import DecodeSample
from minigpt4_jax.errors import BadInput

Batch = dict[str, Any]


def _mark_flags_parsed(*_: Any) -> None:
  """grain reads absl flags; neither pytest nor spawned workers have parsed them."""
  if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()


def _required(cfg: ml_collections.ConfigDict, *fields: str) -> None:
  if len(fields) == 1 and not cfg[fields[0]]:
    raise BadInput(f'data.{fields[0]} is empty (kind={cfg.kind})')
  if any(not cfg[f] for f in fields):
    raise BadInput(f'data.{" and data.".join(fields)} are required (kind={cfg.kind})')


def _tfds_sources(cfg: ml_collections.ConfigDict) -> list[Any]:
  # Imported here: tensorflow-datasets takes seconds to import and most runs never need it.
  from minigpt4_jax.data.tfds_builder import TfdsSource
  return [TfdsSource(cfg.tfds_name, cfg.tfds_dir)]


def _conversation_mixture(cfg: ml_collections.ConfigDict) -> list[Any]:
  if len(cfg.llava_jsons) != len(cfg.llava_image_dirs):
    raise ValueError(f'data.llava_jsons has {len(cfg.llava_jsons)} files but '
                     f'data.llava_image_dirs {len(cfg.llava_image_dirs)} folders')
  return [LLaVAJsonSource(j, d) for j, d in zip(cfg.llava_jsons, cfg.llava_image_dirs)]


def _decoded_captions(ds: grain.MapDataset, cfg: ml_collections.ConfigDict,
                      seed: int) -> grain.MapDataset:
  return ds.random_map(
      DecodeSample(augment=cfg.augment, clean_captions=cfg.clean_captions,
                   max_words=cfg.max_words, image_size=cfg.image_size,
                   transform=cfg.image_transform),
      seed=seed + 1)


def _decoded_conversations(ds: grain.MapDataset, cfg: ml_collections.ConfigDict,
                           seed: int) -> grain.MapDataset:
  del seed  # raw text, text-only samples allowed, no augmentation: deterministic
  return ds.map(DecodeLLaVASample(cfg.image_size, cfg.image_transform))


def _already_decoded(ds: grain.MapDataset, cfg: ml_collections.ConfigDict,
                     seed: int) -> grain.MapDataset:
  del cfg, seed  # cached features were decoded when cached
  return ds


@dataclasses.dataclass(frozen=True)
class _Kind:
  """A ``data.kind``: the fields it needs, its sources, and how its samples decode."""

  fields: tuple[str, ...]
  sources: Callable[[ml_collections.ConfigDict], list[Any]]
  decoded: Callable[[grain.MapDataset, ml_collections.ConfigDict, int], grain.MapDataset]


# 'llava' is LLaVA's conversation JSON format (any family can train on it).
_KINDS: dict[str, _Kind] = {
    'webdataset': _Kind(('train_shards',), lambda c: [TarShardSource(p) for p in c.train_shards],
                        _decoded_captions),
    'align': _Kind(('align_dir',), lambda c: [AlignFolderSource(c.align_dir)], _decoded_captions),
    'tfds': _Kind(('tfds_name', 'tfds_dir'), _tfds_sources, _decoded_captions),
    'llava': _Kind(('llava_json', 'llava_image_dir'),
                   lambda c: [LLaVAJsonSource(c.llava_json, c.llava_image_dir)],
                   _decoded_conversations),
    'llava_mixture': _Kind(('llava_jsons', 'llava_image_dirs'), _conversation_mixture,
                           _decoded_conversations),
    'features': _Kind(('feature_dirs',), lambda c: [FeatureCacheSource(d) for d in c.feature_dirs],
                      _already_decoded),
}


def _kind(cfg: ml_collections.ConfigDict) -> _Kind:
  if cfg.kind not in _KINDS:
    raise BadInput(f'data.kind={cfg.kind!r}; expected one of {sorted(_KINDS)}')
  return _KINDS[cfg.kind]


def check_fields(cfg: ml_collections.ConfigDict) -> None:
  """A BadInput unless ``cfg.kind`` is known and the fields it needs are set."""
  _required(cfg, *_kind(cfg).fields)


def make_sources(cfg: ml_collections.ConfigDict) -> list[Any]:
  """The random-access sources the config names; errors name what is missing."""
  check_fields(cfg)
  return _kind(cfg).sources(cfg)


def _weights(cfg: ml_collections.ConfigDict, num_sources: int) -> np.ndarray:
  weights = np.asarray(cfg.weights or [1.0] * num_sources, np.float64)
  if len(weights) != num_sources or np.any(weights <= 0):
    raise ValueError(f'data.weights={tuple(cfg.weights)} must be {num_sources} positive numbers')
  return weights / weights.sum()


def _chunk_iterator(source, cfg, *, size: int, seed: int, process_index: int,
                    process_count: int, num_epochs: int | None) -> grain.DatasetIterator:
  """Decoded samples stacked ``size`` at a time, in the workers (a partial last chunk
  when ``num_epochs`` ends the data); with ``ok`` bool[size] marking the good rows."""
  ds = grain.MapDataset.source(source)[process_index::process_count]
  if len(ds) == 0:
    raise ValueError(f'{source!r}: no samples for host {process_index} of {process_count}')
  if cfg.shuffle:
    ds = ds.shuffle(seed=seed)
  ds = ds.repeat(num_epochs)
  # Batched before the worker slice: each worker stacks whole chunks of consecutive
  # samples, and mp_prefetch interleaves the workers back into chunk order. Endless
  # data has no last chunk to keep (and its ceil(length / size) overflows an index).
  chunks = _kind(cfg).decoded(ds, cfg, seed).batch(size, drop_remainder=num_epochs is None)
  # A chunk is a whole batch: grain's default read-ahead (16 threads, 500 elements,
  # sized for single samples) would hold gigabytes per worker and finish no chunk
  # until 16 are under way. Two at a time keep a core busy while PIL holds no GIL.
  it = chunks.to_iter_dataset(grain.ReadOptions(num_threads=2, prefetch_buffer_size=2))
  if cfg.num_workers > 0:
    _mark_flags_parsed()
    it = it.mp_prefetch(
        grain.MultiprocessingOptions(num_workers=cfg.num_workers,
                                     per_worker_buffer_size=cfg.worker_buffer_size),
        worker_init_fn=_mark_flags_parsed)
  return iter(it)


def _rows(chunk: Batch, rows: np.ndarray | None) -> Batch:
  """The chunk's arrays at ``rows`` (None: all of them, not copied)."""
  return {k: v if rows is None else v[rows] for k, v in chunk.items() if k != 'ok'}


class _GoodBatches:
  """Batches of ``size`` good samples from the chunks, counting the bad ones.

  A chunk with no bad rows that starts a batch is the batch, passed on without a
  copy; otherwise the good rows of as many chunks as it takes are gathered.
  """

  def __init__(self, chunks: grain.DatasetIterator, size: int):
    self.chunks = chunks
    self.size = size
    self.chunk: Batch | None = None  # the chunk rows are taken from
    self.used = 0                    # its rows already in earlier batches (or skipped)
    self.chunk_state: Any = None     # the chunk iterator's state before it read the chunk

  def _next_chunk(self) -> None:
    self.chunk_state = self.chunks.get_state()
    self.chunk, self.used = next(self.chunks), 0

  def next(self) -> Batch:
    parts, skipped, missing = [], 0, self.size
    while missing:
      if self.chunk is None or self.used == len(self.chunk['ok']):
        self._next_chunk()
      ok = self.chunk['ok'][self.used:]
      good_so_far = np.cumsum(ok)
      # Rows taken: up to and including the one that completes the batch.
      taken = len(ok) if good_so_far[-1] < missing else int(
          np.searchsorted(good_so_far, missing)) + 1
      good = np.flatnonzero(ok[:taken])
      if len(good) == len(ok) == self.size:
        parts.append(_rows(self.chunk, None))
      else:
        parts.append(_rows(self.chunk, self.used + good))
      skipped += taken - len(good)
      missing -= len(good)
      self.used += taken
    batch = parts[0] if len(parts) == 1 else {
        k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    batch['skipped'] = np.int64(skipped)
    return batch

  # Only ever read between batches: the chunk in hand is read again on resume.
  def get_state(self) -> Any:
    if self.chunk is None or self.used == len(self.chunk['ok']):
      return {'chunks': self.chunks.get_state(), 'used': 0}
    return {'chunks': self.chunk_state, 'used': self.used}

  def set_state(self, state: Any) -> None:
    if set(state) != {'chunks', 'used'}:
      raise ValueError(f'data state {sorted(state)} is not a chunked pipeline state '
                       "({'chunks', 'used'}): written by an older version")
    self.chunks.set_state(state['chunks'])
    self.chunk = None
    if state['used']:
      self._next_chunk()
      self.used = state['used']

  def close(self) -> None:
    self.chunks.close()


@dataclasses.dataclass
class TrainIterator(Iterator[Batch]):
  """Batches for this host; ``get_state``/``set_state`` resume at the same next batch."""

  sources: Sequence[_GoodBatches]
  weights: np.ndarray
  seed: int
  index: int = 0

  def __next__(self) -> Batch:
    # The source of batch i is a pure function of (seed, i): resumable, host-agnostic.
    choice = int(np.random.default_rng([self.seed, self.index]).choice(len(self.sources),
                                                                        p=self.weights))
    self.index += 1
    batch = self.sources[choice].next()
    batch['source'] = np.int64(choice)
    return batch

  def get_state(self) -> dict:
    # Round-trip through JSON so the state is known to be JSON-serialisable.
    return json.loads(json.dumps({
        'index': self.index, 'sources': [s.get_state() for s in self.sources]}))

  def set_state(self, state: dict) -> None:
    if len(state['sources']) != len(self.sources):
      raise ValueError(f'data state has {len(state["sources"])} sources, config has '
                       f'{len(self.sources)}')
    self.index = state['index']
    for source, s in zip(self.sources, state['sources']):
      source.set_state(s)

  def close(self) -> None:
    """Stops worker processes (otherwise they linger until interpreter exit)."""
    for source in self.sources:
      source.close()


def make_train_iterator(cfg: ml_collections.ConfigDict, *, global_batch_size: int, seed: int,
                        process_index: int | None = None, process_count: int | None = None,
                        num_epochs: int | None = None) -> TrainIterator:
  """This host's training batches (``global_batch_size // process_count`` each)."""
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  if global_batch_size % process_count:
    raise ValueError(f'batch {global_batch_size} does not split over {process_count} hosts')
  sources = make_sources(cfg)
  per_host = global_batch_size // process_count
  batches = [
      _GoodBatches(_chunk_iterator(s, cfg, size=per_host, seed=seed + 1000 * i,
                                   process_index=process_index, process_count=process_count,
                                   num_epochs=num_epochs),
                   per_host)
      for i, s in enumerate(sources)
  ]
  return TrainIterator(batches, _weights(cfg, len(sources)), seed)
