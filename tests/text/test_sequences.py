"""Training sequences and supervision masks, checked by hand on tiny tokenizers:
MiniGPT-4's stage 1 / stage 2 layouts, LLaVA's plain / v1, MiniGPT-v2's multi-turn."""

import dataclasses
import json

import numpy as np
import pytest

from minigpt4_jax.models import IMAGE_TOKEN_ID
from minigpt4_jax.text.prompts import ALIGNMENT_INSTRUCTIONS, VICUNA_V1_SYSTEM
from minigpt4_jax.text.sequences import (SequenceEncoder, SequenceLayout, batch_lengths,
                                         pad_columns, padded_length)
from minigpt4_jax.text.templates import MINIGPTV2, PLAIN, V1, VICUNA_V0
from minigpt4_jax.text.tokens import tokenize_text
from minigpt4_jax.tokenizer import load_tokenizer
from minigpt4_jax.bundled import TINY_TOKENIZER

Q = 4
TWO_TURNS = [
    {'from': 'human', 'value': 'What is it?\n<image>'},
    {'from': 'gpt', 'value': 'A cat.'},
    {'from': 'human', 'value': 'Why?'},
    {'from': 'gpt', 'value': 'Because.'},
]


@pytest.fixture(scope='module')
def bundled():
  return load_tokenizer(TINY_TOKENIZER)  # the bundled one: fixed tokens to count by hand


def _tokens(tokenizer, ids):
  return ['IMG' if i == IMAGE_TOKEN_ID else tokenizer.convert_ids_to_tokens(int(i)) for i in ids]


def _text(tokenizer, text):
  return tokenize_text(tokenizer, text, split_specials=True)


def minigpt4_layout(template, max_answer_tokens, instructions=ALIGNMENT_INSTRUCTIONS, **kw):
  return SequenceLayout(template, instructions, max_answer_tokens, 0, Q, **kw)


def llava_layout(template, max_length, num_image_tokens):
  return SequenceLayout(template, ALIGNMENT_INSTRUCTIONS, 0, max_length, num_image_tokens)


def test_stage1_is_bos_image_caption_newline(tokenizer):
  enc = SequenceEncoder(tokenizer, minigpt4_layout(PLAIN, 32))
  out = enc.encode(['a cat on a mat', 'a dog'])
  cat = _text(tokenizer, 'a cat on a mat\n')
  expected = [tokenizer.bos_token_id] + [IMAGE_TOKEN_ID] * Q + cat
  row = out['input_ids'][0]
  assert row[:len(expected)].tolist() == expected
  assert out['attention_mask'][0].tolist() == [1] * len(expected) + [0] * (enc.length - len(expected))
  # Only the caption (and its "\n") is supervised: not BOS, not the image.
  assert out['target_mask'][0].tolist() == ([0] * (1 + Q) + [1] * len(cat)
                                            + [0] * (enc.length - len(expected)))
  assert enc.length % 8 == 0 and enc.length >= 1 + Q + 32
  assert enc.num_instructions == 1 and enc.first_target == 1 + Q


def test_stage2_template_and_answer_truncation(tokenizer):
  enc = SequenceEncoder(tokenizer, minigpt4_layout(VICUNA_V0, 6))
  out = enc.encode(['one two three four five six seven eight'], instruction_index=2)
  prompt_text = '###Human: <Img><ImageHere></Img> Please provide a detailed description of the picture. ###Assistant: '
  before, after = prompt_text.split('<ImageHere>')
  prompt = ([tokenizer.bos_token_id] + _text(tokenizer, before) + [IMAGE_TOKEN_ID] * Q
            + _text(tokenizer, after))
  answer = _text(tokenizer, 'one two three four five six seven eight###')[:6]
  n = len(prompt) + len(answer)
  assert out['input_ids'][0, :n].tolist() == prompt + answer
  assert out['target_mask'][0].tolist() == [0] * len(prompt) + [1] * 6 + [0] * (enc.length - n)
  # Every instruction fits the one fixed length.
  assert enc.length >= max(len(p) for p in enc.prompts) + 6
  assert enc.num_instructions == 4 and enc.first_target == min(len(p) for p in enc.prompts)


def test_instruction_without_placeholder_is_rejected(tokenizer):
  with pytest.raises(ValueError, match='lacks <ImageHere>'):
    SequenceEncoder(tokenizer, minigpt4_layout(VICUNA_V0, 8, ('Describe it.',)))


def test_unbounded_length_is_rejected(tokenizer):
  with pytest.raises(ValueError, match='text.max_length = 0'):
    SequenceEncoder(tokenizer, minigpt4_layout(VICUNA_V0, 0))


def test_padded_length():
  assert [padded_length(n, 200, 0) for n in (1, 150)] == [200, 200]
  assert [padded_length(n, 200, 64) for n in (1, 64, 65, 190, 195)] == [64, 64, 128, 192, 200]
  assert batch_lengths(1, 200, 0) == (200,)
  assert batch_lengths(60, 200, 64) == (64, 128, 192, 200)
  # MiniGPT-4's stage 1 (configs/minigpt4_stage1.py): BOS and 32 image tokens, captions of
  # 1-32 tokens, rows padded to 72 and batches to a multiple of 8: five shapes at most.
  assert batch_lengths(34, 72, 8) == (40, 48, 56, 64, 72)


