"""Describe: the stage-1 model writes a detailed description of each image (paper §3.2).

Every image gets the paper's prompt; an answer under ``CONTINUE_BELOW`` tokens (LLM
tokenizer, the cleaned answer) gets a second turn, ``Continue``, in the same
conversation, and the two answers are joined. Both turns run batched: the first over
the whole batch, the second over the short answers only, padded back to the batch
size so each turn reuses one compiled program per prompt bucket.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Sequence

import numpy as np

from minigpt4_jax.evaluate.answerer import Answerer
from minigpt4_jax.generate.answers import fill_batch
from minigpt4_jax.generate.buckets import DEFAULT_BUCKETS
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.models import VisionLanguageModel
from minigpt4_jax.text.templates import Conversation, Template
from minigpt4_jax.text.tokens import tokenize_text

DESCRIBE = ('Describe this image in detail. Give as many details as possible. '
            'Say everything you see.')
CONTINUE = 'Continue'
CONTINUE_BELOW = 80


def needs_continue(num_tokens: int, threshold: int = CONTINUE_BELOW) -> bool:
  """The paper asks for more when the answer is shorter than 80 tokens."""
  return num_tokens < threshold


def paper_template(template: Template) -> Template:
  """The paper's generation prompt has no system message."""
  return dataclasses.replace(template, system='')


def _question(template: Template, text: str) -> str:
  # The paper writes '... see. ###Assistant:': a space before the separator.
  return f'{text} ' if template.sep else text


def describe_prompt(template: Template, first_answer: str | None = None) -> str:
  """The describe prompt; with ``first_answer``, the two-turn prompt asking to continue.

  vicuna_v0: ``###Human: <Img><ImageHere></Img> Describe ... see. ###Assistant: ``
  then ``{first_answer}###Human: Continue ###Assistant: ``.
  """
  conversation = Conversation(paper_template(template))
  conversation.add_image()
  conversation.ask(_question(template, DESCRIBE))
  conversation.open_answer()
  if first_answer is not None:
    conversation.close_answer(first_answer)
    conversation.ask(_question(template, CONTINUE))
    conversation.open_answer()
  return conversation.prompt()


@dataclasses.dataclass(frozen=True)
class Description:
  raw: str        # the answer to the describe prompt
  continued: str  # the answer to "Continue"; '' when the first was long enough


class Describer:
  """Describes ``batch_size`` images per call.

  Args:
    model: the stage-1 MiniGPT-4; tokenizer: its LLM tokenizer (also counts tokens).
    template: conversation format (vicuna_v0 as in the paper, or llama2).
    config: generation settings of both turns.
    continue_below: token count under which "Continue" is asked.
    seed: sampling seed of the first call; each generation call uses the next one.
  """

  def __init__(self, model: VisionLanguageModel, tokenizer, template: Template, config: GenerationConfig,
               batch_size: int, *, continue_below: int = CONTINUE_BELOW, seed: int = 0,
               buckets: Sequence[int] = DEFAULT_BUCKETS):
    self.tokenizer, self.template, self.config = tokenizer, template, config
    self.batch_size, self.continue_below, self.seed = batch_size, continue_below, seed
    self.answerer = Answerer(model, tokenizer, template, config, batch_size, buckets)

  def count_tokens(self, text: str) -> int:
    return len(tokenize_text(self.tokenizer, text, split_specials=self.template.split_specials))

  def __call__(self, images: Sequence[pathlib.Path]) -> list[Description]:
    n = len(images)
    if not 0 < n <= self.batch_size:
      raise ValueError(f'need 1..{self.batch_size} images, got {n}')
    image_embeds = self.answerer.encode(images)
    raw = self.answer(image_embeds, [describe_prompt(self.template)] * self.batch_size)[:n]
    short = [i for i, text in enumerate(raw)
             if needs_continue(self.count_tokens(text), self.continue_below)]
    continued = [''] * n
    if short:
      rows = fill_batch(short, self.batch_size)
      answers = self.answer(image_embeds[np.asarray(rows)],
                            [describe_prompt(self.template, raw[i]) for i in rows])
      for i, text in zip(short, answers):
        continued[i] = text
    return [Description(r, c) for r, c in zip(raw, continued)]

  def answer(self, image_embeds_bqd, prompts: Sequence[str]) -> list[str]:
    """One generation call (each call samples with the next seed)."""
    self.seed += 1
    return self.answerer.answer_prompts(image_embeds_bqd, prompts, seed=self.seed - 1)
