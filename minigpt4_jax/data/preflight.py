"""Checks of a config's data section that need no indexing: run before a model loads.

A missing shard, an empty or malformed ``filter_cap.json`` or a missing folder is
reported (as a ``minigpt4_jax.errors.UserError`` naming it) before any model is
built or anything is written, instead of after the towers have loaded.
"""

from __future__ import annotations

import pathlib
from typing import Callable

import ml_collections

from minigpt4_jax.data.pipeline import check_fields
from minigpt4_jax.data.sources import align_annotations, existing_shards
from minigpt4_jax.inputs import require_dir, require_file


def _shards(cfg: ml_collections.ConfigDict) -> None:
  for patterns in cfg.train_shards:
    existing_shards(patterns)


def _conversations(cfg: ml_collections.ConfigDict) -> None:
  require_file(cfg.llava_json, 'data.llava_json')
  require_dir(cfg.llava_image_dir, 'data.llava_image_dir')


def _feature_dirs(cfg: ml_collections.ConfigDict) -> None:
  for directory in cfg.feature_dirs:
    require_dir(directory, 'data.feature_dirs entry')


# data.kind -> what is read of its files before indexing (tfds: its builder checks itself).
_FILE_CHECKS: dict[str, Callable[[ml_collections.ConfigDict], None]] = {
    'webdataset': _shards,
    'align': lambda cfg: align_annotations(pathlib.Path(cfg.align_dir)),
    'llava': _conversations,
    'features': _feature_dirs,
}


def check_data_inputs(cfg: ml_collections.ConfigDict) -> None:
  """Raises a UserError naming the first missing or unusable piece of ``cfg`` (a data section)."""
  check_fields(cfg)
  if cfg.kind in _FILE_CHECKS:
    _FILE_CHECKS[cfg.kind](cfg)
