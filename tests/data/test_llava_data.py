"""LLaVA data: conversation JSON, pad-to-square, and the plain / v1 target masks."""

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
from minigpt4_jax.tokenizer import load_tokenizer
from minigpt4_jax.prompting import VICUNA_V1_SYSTEM
from minigpt4_jax.train.llava_text import ConversationEncoder, ConversationLayout
from minigpt4_jax.bundled import TINY_TOKENIZER

TWO_TURNS = [
    {'from': 'human', 'value': 'What is it?\n<image>'},
    {'from': 'gpt', 'value': 'A cat.'},
    {'from': 'human', 'value': 'Why?'},
    {'from': 'gpt', 'value': 'Because.'},
]


@pytest.fixture(scope='module')
def tokenizer():
  return load_tokenizer(TINY_TOKENIZER)  # the bundled one: fixed tokens to count by hand


def _tokens(tokenizer, ids):
  return ['IMG' if i == IMAGE_TOKEN_ID else tokenizer.convert_ids_to_tokens(int(i)) for i in ids]


def test_v1_two_turns_supervise_only_answers(tokenizer):
  enc = ConversationEncoder(tokenizer, ConversationLayout('v1', max_len=200, num_image_tokens=3))
  batch = enc.encode([json.dumps(TWO_TURNS)])
  n = int(batch['attention_mask'].sum())
  ids, mask = batch['input_ids'][0, :n], batch['target_mask'][0, :n]
  # The text LLaVA's conv_vicuna_v1 renders: <image> moved first, '\n' after it.
  prefix = tokenizer(VICUNA_V1_SYSTEM + ' USER: ', add_special_tokens=False).input_ids
  assert list(ids[:1 + len(prefix) + 3]) == [tokenizer.bos_token_id] + prefix + [IMAGE_TOKEN_ID] * 3
  # Hand-computed from the bundled tokenizer's pieces of
  # "\nWhat is it? ASSISTANT: A cat.</s>USER: Why? ASSISTANT: Because.</s>":
  tail = _tokens(tokenizer, ids[-28:])
  assert tail == ['▁A', '▁cat', '.', '</s>',
                  '<0x55>', 'S', '<0x45>', 'R', ':', '▁W', 'h', 'y', '?',
                  '▁A', 'S', 'S', 'I', 'ST', 'A', 'N', 'T', ':',
                  '▁Be', 'c', 'au', 'se', '.', '</s>']
  expected = np.zeros(n, np.float32)
  expected[n - 28:n - 24] = 1  # " A cat.</s>"
  expected[n - 6:] = 1         # " Because.</s>"
  np.testing.assert_array_equal(mask, expected)
  assert ids[n - 25] == ids[n - 1] == tokenizer.eos_token_id  # </s> is the real EOS id
  assert batch['input_ids'].shape[1] == 200 and not batch['attention_mask'][0, n:].any()


def test_plain_keeps_only_image_and_caption(tokenizer):
  conv = [{'from': 'human', 'value': 'Give a brief description of the image.\n<image>'},
          {'from': 'gpt', 'value': 'a cat'}]
  enc = ConversationEncoder(tokenizer, ConversationLayout('plain', max_len=16, num_image_tokens=4))
  batch = enc.encode([conv])
  caption = tokenizer('a cat\n', add_special_tokens=False).input_ids
  n = 1 + 4 + len(caption)
  assert list(batch['input_ids'][0, :n]) == [tokenizer.bos_token_id] + [IMAGE_TOKEN_ID] * 4 + caption
  np.testing.assert_array_equal(batch['target_mask'][0], [0] * 5 + [1] * len(caption) + [0] * (16 - n))


def test_conversation_errors_name_the_sample(tokenizer):
  enc = ConversationEncoder(tokenizer, ConversationLayout('v1', max_len=64, num_image_tokens=2))
  with pytest.raises(ValueError, match=r'batch row 0: turn 1 is from=\'human\''):
    enc.encode([[{'from': 'human', 'value': 'a'}, {'from': 'human', 'value': 'b'}]])
  plain = ConversationEncoder(tokenizer, ConversationLayout('plain', 64, 2))
  with pytest.raises(ValueError, match='template plain needs one human turn'):
    plain.encode([TWO_TURNS])


def test_truncated_to_max_len(tokenizer):
  enc = ConversationEncoder(tokenizer, ConversationLayout('v1', max_len=20, num_image_tokens=3))
  batch = enc.encode([TWO_TURNS])
  assert batch['input_ids'].shape == (1, 24) and batch['attention_mask'].sum() == 20


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
  assert batch['image'].shape == (4, 56, 56, 3) and batch['image'].dtype == np.float32
  enc = ConversationEncoder(tokenizer, ConversationLayout('v1', max_len=160, num_image_tokens=16))
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
