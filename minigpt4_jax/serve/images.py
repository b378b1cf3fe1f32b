"""Images of ``image_url`` parts: base64 ``data:`` URLs, and ``file://`` paths inside
one folder the server was started with (never any other file, never the network)."""

from __future__ import annotations

import base64
import binascii
import pathlib
import urllib.parse

from PIL import Image

from minigpt4_jax.data.transforms import decode_rgb
from minigpt4_jax.serve.api import ApiError

DEFAULT_MAX_IMAGE_BYTES = 20 * 2**20  # OpenAI's per-image limit


def _data_url_bytes(url: str, where: str) -> bytes:
  header, sep, payload = url.partition(',')
  if not sep or not header.endswith(';base64'):
    raise ApiError(400, f'{where}: a data: URL must be base64 (data:image/...;base64,...)',
                   param=where)
  try:
    return base64.b64decode(payload, validate=True)
  except (binascii.Error, ValueError):
    raise ApiError(400, f'{where}: the data: URL is not valid base64', param=where) from None


def _file_url_path(url: str, allowed_dir: pathlib.Path | None, where: str) -> pathlib.Path:
  if allowed_dir is None:
    raise ApiError(400, f'{where}: file:// URLs are off (start the server with '
                   '--allowed-image-dir)', param=where)
  path = pathlib.Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).resolve()
  if not path.is_relative_to(allowed_dir.resolve()) or not path.is_file():
    raise ApiError(400, f'{where}: {path} is not a file inside the allowed image folder',
                   param=where)
  return path


def image_from_url(url: str, *, allowed_dir: pathlib.Path | None, max_bytes: int,
                   where: str) -> Image.Image:
  """The RGB image an ``image_url`` names; 413 past ``max_bytes``, 400 if not an image."""
  if url.startswith('data:'):
    data = _data_url_bytes(url, where)
  elif url.startswith('file://'):
    path = _file_url_path(url, allowed_dir, where)
    if path.stat().st_size > max_bytes:
      raise ApiError(413, f'{where}: the image has {path.stat().st_size} bytes; at most '
                     f'{max_bytes}', param=where, code='image_too_large')
    data = path.read_bytes()
  else:
    raise ApiError(400, f'{where}: only data: URLs (and file:// when enabled) are accepted; '
                   'this server does not fetch from the network', param=where)
  if len(data) > max_bytes:
    raise ApiError(413, f'{where}: the image has {len(data)} bytes; at most {max_bytes}',
                   param=where, code='image_too_large')
  try:
    return decode_rgb(data)
  except (OSError, ValueError, Image.DecompressionBombError):
    raise ApiError(400, f'{where}: not a decodable image', param=where,
                   code='invalid_image') from None
