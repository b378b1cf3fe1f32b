"""Describe: the paper's prompts, and "Continue" exactly for answers under 80 tokens."""

import pathlib

import numpy as np
import pytest

from minigpt4_jax.curate.describe import (CONTINUE_BELOW, DESCRIBE, Describer, describe_prompt,
                                          needs_continue, paper_template)
from minigpt4_jax.bundled import demo_paths
from minigpt4_jax.generate.chat import Chat
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.text.templates import LLAMA2, VICUNA_V0

IMAGES = sorted((pathlib.Path(demo_paths().align_dir) / 'image').glob('*.jpg'))


def test_continue_fires_exactly_under_80_tokens():
  assert CONTINUE_BELOW == 80
  assert [needs_continue(n) for n in (0, 79, 80, 81)] == [True, True, False, False]


def test_prompts_are_the_papers():
  assert describe_prompt(VICUNA_V0) == (
      '###Human: <Img><ImageHere></Img> Describe this image in detail. Give as many details as '
      'possible. Say everything you see. ###Assistant: ')
  assert describe_prompt(VICUNA_V0, 'A cat.') == (
      describe_prompt(VICUNA_V0) + 'A cat.###Human: Continue ###Assistant: ')
  assert describe_prompt(LLAMA2, 'A cat.') == (
      f'<s>[INST] <Img><ImageHere></Img> {DESCRIBE} [/INST] A cat.<s>[INST] Continue [/INST] ')


def _text_of(tokenizer, n: int) -> str:
  """A text of exactly ``n`` tokens."""
  for words in range(n + 1):
    text = ' '.join(['cat'] * words) + ' .' * (n - words)
    if len(tokenizer(text, add_special_tokens=False).input_ids) == n:
      return text
  raise AssertionError(f'no text of {n} tokens')


def test_continue_turn_runs_only_for_short_answers(tiny, monkeypatch):
  model, tokenizer = tiny
  describer = Describer(model, tokenizer, VICUNA_V0, GenerationConfig(max_new_tokens=4), 4)
  lengths = [79, 80, 81, 3]  # images 0..3: continue for 0 and 3 only
  firsts = [_text_of(tokenizer, n) for n in lengths]
  calls = []

  def fake_answer(image_embeds, prompts):
    calls.append((np.asarray(image_embeds), list(prompts)))
    if len(calls) == 1:
      return firsts
    return [f'more about image {i}' for i in (0, 3, 3, 3)]

  monkeypatch.setattr(describer, 'answer', fake_answer)
  out = describer(IMAGES[:4])
  assert [describer.count_tokens(d.raw) for d in out] == lengths
  assert [d.raw for d in out] == firsts
  assert [d.continued for d in out] == ['more about image 0', '', '', 'more about image 3']
  assert len(calls) == 2
  (first_embeds, first_prompts), (second_embeds, second_prompts) = calls
  assert first_prompts == [describe_prompt(VICUNA_V0)] * 4
  # The second turn: the short rows' own images and histories, padded to the batch.
  assert second_prompts == [describe_prompt(VICUNA_V0, firsts[i]) for i in (0, 3, 3, 3)]
  np.testing.assert_array_equal(second_embeds, first_embeds[[0, 3, 3, 3]])


def test_no_continue_turn_when_every_answer_is_long(tiny, monkeypatch):
  model, tokenizer = tiny
  describer = Describer(model, tokenizer, VICUNA_V0, GenerationConfig(max_new_tokens=4), 2)
  calls = []
  monkeypatch.setattr(describer, 'answer', lambda e, p: calls.append(p) or
                      [_text_of(tokenizer, 80)] * 2)
  assert [d.continued for d in describer(IMAGES[:2])] == ['', '']
  assert len(calls) == 1


@pytest.mark.parametrize('continue_below', [0, CONTINUE_BELOW])
def test_batched_two_turn_describe_equals_the_chat(tiny, continue_below):
  """The real model, greedy: batched and left-padded as Chat answers one image alone."""
  model, tokenizer = tiny
  config = GenerationConfig(max_new_tokens=8, do_sample=False)
  describer = Describer(model, tokenizer, VICUNA_V0, config, 4, continue_below=continue_below)
  out = describer(IMAGES[:3])
  chat = Chat(model, tokenizer, paper_template(VICUNA_V0), config)
  chat.upload_image(IMAGES[2])
  chat.ask(DESCRIBE + ' ')
  assert out[2].raw and out[2].raw == chat.answer()
  if continue_below:  # 8 new tokens are always under 80: every image continues
    chat.ask('Continue ')
    assert out[2].continued == chat.answer()
    assert all(d.continued for d in out)
  else:
    assert [d.continued for d in out] == ['', '', '']