def test_pad_multiple_only_trims_padding(tokenizer):
  layout = minigpt4_layout(PLAIN, 32)
  captions = ['a cat on a mat', 'a dog']
  fixed = SequenceEncoder(tokenizer, layout).encode(captions)
  bucketing = SequenceEncoder(tokenizer, dataclasses.replace(layout, pad_multiple=8))
  bucketed = bucketing.encode(captions)
  length = bucketed['input_ids'].shape[1]
  assert length in bucketing.batch_lengths
  longest = int(fixed['attention_mask'].sum(1).max())
  assert length % 8 == 0 and longest <= length < longest + 8 and length < fixed['input_ids'].shape[1]
  for key in fixed:
    assert (bucketed[key] == fixed[key][:, :length]).all(), key
    assert not fixed[key][:, length:].any() or key == 'input_ids'
  widened = pad_columns(bucketed, fixed['input_ids'].shape[1], tokenizer.pad_token_id or 0)
  assert {k: v.shape for k, v in widened.items()} == {k: v.shape for k, v in fixed.items()}
  assert (widened['attention_mask'] == fixed['attention_mask']).all()


def test_v1_two_turns_supervise_only_answers(bundled):
  tokenizer = bundled
  enc = SequenceEncoder(tokenizer, llava_layout(V1, max_length=200, num_image_tokens=3))
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
  assert enc.first_target == 1


def test_plain_keeps_only_image_and_caption(bundled):
  tokenizer = bundled
  conv = [{'from': 'human', 'value': 'Give a brief description of the image.\n<image>'},
          {'from': 'gpt', 'value': 'a cat'}]
  enc = SequenceEncoder(tokenizer, llava_layout(PLAIN, max_length=16, num_image_tokens=4))
  batch = enc.encode([conv])
  caption = tokenizer('a cat\n', add_special_tokens=False).input_ids
  n = 1 + 4 + len(caption)
  assert list(batch['input_ids'][0, :n]) == [tokenizer.bos_token_id] + [IMAGE_TOKEN_ID] * 4 + caption
  np.testing.assert_array_equal(batch['target_mask'][0], [0] * 5 + [1] * len(caption) + [0] * (16 - n))
  assert enc.first_target == 5
  # MiniGPT-4's stage 1 on the caption string: the same ids.
  minigpt4 = SequenceEncoder(tokenizer, SequenceLayout(PLAIN, (), 32, 16, 4)).encode(['a cat'])
  for key in batch:
    np.testing.assert_array_equal(minigpt4[key], batch[key])


def test_conversation_errors_name_the_sample(bundled):
  enc = SequenceEncoder(bundled, llava_layout(V1, max_length=64, num_image_tokens=2))
  with pytest.raises(ValueError, match=r'batch row 0: turn 1 is from=\'human\''):
    enc.encode([[{'from': 'human', 'value': 'a'}, {'from': 'human', 'value': 'b'}]])
  plain = SequenceEncoder(bundled, llava_layout(PLAIN, 64, 2))
  with pytest.raises(ValueError, match='template plain needs one human turn'):
    plain.encode([TWO_TURNS])


def test_truncated_to_max_length(bundled):
  enc = SequenceEncoder(bundled, llava_layout(V1, max_length=20, num_image_tokens=3))
  batch = enc.encode([TWO_TURNS])
  assert batch['input_ids'].shape == (1, 24) and batch['attention_mask'].sum() == 20


def test_minigptv2_multi_turn_prefixes_later_turns_with_bos(tokenizer):
  """MiniGPT-v2 (minigpt_base.py, HEAD): every question inside '[INST] {}  [/INST]', the
  image in the first, '<s>' text before later turns, answers + '</s>' supervised."""
  enc = SequenceEncoder(tokenizer, SequenceLayout(MINIGPTV2, (), 0, 128, Q))
  batch = enc.encode([TWO_TURNS])
  n = int(batch['attention_mask'].sum())
  ids, mask = batch['input_ids'][0, :n].tolist(), batch['target_mask'][0, :n].tolist()
  first = ([tokenizer.bos_token_id] + _text(tokenizer, '[INST] <Img>') + [IMAGE_TOKEN_ID] * Q
           + _text(tokenizer, '</Img> What is it?  [/INST]'))
  a1 = _text(tokenizer, 'A cat.') + [tokenizer.eos_token_id]
  second = [tokenizer.bos_token_id] + _text(tokenizer, '[INST] Why?  [/INST]')
  a2 = _text(tokenizer, 'Because.') + [tokenizer.eos_token_id]
  assert ids == first + a1 + second + a2
  assert mask == [0] * len(first) + [1] * len(a1) + [0] * len(second) + [1] * len(a2)
