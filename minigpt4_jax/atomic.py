"""Files written whole or not at all.

A reader, or a rerun after a kill, sees either the old file or the complete new one:
the content goes to a hidden temporary beside the target, is fsynced, and renamed
over it (a rename within one directory is atomic).
"""

from __future__ import annotations

import os
import pathlib
from typing import IO, Any, Callable


def write_atomically(path: str | os.PathLike, write: Callable[[IO[Any]], None],
                     mode: str = 'wb') -> None:
  """Calls ``write`` on a file opened with ``mode`` ('wb', or 'w' for UTF-8 text) and
  moves the result to ``path`` only once it is complete and on disk."""
  path = pathlib.Path(path)
  tmp = path.with_name(f'.{path.name}.partial-{os.getpid()}')
  try:
    with open(tmp, mode, encoding=None if 'b' in mode else 'utf-8') as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  finally:
    tmp.unlink(missing_ok=True)


def write_text_atomically(path: str | os.PathLike, text: str) -> None:
  write_atomically(path, lambda f: f.write(text), mode='w')
