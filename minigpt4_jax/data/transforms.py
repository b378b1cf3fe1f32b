"""Image and caption transforms as BLIP-2 / MiniGPT-4 apply them.

train: RandomResizedCrop(224, scale=(0.5, 1.0), bicubic) -> /255 -> CLIP mean/std
eval:  Resize((224, 224), bicubic)                   -> /255 -> CLIP mean/std
captions (stage 1): LAVIS ``BlipCaptionProcessor`` with max_words=50.
Crops are uint8 NHWC; ``normalize`` turns a batch into float32 (the trainer calls it
inside its jitted step, so the host never holds float32 pixels).
"""

from __future__ import annotations

import io
import logging
import math
import re

import grain
import numpy as np
from PIL import Image

CLIP_MEAN = np.array((0.48145466, 0.4578275, 0.40821073), np.float32)
CLIP_STD = np.array((0.26862954, 0.26130258, 0.27577711), np.float32)


def decode_rgb(data: bytes) -> Image.Image:
  """Decodes fully (truncated files raise) and converts any mode to RGB."""
  if not data:
    raise ValueError('empty image file')
  image = Image.open(io.BytesIO(data))
  image.load()
  if image.mode in ('I;16', 'I;16B', 'I', 'F'):  # 16-bit/float grayscale: rescale to 8 bits
    array = np.asarray(image, np.float64)
    span = max(float(array.max() - array.min()), 1e-12)
    image = Image.fromarray(((array - array.min()) / span * 255).astype(np.uint8))
  return image.convert('RGB')


def random_resized_crop_box(width: int, height: int, rng: np.random.Generator,
                            scale=(0.5, 1.0), ratio=(3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
  """torchvision ``RandomResizedCrop.get_params``: (left, top, crop w, crop h).

  Ten tries at a random area and log-uniform aspect; then a centre crop clamped to
  the ratio range, exactly as torchvision falls back.
  """
  area = width * height
  log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
  for _ in range(10):
    target_area = area * rng.uniform(scale[0], scale[1])
    aspect = math.exp(rng.uniform(*log_ratio))
    w = int(round(math.sqrt(target_area * aspect)))
    h = int(round(math.sqrt(target_area / aspect)))
    if 0 < w <= width and 0 < h <= height:
      top = int(rng.integers(0, height - h + 1))
      left = int(rng.integers(0, width - w + 1))
      return left, top, w, h
  in_ratio = width / height
  if in_ratio < min(ratio):
    w, h = width, int(round(width / min(ratio)))
  elif in_ratio > max(ratio):
    w, h = int(round(height * max(ratio))), height
  else:
    w, h = width, height
  return (width - w) // 2, (height - h) // 2, w, h


def normalize(pixels: np.ndarray) -> np.ndarray:
  """uint8 RGB [..., H, W, 3] -> CLIP-normalised float32 [..., H, W, 3]; numpy in,
  numpy out, and a jax.Array in (also traced) gives a jax.Array."""
  return (pixels.astype(np.float32) / 255.0 - CLIP_MEAN) / CLIP_STD


def train_image(image: Image.Image, rng: np.random.Generator, size: int = 224) -> np.ndarray:
  """uint8[size, size, 3] random resized crop (normalised later, per batch)."""
  left, top, w, h = random_resized_crop_box(image.width, image.height, rng)
  return np.asarray(image.resize((size, size), Image.BICUBIC, box=(left, top, left + w, top + h)))


# LLaVA pads with the CLIP mean as 0-255 integers: tuple(int(x * 255) for x in image_mean).
PAD_COLOUR = tuple(int(x * 255) for x in CLIP_MEAN)
# How an image becomes the tower's square input without augmentation:
#   resize:      bicubic resize, aspect not kept (BLIP-2 / MiniGPT-4 eval, MiniGPT-v2);
#   pad:         LLaVA-1.5's ``expand2square`` in the mean colour, then the resize;
#   center_crop: CLIP's own preprocessing (short side, centre crop; LLaVA's 'square').
IMAGE_TRANSFORMS = ('resize', 'pad', 'center_crop')


def pad_to_square(image: Image.Image, colour: tuple[int, int, int] = PAD_COLOUR) -> Image.Image:
  """LLaVA's ``expand2square``: centre the image on a square of ``colour``."""
  w, h = image.size
  if w == h:
    return image
  side = max(w, h)
  square = Image.new(image.mode, (side, side), colour)
  square.paste(image, ((side - w) // 2, (side - h) // 2))
  return square


def eval_image(image: Image.Image, size: int = 224, transform: str = 'resize') -> np.ndarray:
  """uint8[size, size, 3] by one of ``IMAGE_TRANSFORMS``."""
  if transform == 'resize':
    return np.asarray(image.resize((size, size), Image.BICUBIC))
  if transform == 'pad':
    return np.asarray(pad_to_square(image).resize((size, size), Image.BICUBIC))
  if transform != 'center_crop':
    raise ValueError(f'image transform {transform!r}; expected one of {IMAGE_TRANSFORMS}')
  w, h = image.size  # transformers' get_resize_output_image_size truncates the long side
  w, h = (size, int(h * size / w)) if w <= h else (int(w * size / h), size)
  resized = image.resize((w, h), Image.BICUBIC)
  left, top = (w - size) // 2, (h - size) // 2
  return np.asarray(resized.crop((left, top, left + size, top + size)))


def blip_caption(caption: str, max_words: int = 50) -> str:
  """LAVIS ``BlipCaptionProcessor.pre_caption``."""
  caption = re.sub(r'([.!"()*#:;~])', ' ', caption.lower())
  caption = re.sub(r'\s{2,}', ' ', caption)
  caption = caption.rstrip('\n').strip(' ')
  words = caption.split(' ')
  return ' '.join(words[:max_words]) if len(words) > max_words else caption


class _RateLimitedWarning:
  """Logs the first few bad samples per process, then every 1000th."""

  def __init__(self, first: int = 20, every: int = 1000):
    self.count, self.first, self.every = 0, first, every

  def __call__(self, where: str, error: str) -> None:
    self.count += 1
    if self.count <= self.first or self.count % self.every == 0:
      logging.warning('skipping bad sample %s (%s) [%d bad so far in this process]',
                      where, error, self.count)


_warn_bad = _RateLimitedWarning()


class DecodeSample(grain.transforms.RandomMap):
  """grain RandomMapTransform: raw record -> {image uint8[S, S, 3], text, ok}; never
  raises on data. Images stay uint8 so worker processes ship 4x fewer bytes."""

  def __init__(self, *, augment: bool, clean_captions: bool, max_words: int, image_size: int,
               transform: str = 'resize'):
    self.augment = augment
    self.transform = transform
    self.clean_captions = clean_captions
    self.max_words = max_words
    self.image_size = image_size

  def random_map(self, record: dict, rng: np.random.Generator) -> dict:
    error = record['error']
    image = np.zeros((self.image_size, self.image_size, 3), np.uint8)
    text = record['text']
    if not error:
      try:
        if not text.strip():
          raise ValueError('empty caption')
        rgb = decode_rgb(record['image_bytes'])
        image = (train_image(rgb, rng, self.image_size) if self.augment
                 else eval_image(rgb, self.image_size, self.transform))
        if self.clean_captions:
          text = blip_caption(text, self.max_words)
      except Exception as err:  # noqa: BLE001 - any decoder failure is a bad sample
        error = f'{type(err).__name__}: {err}'
    if error:
      _warn_bad(record['where'], error)
    return {'image': image, 'text': text if not error else '', 'ok': not error}
