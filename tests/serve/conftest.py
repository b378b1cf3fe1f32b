"""Servers started by the tests, in process, on 127.0.0.1 (a free port), over the
bundled tiny checkpoints, and the ``openai`` clients that talk to them."""

import base64
import dataclasses
import io
import pathlib

import jax.numpy as jnp
import numpy as np
import openai
import pytest
from PIL import Image

from minigpt4_jax.families import family_of
from minigpt4_jax.generate.chat import Chat
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.loading import load
from minigpt4_jax.serve.server import Server, ServeOptions, make_service
from minigpt4_jax.text.templates import get_template

ASSETS = pathlib.Path(__file__).resolve().parents[2] / 'minigpt4_jax' / 'assets'
TINY = ASSETS / 'tiny_checkpoint'
TINY_LLAVA = ASSETS / 'tiny_llava_checkpoint'
MAX_IMAGE_BYTES = 200_000


def png_bytes(height: int, width: int, seed: int = 0) -> bytes:
  pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
  out = io.BytesIO()
  Image.fromarray(pixels).save(out, format='PNG')
  return out.getvalue()


def data_url(data: bytes, mime: str = 'image/png') -> str:
  return f'data:{mime};base64,{base64.b64encode(data).decode()}'


def image_message(text: str, image: bytes) -> dict:
  return {'role': 'user', 'content': [{'type': 'text', 'text': text},
                                      {'type': 'image_url', 'image_url': {'url': data_url(image)}}]}


@dataclasses.dataclass
class Served:
  """A running server, the model it serves and an ``openai`` client for it."""

  server: Server
  model: object
  tokenizer: object
  client: openai.OpenAI

  def chat(self, max_new_tokens: int) -> Chat:
    """A greedy ``Chat`` over the same model with the server's decoding defaults: what
    a slot must reproduce."""
    config = GenerationConfig(**{**self.server.service.decoding_defaults,
                                 'max_new_tokens': max_new_tokens, 'do_sample': False})
    return Chat(self.model, self.tokenizer, self.server.service.template, config,
                max_length=self.server.service.engine.context)


def serve(ckpt: pathlib.Path, *, template=None, model_edit=None, slots=8,
          **options) -> Served:
  """A server with the family's decoding defaults, except that EOS cannot come first:
  under MiniGPT-4's (EOS allowed first) the random tiny model's first greedy token is
  EOS, and empty answers would make the comparisons below vacuous."""
  loaded = load(ckpt, jnp.float32)
  options.setdefault('decoding_defaults',
                     {**family_of(loaded.model.cfg).chat_defaults, 'min_new_tokens': 1})
  if model_edit is not None:
    model_edit(loaded.model)
  tokenizer = loaded.tokenizer
  template = template or loaded.template
  service = make_service(loaded.model, tokenizer, template, slots=slots,
                         options=ServeOptions(model_name='tiny', max_image_bytes=MAX_IMAGE_BYTES,
                                              **options))
  server = Server(service, '127.0.0.1', 0).start()
  client = openai.OpenAI(base_url=server.url + '/v1', api_key=options.get('api_key') or 'none',
                         max_retries=0, timeout=120)
  return Served(server, loaded.model, tokenizer, client)


@pytest.fixture(scope='session')
def served():
  s = serve(TINY)
  yield s
  s.server.close()


@pytest.fixture(scope='session')
def endless():
  """The tiny model with no stop strings and a zero EOS logit, below the largest of the
  other 999 random logits: greedy answers run to max_tokens."""
  def no_eos(model):
    kernel = model.llm.lm_head.kernel
    kernel[...] = kernel[...].at[:, model.cfg.llm.eos_token_id].set(0.0)

  loaded_template = dataclasses.replace(get_template('vicuna_v0'), stop_strings=())
  s = serve(TINY, template=loaded_template, model_edit=no_eos)
  yield s
  s.server.close()


@pytest.fixture(scope='session')
def image() -> bytes:
  return png_bytes(96, 128)
