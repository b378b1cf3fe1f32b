"""The chat session (its templates: tests/text)."""

import pathlib
import warnings

import numpy as np
import pytest

from minigpt4_jax.generate import chat as chat_module
from minigpt4_jax.generate.chat import Chat, ContextOverflowError
from minigpt4_jax.generate.compile_log import compile_log
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.models import IMAGE_TOKEN_ID
from minigpt4_jax.text.tokens import tokenize_with_image
from tests.generate.conftest import MAX_NEW


@pytest.fixture
def image() -> np.ndarray:
  return np.random.default_rng(0).integers(0, 256, size=(96, 128, 3), dtype=np.uint8)


def new_chat(model, tokenizer, **kwargs) -> Chat:
  config = GenerationConfig(max_new_tokens=MAX_NEW, do_sample=False)
  return Chat(model, tokenizer, 'vicuna_v0', config, **kwargs)


def test_two_turn_session_encodes_the_image_once_and_keeps_the_history(
    model, tokenizer, image, monkeypatch):
  encodes = []
  encode = chat_module.encode_program
  monkeypatch.setattr(chat_module, 'encode_program',
                      lambda *a: encodes.append(1) or encode(*a))
  chat = new_chat(model, tokenizer)
  chat.upload_image(image)
  chat.ask('Describe this image.')
  first = chat.answer()
  chat.ask('More?')
  with compile_log() as compiled:
    second = chat.answer(temperature=0.5, do_sample=True)
  assert len(encodes) == 1
  assert chat.conversation.messages == [
      ('Human: ', '<Img><ImageHere></Img> Describe this image.'), ('Assistant: ', first),
      ('Human: ', 'More?'), ('Assistant: ', second)]
  # The history stays in its length bucket: new settings, no new programs.
  assert not {'start_program', 'decode_program', 'splice_program'} & set(compiled), compiled


def test_streamed_answer_is_the_answer(model, tokenizer, image):
  config = dict(temperature=1.2, do_sample=True)
  chats = [new_chat(model, tokenizer, seed=3) for _ in range(2)]
  for chat in chats:
    chat.upload_image(image)
    chat.ask('Describe this image.')
  pieces = list(chats[0].stream_answer(chunk=1, **config))
  assert ''.join(pieces) == chats[0].conversation.messages[-1][1] == chats[1].answer(**config)
  assert len(pieces) > 1


def test_llama2_prompt_tokenizes_its_literal_bos(model, tokenizer, image):
  chat = Chat(model, tokenizer, 'llama2', GenerationConfig(max_new_tokens=MAX_NEW))
  chat.upload_image(image)
  chat.ask('Describe this image.')
  assert isinstance(chat.answer(), str)
  ids = tokenize_with_image(tokenizer, chat.conversation.prompt(), model.cfg.num_image_tokens,
                            split_specials=True)
  assert ids.count(tokenizer.bos_token_id) == 2  # ours, then the template's '<s>' text


def test_history_truncation_warns_then_refuses_to_drop_the_image(model, tokenizer, image):
  chat = new_chat(model, tokenizer)
  chat.upload_image(image)
  chat.ask('Describe this image.')
  ids = tokenize_with_image(tokenizer, chat.conversation.prompt() + 'Assistant: ',
                            model.cfg.num_image_tokens, split_specials=True)
  room_for_image = len(ids) - ids.index(IMAGE_TOKEN_ID)
  chat.max_length = room_for_image + 2 + MAX_NEW  # the system message must lose tokens
  with pytest.warns(UserWarning, match='keeping the last'):
    chat.answer()
  chat.ask('And now?')
  with pytest.raises(ContextOverflowError, match='drop the image'):
    chat.answer()
  assert chat.conversation.messages[-1] == ('Human: ', 'And now?')  # no half-open turn
  chat.max_length = 2000
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    assert isinstance(chat.answer(), str)


def test_chat_images_are_preprocessed_as_in_training():
  """The chat's image equals what the training pipeline feeds the ViT for the same file
  without augmentation: CLIP-normalised floats, not 0..255 pixels."""
  from minigpt4_jax.bundled import demo_paths
  from minigpt4_jax.data.transforms import DecodeSample, normalize
  path = sorted((pathlib.Path(demo_paths().align_dir) / 'image').glob('*.jpg'))[0]
  decode = DecodeSample(augment=False, clean_captions=False, max_words=50, image_size=224)
  sample = decode.random_map({'image_bytes': path.read_bytes(), 'text': 'x', 'where': str(path),
                              'error': ''}, None)
  pixels = chat_module.preprocess(path, 224)
  assert pixels.dtype == np.float32 and -2.0 < pixels.min() < 0.0 < pixels.max() < 2.2
  np.testing.assert_array_equal(pixels, normalize(sample['image']))
