"""The hidden sibling folders a checkpoint is written into before it is renamed into place.

``.NAME.partial-PID`` holds a conversion in progress and ``.NAME.old-PID`` the
checkpoint it replaces (``--overwrite``) until the new one is in. A killed conversion
leaves them behind, tens of GB at 13B; the next conversion to the same output
removes those whose process is gone, and says so.
"""

from __future__ import annotations

import logging
import os
import pathlib
import re
import shutil

KINDS = ('partial', 'old')


def sibling(out_dir: pathlib.Path, kind: str, pid: int | None = None) -> pathlib.Path:
  """``OUT/../.OUT_NAME.KIND-PID`` (same filesystem as OUT, so the final rename is atomic)."""
  return out_dir.parent / f'.{out_dir.name}.{kind}-{os.getpid() if pid is None else pid}'


def process_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # exists, owned by someone else
    return True
  return True


def stale_siblings(out_dir: pathlib.Path) -> list[pathlib.Path]:
  """The ``.partial-PID`` / ``.old-PID`` siblings of ``out_dir`` whose process is gone
  (on this machine: a pid is only meaningful on the host that wrote it)."""
  pattern = re.compile(rf'\.{re.escape(out_dir.name)}\.({"|".join(KINDS)})-(\d+)')
  if not out_dir.parent.is_dir():
    return []
  found = []
  for path in sorted(out_dir.parent.iterdir()):
    match = pattern.fullmatch(path.name)
    if match and path.is_dir() and int(match.group(2)) != os.getpid() and not process_alive(
        int(match.group(2))):
      found.append(path)
  return found


def remove_stale_siblings(out_dir: pathlib.Path) -> list[pathlib.Path]:
  """Removes ``stale_siblings(out_dir)``, logging each at WARNING; returns them."""
  stale = stale_siblings(out_dir)
  for path in stale:
    shutil.rmtree(path)
    logging.warning('removed %s, left by an interrupted conversion (process %s is gone)',
                    path, path.name.rsplit('-', 1)[1])
  return stale
