"""The model behind the evaluation harnesses (lmms-eval, VLMEvalKit): batched answers
with per-request generation settings, and the log-likelihood of a continuation.

Both harnesses hand over one image and a text per request; MiniGPT-4 sees one image
per conversation, rendered by its template exactly as ``Chat``'s first turn.
"""

from __future__ import annotations

import functools
import pathlib
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minigpt4_jax.evaluate.answerer import Answerer, conversation_prompt
from minigpt4_jax.generate.buckets import DEFAULT_BUCKETS, bucket_length
from minigpt4_jax.generate.chat import ImageLike, preprocess
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.loading import load
from minigpt4_jax.models import VisionLanguageModel
from minigpt4_jax.text.templates import Template, get_template
from minigpt4_jax.text.tokens import tokenize_text, tokenize_with_image


@functools.partial(jax.jit, static_argnames=('graphdef',))
def next_token_logprobs(graphdef, params, ids_bt, pixels_bhwc, mask_bt):
  """(log p(token t | tokens < t), whether token t was the argmax) for t = 1..T-1."""
  logits = nnx.merge(graphdef, params)(ids_bt, pixels_bhwc, mask_bt)[:, :-1]
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  targets = jnp.maximum(ids_bt[:, 1:], 0)  # image placeholders are never scored
  token_logp = jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
  return token_logp, jnp.argmax(logits, axis=-1) == targets


def cut_at_stops(text: str, stops: Sequence[str]) -> str:
  """``text`` up to the first occurrence of any stop string (the harness's ``until``)."""
  ends = [i for i in (text.find(s) for s in stops if s) if i >= 0]
  return text[:min(ends)] if ends else text


class HarnessModel:
  """Answers and scores (image, text) requests with one checkpoint (any family).

  Args:
    model, tokenizer: the checkpoint's model and LLM tokenizer.
    template: a conversation template, or its name (``text.templates.TEMPLATES``).
    batch_size: rows per generation call (the last call of a request list is padded).
  """

  def __init__(self, model: VisionLanguageModel, tokenizer, template: str | Template,
               batch_size: int = 1,
               buckets: Sequence[int] = DEFAULT_BUCKETS):
    self.batch_size = batch_size
    # Holds the split model, tokenizer and template that log-likelihoods use too.
    template = get_template(template) if isinstance(template, str) else template
    self.answerer = Answerer(model, tokenizer, template,
                             GenerationConfig(do_sample=False), batch_size, buckets)

  @classmethod
  def load(cls, ckpt: str | pathlib.Path, template: str | None = None, batch_size: int = 1,
           dtype=None) -> 'HarnessModel':
    """From a converted checkpoint or a training workdir."""
    loaded = load(ckpt, dtype)
    return cls(loaded.model, loaded.tokenizer, template or loaded.template, batch_size)

  def generate(self, images: Sequence[ImageLike], messages: Sequence[str], *,
               max_new_tokens: int = 128, num_beams: int = 1, temperature: float = 0.0,
               top_p: float = 1.0, until: Sequence[str] = ()) -> list[str]:
    """One answer per (image, message); temperature 0 means greedy, as in both harnesses."""
    sample = temperature > 0
    config = GenerationConfig(max_new_tokens=max_new_tokens, num_beams=num_beams,
                              do_sample=sample, temperature=temperature if sample else 1.0,
                              top_p=top_p)
    answers = []
    for start in range(0, len(images), self.batch_size):
      answers += self.answerer(images[start:start + self.batch_size],
                               messages[start:start + self.batch_size], config)
    return [cut_at_stops(a, until) for a in answers]

  def loglikelihood(self, image: ImageLike, message: str, continuation: str) -> tuple[float, bool]:
    """(log p(continuation | image, message as the human turn), whether greedy decoding
    would produce exactly the continuation's tokens)."""
    a = self.answerer
    prompt = tokenize_with_image(a.tokenizer, conversation_prompt(a.template, message),
                                 a.num_image_tokens, split_specials=a.template.split_specials)
    # The harness's continuation carries the space that separates it (' a cat'): the
    # tokenizer's own rule makes that one '▁a', where sentencepiece's would add '▁'.
    target = tokenize_text(a.tokenizer, continuation, split_specials=False)
    if not target:
      raise ValueError(f'continuation {continuation!r} has no tokens')
    ids = prompt + target
    length = bucket_length(len(ids), a.buckets)
    ids_bt = np.zeros((1, length), np.int32)  # right padding: masked, never scored
    ids_bt[0, :len(ids)] = ids
    mask_bt = np.arange(length)[None] < len(ids)
    pixels = preprocess(image, a.image_size, a.image_transform)[None]
    token_logp, greedy = next_token_logprobs(a.graphdef, a.params, jnp.asarray(ids_bt),
                                             jnp.asarray(pixels), jnp.asarray(mask_bt))
    scored = slice(len(prompt) - 1, len(ids) - 1)  # position t-1 predicts token t
    return float(jnp.sum(token_logp[0, scored])), bool(jnp.all(greedy[0, scored]))
