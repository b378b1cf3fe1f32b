"""Prompt presets render to the exact text of their sources."""

import pytest

from minigpt4_jax.text.prompts import render_preset as render


def test_presets():
  assert render('question', 'Is there a dog in the image?') == 'Is there a dog in the image?'
  assert render('blip2', 'What is it?') == 'Question: What is it? Short answer:'
  assert render('llava', 'What is it?') == (
      'What is it?\nAnswer the question using a single word or phrase.')
  assert render('llava_mc', 'Who waits?', ('cab', 'train')) == (
      "Who waits?\nA. cab\nB. train\nAnswer with the option's letter from the given choices "
      'directly.')
  assert render('describe_short') == (
      'Please describe the image shortly and precisely, in less than 20 words.')
  assert render('describe_long') == 'Please describe this image as detailed as possible.'


def test_unknown_preset():
  with pytest.raises(ValueError, match="unknown prompt preset 'blip3'"):
    render('blip3', 'q')
