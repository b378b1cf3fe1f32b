"""MiniGPT-4's sequence layout and supervision mask, checked by hand on a tiny tokenizer."""

import dataclasses

import pytest

from minigpt4_jax.models import IMAGE_TOKEN_ID
from minigpt4_jax.prompting import tokenize_text
from minigpt4_jax.train.templates import ALIGNMENT_INSTRUCTIONS, VICUNA_TRAIN_TEMPLATE
from minigpt4_jax.train.text import BatchEncoder, TextLayout, pad_columns, padded_length

Q = 4


def test_stage1_is_bos_image_caption_newline(tokenizer):
  enc = BatchEncoder(tokenizer, TextLayout('', (), '\n', 32, Q))
  out = enc.encode(['a cat on a mat', 'a dog'])
  cat = tokenize_text(tokenizer, 'a cat on a mat\n')
  expected = [tokenizer.bos_token_id] + [IMAGE_TOKEN_ID] * Q + cat
  row = out['input_ids'][0]
  assert row[:len(expected)].tolist() == expected
  assert out['attention_mask'][0].tolist() == [1] * len(expected) + [0] * (enc.length - len(expected))
  # Only the caption (and its "\n") is supervised: not BOS, not the image.
  assert out['target_mask'][0].tolist() == ([0] * (1 + Q) + [1] * len(cat)
                                            + [0] * (enc.length - len(expected)))
  assert enc.length % 8 == 0 and enc.length >= 1 + Q + 32


def test_stage2_template_and_answer_truncation(tokenizer):
  layout = TextLayout(VICUNA_TRAIN_TEMPLATE, ALIGNMENT_INSTRUCTIONS, '###', 6, Q)
  enc = BatchEncoder(tokenizer, layout)
  out = enc.encode(['one two three four five six seven eight'], prompt_index=2)
  prompt_text = '###Human: <Img><ImageHere></Img> Please provide a detailed description of the picture. ###Assistant: '
  before, after = prompt_text.split('<ImageHere>')
  prompt = ([tokenizer.bos_token_id] + tokenize_text(tokenizer, before) + [IMAGE_TOKEN_ID] * Q
            + tokenize_text(tokenizer, after))
  answer = tokenize_text(tokenizer, 'one two three four five six seven eight###')[:6]
  n = len(prompt) + len(answer)
  assert out['input_ids'][0, :n].tolist() == prompt + answer
  assert out['target_mask'][0].tolist() == [0] * len(prompt) + [1] * 6 + [0] * (enc.length - n)
  # Every instruction fits the one fixed length.
  assert enc.length >= max(len(p) for p in enc.prompts) + 6


def test_instruction_without_placeholder_is_rejected(tokenizer):
  with pytest.raises(ValueError, match='lacks <ImageHere>'):
    BatchEncoder(tokenizer, TextLayout(VICUNA_TRAIN_TEMPLATE, ('Describe it.',), '###', 8, Q))


def test_padded_length():
  assert [padded_length(n, 200, 0) for n in (1, 150)] == [200, 200]
  assert [padded_length(n, 200, 64) for n in (1, 64, 65, 190, 195)] == [64, 64, 128, 192, 200]


def test_pad_multiple_only_trims_padding(tokenizer):
  layout = TextLayout('', (), '\n', 32, Q)
  captions = ['a cat on a mat', 'a dog']
  fixed = BatchEncoder(tokenizer, layout).encode(captions)
  bucketed = BatchEncoder(tokenizer, dataclasses.replace(layout, pad_multiple=8)).encode(captions)
  length = bucketed['input_ids'].shape[1]
  longest = int(fixed['attention_mask'].sum(1).max())
  assert length % 8 == 0 and longest <= length < longest + 8 and length < fixed['input_ids'].shape[1]
  for key in fixed:
    assert (bucketed[key] == fixed[key][:, :length]).all(), key
    assert not fixed[key][:, length:].any() or key == 'input_ids'
  widened = pad_columns(bucketed, fixed['input_ids'].shape[1], tokenizer.pad_token_id or 0)
  assert {k: v.shape for k, v in widened.items()} == {k: v.shape for k, v in fixed.items()}
  assert (widened['attention_mask'] == fixed['attention_mask']).all()
