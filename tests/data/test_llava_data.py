"""LLaVA data: conversation JSON and pad-to-square (its target masks: tests/text)."""

import json

import numpy as np
import pytest
from PIL import Image

from minigpt4_jax.data.config import default_config
from minigpt4_jax.data.llava import LLaVAJsonSource
from minigpt4_jax.data.transforms import PAD_COLOUR, eval_image, pad_to_square
from minigpt4_jax.bundled import demo_paths
from minigpt4_jax.data.pipeline import make_train_iterator
from minigpt4_jax.models import IMAGE_TOKEN_ID
from minigpt4_jax.text.prompts import ALIGNMENT_INSTRUCTIONS
from minigpt4_jax.text.sequences import SequenceEncoder, SequenceLayout
from minigpt4_jax.text.templates import V1
from minigpt4_jax.tokenizer import load_tokenizer
from minigpt4_jax.bundled import TINY_TOKENIZER


@pytest.fixture(scope='module')
def tokenizer():
  return load_tokenizer(TINY_TOKENIZER)  # the bundled one: fixed tokens to count by hand


def test_pad_to_square_uses_clip_mean_colour():
  wide = Image.fromarray(np.full((2, 6, 3), 255, np.uint8))
  square = np.asarray(pad_to_square(wide))
  assert square.shape == (6, 6, 3)
  np.testing.assert_array_equal(square[:2], np.broadcast_to(PAD_COLOUR, (2, 6, 3)))
  np.testing.assert_array_equal(square[2:4], 255)
  np.testing.assert_array_equal(square[4:], np.broadcast_to(PAD_COLOUR, (2, 6, 3)))
  assert PAD_COLOUR == (122, 116, 104)  # LLaVA's tuple(int(x * 255) for x in image_mean)
  assert eval_image(wide, 336, 'pad').shape == (336, 336, 3)


def test_pipeline_reads_llava_json(tmp_path, tokenizer):
  demo = demo_paths()
  items = json.loads(open(demo.llava_instruct_json).read())[:3]
  items.append({'id': 'text_only', 'conversations': [  # no image: no image tokens
      {'from': 'human', 'value': 'Hello'}, {'from': 'gpt', 'value': 'Hi.'}]})
  path = tmp_path / 'data.json'
  path.write_text(json.dumps(items))
  assert len(LLaVAJsonSource(path, demo.image_dir)) == 4
  cfg = default_config()
  cfg.kind, cfg.llava_json, cfg.llava_image_dir = 'llava', str(path), demo.image_dir
  cfg.num_workers, cfg.shuffle, cfg.image_size, cfg.image_transform = 0, False, 56, 'pad'
  data = make_train_iterator(cfg, global_batch_size=4, seed=0, process_index=0, process_count=1)
  batch = next(data)
  data.close()
  assert batch['image'].shape == (4, 56, 56, 3) and batch['image'].dtype == np.uint8
  enc = SequenceEncoder(tokenizer, SequenceLayout(V1, ALIGNMENT_INSTRUCTIONS, 0, 160, 16))
  tokens = enc.encode(list(batch['text']))
  assert [int((row == IMAGE_TOKEN_ID).sum()) for row in tokens['input_ids']] == [16, 16, 16, 0]
  assert (tokens['target_mask'].sum(axis=1) > 0).all()


def test_missing_fields_are_named(tmp_path):
  path = tmp_path / 'bad.json'
  path.write_text(json.dumps([{'id': 'x', 'image': 'a.jpg'}]))
  with pytest.raises(ValueError, match=r'bad\.json: sample 0 has no "conversations" list'):
    LLaVAJsonSource(path, tmp_path)


def test_square_aspect_is_clip_resize_and_centre_crop():
  from transformers import CLIPImageProcessor
  rng = np.random.default_rng(0)
  image = Image.fromarray(rng.integers(0, 256, size=(40, 70, 3), dtype=np.uint8))
  ours = eval_image(image, 28, 'center_crop')
  clip = CLIPImageProcessor(size={'shortest_edge': 28}, crop_size={'height': 28, 'width': 28},
                            do_normalize=False, do_rescale=False)
  ref = np.asarray(clip(image, return_tensors='np').pixel_values[0]).transpose(1, 2, 0)
  assert ours.shape == ref.shape == (28, 28, 3)
  assert np.abs(ours.astype(np.float64) - ref).max() <= 1  # rounding of the resample
