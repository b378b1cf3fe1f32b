"""The curation state: one JSONL line per step an item took, so a killed run resumes.

  {"id", "where", "stage", "raw", "continued", "fixed", "error"}

``stage`` is ``described`` (awaiting its fix), ``fixed``, ``fix_failed`` (retried by
the next run) or ``unreadable`` (the image could not be decoded). The last line of
an id wins. Lines are appended and fsynced one batch at a time, so a kill loses at
most the batch in flight; a half-written last line is cut off on load.
Filtering is not stored: it is cheap and reruns with the current rules.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Iterable

from minigpt4_jax import resumable

STAGES = ('described', 'fixed', 'fix_failed', 'unreadable')


@dataclasses.dataclass(frozen=True)
class ItemState:
  id: str
  where: str
  stage: str
  raw: str = ''        # the answer to the describe prompt
  continued: str = ''  # the answer to "Continue" ('' when the first was long enough)
  fixed: str = ''
  error: str = ''

  def __post_init__(self):
    if self.stage not in STAGES:
      raise ValueError(f'item {self.id!r}: unknown stage {self.stage!r}; known: {STAGES}')

  @property
  def description(self) -> str:
    """Both answers joined, as the paper concatenates them."""
    return f'{self.raw} {self.continued}'.strip()


class Store:
  """Append-only state file; ``items`` maps id -> its latest ``ItemState``."""

  def __init__(self, path: pathlib.Path):
    self.path = pathlib.Path(path)
    self.items: dict[str, ItemState] = {}
    if self.path.exists():
      self._load()

  def _load(self) -> None:
    for n, row in enumerate(resumable.read_log(self.path, 'an item state'), 1):
      try:
        state = ItemState(**row)
      except (TypeError, ValueError) as err:
        raise ValueError(f'{self.path}: line {n} is not an item state ({err}); not resuming '
                         'from a damaged file') from None
      self.items[state.id] = state

  def append(self, states: Iterable[ItemState]) -> None:
    states = list(states)
    resumable.append_log(self.path, (dataclasses.asdict(s) for s in states))
    self.items.update((s.id, s) for s in states)


def check_settings(out_dir: pathlib.Path, settings: dict) -> None:
  """A resumed run must describe with the same settings, so the descriptions of one
  folder all come from one model and one prompt. (The fixer may change between runs:
  a dead endpoint can be swapped for another.)"""
  resumable.require_same_settings(pathlib.Path(out_dir) / 'settings.json', settings,
                                  'descriptions')
