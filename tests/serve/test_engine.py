"""The slot engine without HTTP: a request inserted while another is mid-answer changes
neither, and each equals ``Generator`` on the same prompt (greedy, token for token)."""

import jax.numpy as jnp
import numpy as np

from minigpt4_jax.generate.buckets import bucket_length, left_pad
from minigpt4_jax.generate.chat import encode_program, preprocess, splice_program
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.models import IMAGE_TOKEN_ID
from minigpt4_jax.serve.engine import Request


def generator_tokens(chat, ids, pixels, config) -> list[int]:
  """What ``Chat``'s generator answers to the same ids and image."""
  image = encode_program(chat.graphdef, chat.params, jnp.asarray(pixels)[None])
  ids_bt, mask_bt = left_pad([ids], bucket_length(len(ids), chat.buckets), 0)
  embeds = splice_program(chat.graphdef, chat.params, jnp.asarray(ids_bt), image)
  return chat.generator.generate(embeds, jnp.asarray(mask_bt), config).sequences()[0]


def test_insert_between_steps_changes_no_answer(endless):
  engine, q = endless.server.service.engine, endless.model.cfg.num_image_tokens
  rng = np.random.default_rng(0)
  pixels = preprocess(rng.integers(0, 256, size=(40, 50, 3), dtype=np.uint8), 224)
  long_ids = [1, *rng.integers(3, 300, size=5).tolist(), *[IMAGE_TOKEN_ID] * q, 7, 8]
  short_ids = [1, *[IMAGE_TOKEN_ID] * q, *rng.integers(3, 300, size=40).tolist()]
  long_config = GenerationConfig(max_new_tokens=60, do_sample=False)
  short_config = GenerationConfig(max_new_tokens=10, do_sample=False)
  first = engine.submit(Request(long_ids, pixels, long_config, seed=0))
  stream = first.tokens()
  long_tokens = next(stream)
  while len(long_tokens) < 5:
    long_tokens += next(stream)
  second = engine.submit(Request(short_ids, pixels, short_config, seed=0))
  long_tokens += [t for batch in stream for t in batch]
  short_tokens = [t for batch in second.tokens() for t in batch]
  chat = endless.chat(60)
  assert long_tokens == generator_tokens(chat, long_ids, pixels, long_config)
  assert short_tokens == generator_tokens(chat, short_ids, pixels, short_config)
  assert (first.finish_reason, second.finish_reason) == ('length', 'length')
  assert len(long_tokens) == 60 and len(short_tokens) == 10
