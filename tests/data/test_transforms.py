import numpy as np
from PIL import Image

from minigpt4_jax.data.sources import expand_braces
from minigpt4_jax.data.transforms import (
    CLIP_MEAN, CLIP_STD, blip_caption, eval_image, normalize, random_resized_crop_box,
)


def test_blip_caption_matches_lavis():
  assert blip_caption('A Dog: "running"; (fast)!  Home~') == 'a dog running fast home'
  assert blip_caption('  Trailing.\n') == 'trailing'
  assert blip_caption(' '.join(['w'] * 60), max_words=50) == ' '.join(['w'] * 50)
  assert blip_caption("it's 3.5 m/s, isn't it?") == "it's 3 5 m/s, isn't it?"


def test_random_resized_crop_stays_inside_and_in_range():
  rng = np.random.default_rng(0)
  for _ in range(200):
    left, top, w, h = random_resized_crop_box(451, 300, rng)
    assert 0 <= left and left + w <= 451 and 0 <= top and top + h <= 300
    assert 0.5 * 451 * 300 * 0.97 <= w * h <= 451 * 300
    assert 3 / 4 * 0.95 <= w / h <= 4 / 3 * 1.05


def test_random_resized_crop_falls_back_to_clamped_centre_crop():
  # A 1000x10 strip can never fit a 3/4..4/3 crop of half its area: torchvision's
  # fallback takes the full height and the widest allowed ratio, centred.
  assert random_resized_crop_box(1000, 10, np.random.default_rng(0)) == (493, 0, 13, 10)


def test_eval_transform_is_plain_bicubic_resize_and_clip_normalisation():
  image = Image.fromarray(np.full((30, 50, 3), 255, np.uint8))
  out = normalize(eval_image(image))
  assert out.shape == (224, 224, 3) and out.dtype == np.float32
  np.testing.assert_allclose(out[0, 0], (1 - CLIP_MEAN) / CLIP_STD, rtol=1e-6)


def test_brace_expansion():
  assert expand_braces('s/{00008..00010}.tar') == ['s/00008.tar', 's/00009.tar', 's/00010.tar']
  assert expand_braces('{a,b}/{1..2}.tar') == ['a/1.tar', 'a/2.tar', 'b/1.tar', 'b/2.tar']
