"""LLaVA's training data: conversation JSON + an image folder, LLaVA-1.5's pad-to-square.

The JSON is a list of ``{"id", "image": path under the image folder, "conversations":
[{"from": "human", "value": "<image>\n..."}, {"from": "gpt", "value": "..."}, ...]}``
(``blip_laion_cc_sbu_558k.json``, ``llava_v1_5_mix665k.json``). Samples without
``image`` (text-only ShareGPT turns in mix665k) get a black image and no image
tokens, as LLaVA feeds them. Records carry the conversation as JSON text so the
shared pipeline batches them like captions; ``text.sequences`` renders them.
"""

from __future__ import annotations

import json
import pathlib

import grain
import numpy as np
from PIL import Image

from minigpt4_jax.data.sources import Record
from minigpt4_jax.data.transforms import CLIP_MEAN, _warn_bad, decode_rgb

# LLaVA pads with the CLIP mean as 0-255 integers: tuple(int(x * 255) for x in image_mean).
PAD_COLOUR = tuple(int(x * 255) for x in CLIP_MEAN)


class LLaVAJsonSource:
  """grain RandomAccessDataSource over a LLaVA conversation JSON.

  The JSON is parsed once and each sample kept as its compact JSON bytes in one numpy
  buffer with offsets: llava_v1_5_mix665k.json parses into several GB of Python
  objects, and grain pickles the source into every worker process.
  """

  def __init__(self, json_path: str | pathlib.Path, image_dir: str | pathlib.Path):
    self.json_path = pathlib.Path(json_path)
    self.image_dir = pathlib.Path(image_dir)
    if not self.json_path.is_file():
      raise FileNotFoundError(f'{self.json_path}: missing (expected LLaVA conversation JSON)')
    items = json.loads(self.json_path.read_text(encoding='utf-8'))
    if not isinstance(items, list) or not items:
      raise ValueError(f'{self.json_path}: expected a non-empty JSON list of samples')
    encoded = []
    for i, item in enumerate(items):
      if not isinstance(item, dict) or not isinstance(item.get('conversations'), list):
        raise ValueError(f'{self.json_path}: sample {i} has no "conversations" list')
      encoded.append(json.dumps(item, ensure_ascii=False, separators=(',', ':')).encode())
    del items
    self.offsets = np.cumsum([0] + [len(e) for e in encoded], dtype=np.int64)
    self.buffer = np.frombuffer(b''.join(encoded), np.uint8)

  def __len__(self) -> int:
    return len(self.offsets) - 1

  def __getitem__(self, index: int) -> Record:
    item = json.loads(self.buffer[self.offsets[index]:self.offsets[index + 1]].tobytes())
    where = f'{self.json_path}:{item.get("id", index)}'
    record = {'image_bytes': b'', 'text': json.dumps(item['conversations']), 'where': where,
              'error': ''}
    if 'image' in item:
      try:
        record['image_bytes'] = (self.image_dir / item['image']).read_bytes()
      except OSError as err:
        record['error'] = f'{type(err).__name__}: {err}'
    return record

  def __repr__(self) -> str:
    return f'LLaVAJsonSource({self.json_path}, {len(self)} samples)'


def pad_to_square(image: Image.Image, colour: tuple[int, int, int] = PAD_COLOUR) -> Image.Image:
  """LLaVA's ``expand2square``: centre the image on a square of ``colour``."""
  w, h = image.size
  if w == h:
    return image
  side = max(w, h)
  square = Image.new(image.mode, (side, side), colour)
  square.paste(image, ((side - w) // 2, (side - h) // 2))
  return square


def llava_image(image: Image.Image, size: int, aspect: str = 'pad') -> np.ndarray:
  """uint8[size, size, 3] as LLaVA's ``image_aspect_ratio``: 'pad' (LLaVA-1.5 stage 2)
  pads to square, then CLIP's bicubic resize; 'square' (its default, stage 1) is
  CLIP's own resize of the short side and centre crop."""
  if aspect == 'pad':
    return np.asarray(pad_to_square(image).resize((size, size), Image.BICUBIC))
  if aspect != 'square':
    raise ValueError(f'data.image_aspect_ratio={aspect!r}; expected "pad" or "square"')
  w, h = image.size  # transformers' get_resize_output_image_size truncates the long side
  w, h = (size, int(h * size / w)) if w <= h else (int(w * size / h), size)
  resized = image.resize((w, h), Image.BICUBIC)
  left, top = (w - size) // 2, (h - size) // 2
  return np.asarray(resized.crop((left, top, left + size, top + size)))


class DecodeLLaVASample(grain.transforms.Map):
  """raw record -> {image uint8[S, S, 3], text (conversation JSON), ok}; never raises
  on data. LLaVA does not augment, so the map is deterministic."""

  def __init__(self, image_size: int, aspect: str = 'pad'):
    self.image_size = image_size
    self.aspect = aspect

  def map(self, record: dict) -> dict:
    error = record['error']
    image = np.zeros((self.image_size, self.image_size, 3), np.uint8)
    if not error and record['image_bytes']:
      try:
        image = llava_image(decode_rgb(record['image_bytes']), self.image_size, self.aspect)
      except Exception as err:  # noqa: BLE001 - any decoder failure is a bad sample
        error = f'{type(err).__name__}: {err}'
    if error:
      _warn_bad(record['where'], error)
    return {'image': image, 'text': record['text'] if not error else '', 'ok': not error}
