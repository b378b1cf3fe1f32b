"""Fix: an LLM rewrites each description with the paper's post-processing prompt.

Two interchangeable fixers, each a callable ``paragraphs -> list[FixResult]`` with a
``batch_size`` (how many the pipeline hands it at once):

- ``GeneratorFixer``: the project's own LLaMA / Vicuna through ``Generator``, batched.
- ``OpenAIFixer``: any OpenAI-compatible ``/chat/completions`` endpoint (ChatGPT as in
  the paper, vLLM, llama.cpp server, ...). Timeouts, connection errors, 429 / 5xx and
  malformed replies are retried with exponential backoff; an item that still fails
  comes back as a ``FixResult`` with an ``error``, which the pipeline keeps and retries
  on its next run, so an outage loses nothing.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import http.client
import json
import os
import time
import urllib.error
import urllib.request
from typing import Callable, Protocol, Sequence

import jax
from flax import nnx

from minigpt4_jax.generate.answers import fill_batch, generate_answers
from minigpt4_jax.generate.buckets import DEFAULT_BUCKETS
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.generate.generator import Generator
from minigpt4_jax.generate.stop_strings import StopTables
from minigpt4_jax.models.llama import Llama
from minigpt4_jax.text.templates import Conversation, Template
from minigpt4_jax.text.tokens import tokenize_text

FIX_PROMPT = (
    'Fix the error in the given paragraph. Remove any repeating sentences, meaningless '
    'characters, not English sentences, and so on. Remove unnecessary repetition. Rewrite any '
    'incomplete sentences. Return directly the results without explanation. Return directly '
    'the input paragraph if it is already correct without explanation.')


def fix_request(paragraph: str) -> str:
  """The user message: the paper's instruction, then the paragraph."""
  return f'{FIX_PROMPT}\n\n{paragraph}'


@dataclasses.dataclass(frozen=True)
class FixResult:
  text: str = ''
  error: str = ''  # non-empty: the fix failed (the item is retried by the next run)


class Fixer(Protocol):
  batch_size: int

  def __call__(self, paragraphs: Sequence[str]) -> list[FixResult]: ...


@functools.partial(jax.jit, static_argnames=('graphdef',))
def embed_program(graphdef, params, ids_bt):
  return nnx.merge(graphdef, params).embed(ids_bt)


class GeneratorFixer:
  """Fixes ``batch_size`` paragraphs per generation call with a LLaMA-family LLM.

  The request is one human turn of ``template`` without a system message; the answer
  gets MiniGPT-4's cleanup. An empty answer counts as a failure.
  """

  def __init__(self, llm: Llama, tokenizer, template: Template, config: GenerationConfig,
               batch_size: int, buckets: Sequence[int] = DEFAULT_BUCKETS):
    self.tokenizer, self.config, self.batch_size = tokenizer, config, batch_size
    self.template = dataclasses.replace(template, system='')
    stops = StopTables.build(tokenizer, template.stop_strings, llm.cfg.vocab_size)
    self.generator = Generator(llm, stops=stops, buckets=buckets)

  def prompt(self, paragraph: str) -> str:
    conversation = Conversation(self.template)
    conversation.ask(fix_request(paragraph))
    conversation.open_answer()
    return conversation.prompt()

  def __call__(self, paragraphs: Sequence[str]) -> list[FixResult]:
    n = len(paragraphs)
    if not 0 < n <= self.batch_size:
      raise ValueError(f'need 1..{self.batch_size} paragraphs, got {n}')
    # A text-only prompt: any '<ImageHere>' in a description stays text.
    split = self.template.split_specials
    ids = [[self.tokenizer.bos_token_id] + tokenize_text(self.tokenizer, self.prompt(p),
                                                         split_specials=split)
           for p in fill_batch(paragraphs, self.batch_size)]
    texts = generate_answers(
        self.generator, self.tokenizer, ids,
        lambda ids_bt: embed_program(self.generator.graphdef, self.generator.params, ids_bt),
        self.config, self.template.stop_strings)[:n]
    return [FixResult(text=t) if t else FixResult(error='the LLM answered nothing')
            for t in texts]


@dataclasses.dataclass(frozen=True)
class EndpointConfig:
  """An OpenAI-compatible chat-completions endpoint.

  Attributes:
    url: base URL; requests go to ``{url}/chat/completions`` (e.g. https://api.openai.com/v1).
    model: the ``model`` field of the request (the paper used ChatGPT).
    api_key_env: environment variable holding the key (sent as a Bearer token if set).
    timeout_s: per request. retries: further attempts after the first failure.
    backoff_s: wait before the first retry, doubling each time up to max_backoff_s.
    workers: requests in flight at once.
  """

  url: str
  model: str = 'gpt-3.5-turbo'
  api_key_env: str = 'OPENAI_API_KEY'
  timeout_s: float = 60.0
  retries: int = 4
  backoff_s: float = 1.0
  max_backoff_s: float = 30.0
  workers: int = 4
  temperature: float = 0.0


class _Retryable(Exception):
  pass


class OpenAIFixer:
  """Fixes paragraphs through ``config.url``, ``config.workers`` requests at a time."""

  def __init__(self, config: EndpointConfig, sleep: Callable[[float], None] = time.sleep):
    self.config, self.sleep = config, sleep
    self.batch_size = 4 * config.workers
    self.endpoint = config.url.rstrip('/') + '/chat/completions'

  def __call__(self, paragraphs: Sequence[str]) -> list[FixResult]:
    with concurrent.futures.ThreadPoolExecutor(self.config.workers) as pool:
      return list(pool.map(self.fix_one, paragraphs))

  def fix_one(self, paragraph: str) -> FixResult:
    c = self.config
    for attempt in range(c.retries + 1):
      if attempt:
        self.sleep(min(c.backoff_s * 2 ** (attempt - 1), c.max_backoff_s))
      try:
        return FixResult(text=self._post(paragraph))
      except _Retryable as err:
        last = str(err)
      except ValueError as err:  # the endpoint refused the request: retrying cannot help
        return FixResult(error=f'{self.endpoint}: {err}')
    return FixResult(error=f'{self.endpoint}: {c.retries + 1} attempts failed, last: {last}')

  def _post(self, paragraph: str) -> str:
    c = self.config
    body = json.dumps({'model': c.model, 'temperature': c.temperature,
                       'messages': [{'role': 'user', 'content': fix_request(paragraph)}]})
    headers = {'Content-Type': 'application/json'}
    if os.environ.get(c.api_key_env):
      headers['Authorization'] = f'Bearer {os.environ[c.api_key_env]}'
    request = urllib.request.Request(self.endpoint, body.encode(), headers, method='POST')
    try:
      with urllib.request.urlopen(request, timeout=c.timeout_s) as response:
        reply = response.read()
    except urllib.error.HTTPError as err:
      detail = f'HTTP {err.code}: {err.read()[:200]!r}'
      if err.code in (408, 429) or err.code >= 500:
        raise _Retryable(detail) from None
      raise ValueError(detail) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:  # timeouts too
      raise _Retryable(f'{type(err).__name__}: {err}') from None
    try:
      content = json.loads(reply)['choices'][0]['message']['content']
      if not isinstance(content, str) or not content.strip():
        raise TypeError('empty content')
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, IndexError, TypeError) as err:
      raise _Retryable(f'malformed reply ({type(err).__name__}): {reply[:200]!r}') from None
    return content.strip()
