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
import json
import os
import pathlib
from typing import Iterable

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
    complete, newline, partial = self.path.read_bytes().rpartition(b'\n')
    if partial:  # cut short by a kill: drop it so appends continue cleanly
      with open(self.path, 'r+b') as f:
        f.truncate(len(complete) + len(newline))
    for n, line in enumerate(complete.split(b'\n') if newline else [], 1):
      try:
        state = ItemState(**json.loads(line))
      except (json.JSONDecodeError, TypeError, ValueError) as err:
        raise ValueError(f'{self.path}: line {n} is not an item state ({err}); not resuming '
                         'from a damaged file') from None
      self.items[state.id] = state

  def append(self, states: Iterable[ItemState]) -> None:
    states = list(states)
    if not states:
      return
    self.path.parent.mkdir(parents=True, exist_ok=True)
    with open(self.path, 'a', encoding='utf-8') as f:
      f.write(''.join(json.dumps(dataclasses.asdict(s), ensure_ascii=False) + '\n'
                      for s in states))
      f.flush()
      os.fsync(f.fileno())
    self.items.update((s.id, s) for s in states)


def check_settings(out_dir: pathlib.Path, settings: dict) -> None:
  """Writes the describe settings of a new run; a resumed run must use the same, so the
  descriptions of one folder all come from one model and one prompt. (The fixer may
  change between runs: a dead endpoint can be swapped for another.)"""
  path = pathlib.Path(out_dir) / 'settings.json'
  if not path.exists():
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + '\n', encoding='utf-8')
    return
  before = json.loads(path.read_text(encoding='utf-8'))
  changed = {k: (before.get(k), settings.get(k)) for k in before.keys() | settings.keys()
             if before.get(k) != settings.get(k)}
  if changed:
    raise ValueError(f'{out_dir} holds descriptions made differently ({changed}, as (then, '
                     'now)); use another --out or the same settings')
