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
from minigpt4_jax.data.transforms import _warn_bad, decode_rgb, eval_image
from minigpt4_jax.errors import MissingInput
from minigpt4_jax.inputs import read_json

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
      raise MissingInput(f'{self.json_path}: missing (expected LLaVA conversation JSON)')
    items = read_json(self.json_path)
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


class DecodeLLaVASample(grain.transforms.Map):
  """raw record -> {image uint8[S, S, 3], text (conversation JSON), ok}; never raises
  on data. LLaVA does not augment, so the map is deterministic."""

  def __init__(self, image_size: int, transform: str = 'pad'):
    self.image_size = image_size
    self.transform = transform

  def map(self, record: dict) -> dict:
    error = record['error']
    image = np.zeros((self.image_size, self.image_size, 3), np.uint8)
    if not error and record['image_bytes']:
      try:
        image = eval_image(decode_rgb(record['image_bytes']), self.image_size, self.transform)
      except Exception as err:  # noqa: BLE001 - any decoder failure is a bad sample
        error = f'{type(err).__name__}: {err}'
    if error:
      _warn_bad(record['where'], error)
    return {'image': image, 'text': record['text'] if not error else '', 'ok': not error}
