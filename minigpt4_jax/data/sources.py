"""Random-access sources of raw (image bytes, text) records.

- ``TarShardSource``: webdataset tar shards as img2dataset writes them (``KEY.jpg``
  beside ``KEY.txt`` and/or ``KEY.json`` holding ``caption``). Each shard's member
  table is read once from its tar headers (no image data is read), so any sample
  can be fetched by one seek; grain can then shuffle, slice per host and resume.
- ``AlignFolderSource``: MiniGPT-4's ``cc_sbu_align`` folder (``image/{id}.jpg`` and
  ``filter_cap.json`` = ``{"annotations": [{"image_id", "caption"}]}``).

Records are ``{"image_bytes", "text", "where", "error"}``; a record that cannot be
read keeps an ``error`` message instead of raising, so one bad file never stops a
run (the pipeline skips and counts it).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import pathlib
import re
import tarfile
from typing import Any, Sequence

from minigpt4_jax.errors import BadInput, MissingInput
from minigpt4_jax.inputs import read_json, require_dir

IMAGE_EXTENSIONS = ('jpg', 'jpeg', 'png', 'webp', 'bmp')
Record = dict[str, Any]


def expand_braces(pattern: str) -> list[str]:
  """'laion/{00000..00002}.tar' -> ['laion/00000.tar', 'laion/00001.tar', 'laion/00002.tar'].

  Supports numeric ranges (zero padding kept) and comma lists ``{a,b}``, several per
  pattern, as webdataset does.
  """
  match = re.search(r'\{([^{}]*)\}', pattern)
  if match is None:
    return [pattern]
  body = match.group(1)
  numeric = re.fullmatch(r'(\d+)\.\.(\d+)', body)
  if numeric:
    lo, hi = numeric.groups()
    width = len(lo)
    options = [str(i).zfill(width) for i in range(int(lo), int(hi) + 1)]
  else:
    options = body.split(',')
  head, tail = pattern[:match.start()], pattern[match.end():]
  return [p for o in options for p in expand_braces(head + o + tail)]


def expand_shards(patterns: str | Sequence[str]) -> list[str]:
  """Shard paths from one pattern or several (whitespace-separated or a list)."""
  if isinstance(patterns, str):
    patterns = patterns.split()
  return list(itertools.chain.from_iterable(expand_braces(p) for p in patterns))


@dataclasses.dataclass(frozen=True)
class _Member:
  offset: int
  size: int


@dataclasses.dataclass(frozen=True)
class _Sample:
  shard: int
  key: str
  image: _Member
  text: _Member | None
  text_kind: str  # 'txt' | 'json' | ''


def _split_key(name: str) -> tuple[str, str]:
  """webdataset convention: the key is the path up to the first dot of the basename."""
  directory, base = os.path.split(name)
  stem, _, ext = base.partition('.')
  return os.path.join(directory, stem), ext.lower()


def index_shard(path: str, shard_id: int) -> tuple[list[_Sample], int]:
  """Samples of one tar (from headers only) and the number of broken image entries.

  A truncated tar yields the samples whose headers were read; members whose data
  runs past the end of the file are caught later, when read.
  """
  members: dict[str, dict[str, _Member]] = {}
  try:
    with tarfile.open(path, mode='r:') as tar:
      for info in iter(tar.next, None):
        if info.isfile():
          key, ext = _split_key(info.name)
          members.setdefault(key, {})[ext] = _Member(info.offset_data, info.size)
  except (tarfile.ReadError, EOFError, OSError) as err:
    logging.warning('%s: tar is truncated or corrupt after %d keys (%s)', path, len(members), err)
  samples, missing_image = [], 0
  for key, exts in members.items():
    image_ext = next((e for e in IMAGE_EXTENSIONS if e in exts), None)
    if image_ext is None:
      missing_image += 1
      continue
    text_kind = 'txt' if 'txt' in exts else 'json' if 'json' in exts else ''
    samples.append(_Sample(shard_id, key, exts[image_ext], exts.get(text_kind), text_kind))
  return samples, missing_image


def read_member(path: str, member: _Member) -> bytes:
  """A tar member's bytes, by the offset the index recorded (one seek)."""
  with open(path, 'rb') as f:
    f.seek(member.offset)
    data = f.read(member.size)
  if len(data) != member.size:
    raise EOFError(f'member truncated: {len(data)} of {member.size} bytes')
  return data


