"""``Answerer``: one question about each of a batch of images, answered in one
generation call, with MiniGPT-4's template and answer cleanup.

Each sample is a fresh one-turn conversation, rendered exactly as ``Chat`` renders
its first turn (system text, ``<Img><ImageHere></Img> question``, open answer). The
batch is always ``batch_size`` rows (a short last batch repeats its last sample) and
prompts are left-padded to a length bucket, so a run compiles a handful of programs.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minigpt4_jax.generate.answers import fill_batch, generate_answers
from minigpt4_jax.generate.buckets import DEFAULT_BUCKETS
from minigpt4_jax.generate.chat import (ImageLike, encode_program, preprocess,
                                         splice_program)
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.generate.generator import Generator
from minigpt4_jax.generate.stop_strings import StopTables
from minigpt4_jax.families import family_of
from minigpt4_jax.models import VisionLanguageModel
from minigpt4_jax.text.templates import Conversation, Template
from minigpt4_jax.text.tokens import tokenize_with_image


def conversation_prompt(template: Template, message: str) -> str:
  """The prompt text of a one-question conversation about one image."""
  conversation = Conversation(template)
  conversation.add_image()
  conversation.ask(message)
  conversation.open_answer()
  return conversation.prompt()


class Answerer:
  """Answers ``(image, human message)`` pairs, ``batch_size`` at a time.

  Args:
    model: MiniGPT-4; tokenizer: its LLM tokenizer; template: the conversation format.
    config: default generation settings (evaluation uses greedy or beam search); a
      call may pass others (the harnesses ask per request).
  """

  def __init__(self, model: VisionLanguageModel, tokenizer, template: Template, config: GenerationConfig,
               batch_size: int, buckets: Sequence[int] = DEFAULT_BUCKETS):
    self.tokenizer, self.template, self.config = tokenizer, template, config
    self.batch_size, self.buckets = batch_size, tuple(buckets)
    self.num_image_tokens = model.cfg.num_image_tokens
    self.image_size = model.cfg.vision.image_size
    self.image_transform = family_of(model.cfg).image_transform
    self.graphdef, self.params = nnx.split(model)
    stops = StopTables.build(tokenizer, template.stop_strings, model.cfg.llm.vocab_size)
    self.generator = Generator(model.llm, stops=stops, buckets=self.buckets)

  def __call__(self, images: Sequence[ImageLike], messages: Sequence[str],
               config: GenerationConfig | None = None) -> list[str]:
    n = len(images)
    if not 0 < n <= self.batch_size or len(messages) != n:
      raise ValueError(f'need 1..{self.batch_size} images and as many messages, got '
                       f'{n} and {len(messages)}')
    prompts = [conversation_prompt(self.template, m) for m in messages]
    return self.answer_prompts(self.encode(images), fill_batch(prompts, self.batch_size),
                               config)[:n]

  def encode(self, images: Sequence[ImageLike]) -> jax.Array:
    """Image embeddings float[batch_size, Q, D] (a short batch repeats its last image)."""
    pixels = [preprocess(p, self.image_size, self.image_transform)
              for p in fill_batch(list(images), self.batch_size)]
    return encode_program(self.graphdef, self.params, jnp.asarray(np.stack(pixels)))

  def answer_prompts(self, image_embeds_bqd: jax.Array, prompts: Sequence[str],
                     config: GenerationConfig | None = None, seed: int = 0) -> list[str]:
    """One generation call: row b answers the rendered conversation ``prompts[b]``
    (with its image placeholder) about image b."""
    ids = [tokenize_with_image(self.tokenizer, p, self.num_image_tokens,
                               split_specials=self.template.split_specials) for p in prompts]
    return generate_answers(
        self.generator, self.tokenizer, ids,
        lambda ids_bt: splice_program(self.graphdef, self.params, ids_bt, image_embeds_bqd),
        config or self.config, self.template.stop_strings, seed)
