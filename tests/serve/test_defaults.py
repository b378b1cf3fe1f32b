"""Decoding settings of a request: OpenAI's fields as sent, the family's chat defaults
(``Family.chat_defaults``, what ``launch.chat`` uses) for what the request cannot say."""

import jax.numpy as jnp
import pytest

from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.loading import load
from minigpt4_jax.serve import api
from minigpt4_jax.serve.server import make_service
from tests.serve.conftest import TINY, TINY_LLAVA, image_message, png_bytes


def prepared_config(ckpt, **fields) -> GenerationConfig:
  loaded = load(ckpt, jnp.float32)
  service = make_service(loaded.model, loaded.tokenizer, loaded.template)
  body = {'messages': [image_message('Hi', png_bytes(32, 32))], 'max_tokens': 7, **fields}
  request, _ = service.prepare(api.parse_request(body))
  return request.config


def test_minigpt4_request_decodes_with_the_family_chat_defaults():
  config = prepared_config(TINY)
  # MiniGPT-4's chat at HEAD: repetition penalty 1.05 counting the BOS, EOS not banned.
  assert (config.repetition_penalty, config.starts_with_bos, config.min_new_tokens) == (1.05, True, 0)
  # OpenAI's defaults for what the request leaves out: sampling at temperature 1, top_p 1,
  # and no top-k (OpenAI has none).
  assert (config.do_sample, config.temperature, config.top_p, config.top_k) == (True, 1.0, 1.0, 0)
  assert config.max_new_tokens == 7


@pytest.mark.parametrize('fields, sampled', [({'temperature': 0}, False), ({'top_p': 0}, False),
                                              ({'temperature': 0.5, 'top_p': 0.8}, True)])
def test_openai_fields_override_the_defaults(fields, sampled):
  config = prepared_config(TINY, **fields)
  assert config.do_sample == sampled and config.repetition_penalty == 1.05
  if sampled:
    assert (config.temperature, config.top_p) == (0.5, 0.8)


def test_llava_request_decodes_with_llava_defaults():
  config = prepared_config(TINY_LLAVA)
  assert config == GenerationConfig(max_new_tokens=7, top_k=0, top_p=1.0)
