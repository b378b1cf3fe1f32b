"""A TFDS dataset of (image bytes, text) pairs in ArrayRecord, read without TensorFlow.

Turns webdataset shards or a cc_sbu_align folder into one ArrayRecord dataset, which
``tfds.data_source`` reads back with random access, for grain (and any TFDS user).
Images stay encoded: TFDS's ``features.Image`` needs TensorFlow to encode numpy
arrays, and decoding belongs in the pipeline's workers anyway.

  python -m minigpt4_jax.data.tfds_builder --align_dir cc_sbu_align --data_dir ~/tfds
  python -m minigpt4_jax.data.tfds_builder --shards 'laion/{00000..00009}.tar' --data_dir ~/tfds
  # then: --config.data.kind=tfds --config.data.tfds_name=minigpt4_pairs --config.data.tfds_dir=~/tfds
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from minigpt4_jax.data.sources import AlignFolderSource, TarShardSource

NAME = 'minigpt4_pairs'


class Minigpt4Pairs(tfds.core.GeneratorBasedBuilder):
  """Image-text pairs; bad records are kept with their ``error`` (the pipeline skips them)."""

  VERSION = tfds.core.Version('1.0.0')

  def __init__(self, *, source: Any = None, **kwargs):
    self.source = source  # needed only to prepare; reading needs nothing
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
        'image_bytes': tfds.features.Scalar(dtype=np.object_),
        'text': tfds.features.Text(),
        'where': tfds.features.Text(),
        'error': tfds.features.Text(),
    }))

  def _split_generators(self, dl_manager):
    del dl_manager
    if self.source is None:
      raise ValueError(f'{NAME}: pass source= (shards or an align folder) to prepare it')
    return {'train': self._generate_examples()}

  def _generate_examples(self):
    for i in range(len(self.source)):
      yield i, self.source[i]


def build(source: Any, data_dir: str) -> None:
  Minigpt4Pairs(source=source, data_dir=data_dir, file_format='array_record').download_and_prepare()


class TfdsSource:
  """grain source over the prepared dataset, in the pipeline's raw-record form."""

  def __init__(self, name: str, data_dir: str):
    if name != NAME:
      raise ValueError(f'data.tfds_name={name!r}: only {NAME!r} (written by this module) is '
                       f'supported')
    self.data = Minigpt4Pairs(data_dir=data_dir).as_data_source(split='train')

  def __len__(self) -> int:
    return len(self.data)

  def __getitem__(self, index: int) -> dict:
    record = self.data[index]
    return {'image_bytes': record['image_bytes'], 'text': _text(record['text']),
            'where': _text(record['where']), 'error': _text(record['error'])}

  def __repr__(self) -> str:
    return f'TfdsSource({NAME}, {len(self)} samples)'


def _text(value) -> str:
  return value.decode('utf-8') if isinstance(value, bytes) else str(value)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  group = parser.add_mutually_exclusive_group(required=True)
  group.add_argument('--shards', help='webdataset shard pattern(s)')
  group.add_argument('--align_dir', help='a cc_sbu_align folder')
  parser.add_argument('--data_dir', required=True, help='TFDS data directory to write into')
  args = parser.parse_args()
  source = TarShardSource(args.shards) if args.shards else AlignFolderSource(args.align_dir)
  build(source, args.data_dir)
  print(f'wrote {NAME} ({len(source)} records) under {args.data_dir}')


if __name__ == '__main__':
  main()
