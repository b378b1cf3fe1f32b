"""Writes the bundled demo set from scikit-image's sample photographs.

  python -m minigpt4_jax.tools.make_demo   # needs scikit-image; deterministic output

Two formats of the same 16 photographs: webdataset shards (stage-1 short captions,
``KEY.jpg`` + ``KEY.txt`` + ``KEY.json``) and a ``cc_sbu_align`` folder (stage-2
detailed descriptions). Images are shrunk so the longest side is 256 px.
"""

from __future__ import annotations

import io
import json
import pathlib
import shutil
import tarfile

import numpy as np
from PIL import Image

from minigpt4_jax.bundled import DEMO
from minigpt4_jax.cli import parse_no_arguments
from minigpt4_jax.data.demo_texts import DEMO_IMAGES

DEMO_DIR = DEMO
NUM_SHARDS = 4
MAX_SIDE = 256


def demo_jpeg(name: str) -> bytes:
  import skimage.data  # only needed to regenerate the committed files
  array = getattr(skimage.data, name)()
  if isinstance(array, tuple):  # stereo pairs: the left view
    array = array[0]
  image = Image.fromarray(np.asarray(array)).convert('RGB')
  image.thumbnail((MAX_SIDE, MAX_SIDE), Image.BICUBIC)
  out = io.BytesIO()
  image.save(out, format='JPEG', quality=85)
  return out.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
  info = tarfile.TarInfo(name)
  info.size = len(data)
  info.mtime = 0  # deterministic archives
  tar.addfile(info, io.BytesIO(data))


def write_demo(out: pathlib.Path = DEMO_DIR) -> None:
  if out.exists():
    shutil.rmtree(out)
  (out / 'shards').mkdir(parents=True)
  (out / 'cc_sbu_align' / 'image').mkdir(parents=True)
  jpegs = {name: demo_jpeg(name) for name, _, _ in DEMO_IMAGES}
  for shard in range(NUM_SHARDS):
    with tarfile.open(out / 'shards' / f'{shard:05d}.tar', 'w', format=tarfile.USTAR_FORMAT) as tar:
      for i, (name, caption, _) in enumerate(DEMO_IMAGES):
        if i % NUM_SHARDS != shard:
          continue
        key = f'{i:09d}'
        _add(tar, f'{key}.jpg', jpegs[name])
        _add(tar, f'{key}.txt', caption.encode())
        _add(tar, f'{key}.json', json.dumps({'key': key, 'caption': caption}).encode())
  annotations = []
  for name, _, description in DEMO_IMAGES:
    (out / 'cc_sbu_align' / 'image' / f'{name}.jpg').write_bytes(jpegs[name])
    annotations.append({'image_id': name, 'caption': description})
  (out / 'cc_sbu_align' / 'filter_cap.json').write_text(
      json.dumps({'annotations': annotations}, indent=1) + '\n', encoding='utf-8')


if __name__ == '__main__':
  parse_no_arguments('python -m minigpt4_jax.tools.make_demo', __doc__)
  write_demo()
  print(f'wrote {DEMO_DIR}')
