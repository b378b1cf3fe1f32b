"""Strict placement of mapped tensors into an nnx model's parameters.

``ParamSlots`` wraps a (possibly abstract) model's parameter tree as a flat table of
``path -> Variable`` and fills it one tensor at a time, so a converter can stream a
checkpoint without ever holding it whole. Every mismatch is an error that names the
source file and key, our path, and both shapes.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import jax
import numpy as np
from flax import nnx

from minigpt4_jax.convert.tables import Layout
from minigpt4_jax.errors import BadInput
from minigpt4_jax.models.params import param_table


class ConversionError(BadInput):
  """A checkpoint (or flag combination) that does not fit the model; the message names file,
  key and shapes. A user error: the commands print it as one line (a ValueError)."""


def map_tensors(
    layout: Layout, items: Iterable[tuple[str, np.ndarray]], source: str
) -> Iterator[tuple[str, str, np.ndarray]]:
  """Yields (source key, our path, array); unknown keys raise, known-unused are dropped."""
  for key, value in items:
    mapped = layout.map_key(key, value)
    if mapped is None:
      raise ConversionError(f'{source}: unknown key {key!r} (shape {tuple(value.shape)}) '
                            f'for layout {layout.name}')
    for path, array in mapped.items():
      yield key, path, array


class ParamSlots:
  """Fills a model's parameters by path, each exactly once, and checks completeness."""

  def __init__(self, model: nnx.Module):
    self.slots = param_table(model)
    self.filled: dict[str, str] = {}  # our path -> "source:key" that filled it

  def fill(self, path: str, array: np.ndarray, *, source: str, key: str) -> None:
    where = f'{source}: key {key!r} -> {path}'
    slot = self.slots.get(path)
    if slot is None:
      raise ConversionError(f'{where}: the model has no such parameter '
                            f'(its architecture does not match the checkpoint)')
    if path in self.filled:
      raise ConversionError(f'{where}: already filled from {self.filled[path]}')
    expected = tuple(slot.shape)
    if tuple(array.shape) != expected:
      raise ConversionError(f'{where}: expected shape {expected}, found {tuple(array.shape)}')
    slot.set_value(jax.numpy.asarray(array, dtype=slot.dtype))
    self.filled[path] = f'{source}:{key}'

  def missing(self, prefix: str = '') -> list[str]:
    return sorted(p for p in self.slots if p.startswith(prefix) and p not in self.filled)

  def check_complete(self, prefix: str = '', *, source: str = 'checkpoint') -> None:
    missing = self.missing(prefix)
    if missing:
      shown = ', '.join(missing[:8]) + (f' and {len(missing) - 8} more' if len(missing) > 8 else '')
      raise ConversionError(f'{source}: {len(missing)} parameter(s) not filled: {shown}')


def load_state_dict(model: nnx.Module, layout: Layout, state_dict: dict[str, np.ndarray],
                    *, source: str = 'state_dict', prefix: str = '') -> ParamSlots:
  """Fills ``model`` from an in-memory state dict; every leaf under ``prefix`` must be set."""
  slots = ParamSlots(model)
  for key, path, array in map_tensors(layout, state_dict.items(), source):
    slots.fill(path, array, source=source, key=key)
  slots.check_complete(prefix, source=source)
  return slots
