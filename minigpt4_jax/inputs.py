"""Reading user-supplied files with errors that name them (``minigpt4_jax.errors``).

Used by the launchers to check what can be checked before a model loads, and by the
readers of annotation and rule files, so a broken file is reported as
``FILE: line L column C: ...`` instead of a bare ``JSONDecodeError``.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

from PIL import Image, UnidentifiedImageError

from minigpt4_jax.errors import BadInput, MissingInput

PathLike = str | pathlib.Path


def require_file(path: PathLike, what: str) -> pathlib.Path:
  """``path`` if it is a readable file, else a MissingInput naming ``what`` and the path."""
  path = pathlib.Path(path)
  if path.is_dir():
    raise BadInput(f'{what} {path}: is a directory, expected a file')
  if not path.is_file():
    raise MissingInput(f'{what} {path}: no such file')
  try:
    path.open('rb').close()
  except OSError as err:
    raise BadInput(f'{what} {path}: cannot be read ({err.strerror})') from None
  return path


def require_dir(path: PathLike, what: str) -> pathlib.Path:
  """``path`` if it is a directory, else a MissingInput/BadInput naming ``what``."""
  path = pathlib.Path(path)
  if path.exists() and not path.is_dir():
    raise BadInput(f'{what} {path}: is a file, expected a directory')
  if not path.is_dir():
    raise MissingInput(f'{what} {path}: no such directory')
  return path


def read_json(path: PathLike) -> Any:
  """The parsed JSON file; a syntax error names the file, line and column."""
  path = pathlib.Path(path)
  try:
    return json.loads(path.read_text(encoding='utf-8'))
  except json.JSONDecodeError as err:
    raise BadInput(f'{path}: invalid JSON at line {err.lineno} column {err.colno}: '
                   f'{err.msg}') from None
  except UnicodeDecodeError as err:
    raise BadInput(f'{path}: not UTF-8 text (byte {err.start})') from None


def open_image(path: PathLike) -> Image.Image:
  """The image at ``path`` as RGB (decoded now, so a damaged file fails here, named)."""
  path = require_file(path, 'image')
  try:
    with Image.open(path) as image:
      return image.convert('RGB')
  except (UnidentifiedImageError, OSError, ValueError) as err:
    raise BadInput(f'{path}: not an image PIL can read ({err.__class__.__name__})') from None


def require_checkpoint(path: PathLike, what: str) -> pathlib.Path:
  """``path`` if it is a converted checkpoint or a training workdir (both hold a config.json)."""
  path = require_dir(path, what)
  if not (path / 'config.json').is_file():
    raise MissingInput(f'{what} {path}: neither a converted checkpoint (python -m launch.convert) '
                       'nor a training workdir: it has no config.json')
  return path
