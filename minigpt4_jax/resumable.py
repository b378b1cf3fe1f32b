"""Append-only JSONL logs and settings files that let a killed job resume.

Used by the jobs that write one result per sample (``launch.evaluate``,
``launch.curate``): results are appended and fsynced batch by batch, a rerun reads
them back and skips what is done, and it must run with the same settings as the run
that wrote them.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Iterable

from minigpt4_jax.atomic import write_text_atomically


def read_log(path: pathlib.Path, what: str) -> list[Any]:
  """The JSON values of a log's lines. A last line without its newline was cut short
  by a kill: it is removed from the file, so appending continues cleanly. Any other
  unreadable line is an error naming the file, the line and ``what`` it should be."""
  if not path.exists():
    return []
  complete, newline, partial = path.read_bytes().rpartition(b'\n')
  if partial:
    with open(path, 'r+b') as f:
      f.truncate(len(complete) + len(newline))
  rows = []
  for n, line in enumerate(complete.split(b'\n') if newline else [], 1):
    try:
      rows.append(json.loads(line))
    except json.JSONDecodeError as err:
      raise ValueError(f'{path}: line {n} is not {what} ({err}); not resuming from a damaged '
                       'file') from None
  return rows


def append_log(path: pathlib.Path, rows: Iterable[Any]) -> None:
  """Appends one JSON line per row and fsyncs: a kill loses at most this call's rows."""
  text = ''.join(json.dumps(row, ensure_ascii=False) + '\n' for row in rows)
  if not text:
    return
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, 'a', encoding='utf-8') as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())


def require_same_settings(path: pathlib.Path, settings: dict[str, Any], what: str) -> None:
  """Writes ``settings`` for a new run; a resumed run must use the same ones, or its
  results would mix two configurations (``what`` names those results)."""
  if not path.exists():
    path.parent.mkdir(parents=True, exist_ok=True)
    # Atomic: several processes of one distributed job may write it at once.
    write_text_atomically(path, json.dumps(settings, indent=2) + '\n')
    return
  before = json.loads(path.read_text(encoding='utf-8'))
  changed = {k: (before.get(k), settings.get(k)) for k in before.keys() | settings.keys()
             if before.get(k) != settings.get(k)}
  if changed:
    raise ValueError(f'{path.parent} holds {what} made differently ({changed}, as (then, '
                     'now)); use another output folder or the same settings')