def _caption(raw: bytes, kind: str) -> str:
  text = raw.decode('utf-8')  # UnicodeDecodeError marks the sample bad
  if kind == 'json':
    caption = json.loads(text).get('caption')
    if not isinstance(caption, str):
      raise ValueError('json has no string "caption"')
    return caption
  return text


def existing_shards(patterns: str | Sequence[str]) -> list[str]:
  """The shard files ``patterns`` name; an error if there are none or some are missing."""
  shards = expand_shards(patterns)
  if not shards:
    raise BadInput(f'no shards in {patterns!r}')
  missing = [s for s in shards if not os.path.isfile(s)]
  if missing:
    raise MissingInput(f'{len(missing)} shard(s) missing, first: {missing[0]}')
  return shards


def align_annotations(directory: pathlib.Path) -> list[dict]:
  """A cc_sbu_align folder's checked ``filter_cap.json`` annotations."""
  require_dir(directory, 'cc_sbu_align folder')
  annotations_file = directory / 'filter_cap.json'
  if not annotations_file.is_file():
    raise MissingInput(f'{annotations_file}: missing (expected a cc_sbu_align folder)')
  annotations = read_json(annotations_file)
  annotations = annotations.get('annotations') if isinstance(annotations, dict) else None
  if not isinstance(annotations, list) or not annotations:
    raise BadInput(f'{annotations_file}: "annotations" is missing or empty')
  for i, a in enumerate(annotations):
    if not isinstance(a, dict) or not {'image_id', 'caption'} <= a.keys():
      raise BadInput(f'{annotations_file}: annotation {i} lacks image_id/caption: {a!r}')
  if not (directory / 'image').is_dir():
    raise MissingInput(f'{directory / "image"}: missing (the images of {annotations_file})')
  return annotations


class TarShardSource:
  """grain RandomAccessDataSource over webdataset tar shards."""

  def __init__(self, patterns: str | Sequence[str]):
    self.shards = existing_shards(patterns)
    self.samples: list[_Sample] = []
    self.unusable_keys = 0  # keys with text but no image: never samples
    for i, shard in enumerate(self.shards):
      samples, unusable = index_shard(shard, i)
      self.samples += samples
      self.unusable_keys += unusable
    if not self.samples:
      raise ValueError(f'shards {patterns!r} hold no image samples')

  def __len__(self) -> int:
    return len(self.samples)

  def __getitem__(self, index: int) -> Record:
    sample = self.samples[index]
    shard = self.shards[sample.shard]
    record = {'image_bytes': b'', 'text': '', 'where': f'{shard}:{sample.key}', 'error': ''}
    try:
      if sample.text is None:
        raise ValueError('no caption (.txt or .json)')
      record['text'] = _caption(read_member(shard, sample.text), sample.text_kind)
      record['image_bytes'] = read_member(shard, sample.image)
    except (OSError, EOFError, ValueError) as err:  # UnicodeDecodeError, JSONDecodeError included
      record['error'] = f'{type(err).__name__}: {err}'
    return record

  def __repr__(self) -> str:
    return f'TarShardSource({len(self.shards)} shards, {len(self)} samples)'


class AlignFolderSource:
  """grain RandomAccessDataSource over a ``cc_sbu_align``-format folder."""

  def __init__(self, directory: str | pathlib.Path):
    self.directory = pathlib.Path(directory)
    self.annotations = align_annotations(self.directory)

  def __len__(self) -> int:
    return len(self.annotations)

  def __getitem__(self, index: int) -> Record:
    a = self.annotations[index]
    path = self.directory / 'image' / f'{a["image_id"]}.jpg'
    record = {'image_bytes': b'', 'text': str(a['caption']), 'where': str(path), 'error': ''}
    try:
      record['image_bytes'] = path.read_bytes()
    except OSError as err:
      record['error'] = f'{type(err).__name__}: {err}'
    return record

  def __repr__(self) -> str:
    return f'AlignFolderSource({self.directory}, {len(self)} samples)'
