"""The fixers: OpenAIFixer against the stub server (requests, retries, failures that
lose nothing) and GeneratorFixer with the tiny LLM."""

import pytest

from minigpt4_jax.curate.fixers import FIX_PROMPT, EndpointConfig, GeneratorFixer, OpenAIFixer
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.text.templates import VICUNA_V0
from tests.curate.stub_openai import StubOpenAI


def _fixer(url, **overrides) -> OpenAIFixer:
  config = dict(url=url, model='stub-model', timeout_s=0.3, retries=3, backoff_s=0.01, workers=2)
  return OpenAIFixer(EndpointConfig(**{**config, **overrides}))


def test_request_is_the_papers_fix_prompt(monkeypatch):
  monkeypatch.setenv('STUB_KEY', 'secret')
  with StubOpenAI(reply=lambda p: p.upper() + '  ') as stub:
    results = _fixer(stub.url, api_key_env='STUB_KEY')(['a dog.', 'a cat.'])
  assert [r.text for r in results] == ['A DOG.', 'A CAT.']
  assert not any(r.error for r in results)
  assert {b['model'] for b in stub.requests} == {'stub-model'}
  assert stub.authorizations == ['Bearer secret'] * 2
  assert sorted(b['messages'][0]['content'] for b in stub.requests) == [
      FIX_PROMPT + '\n\na cat.', FIX_PROMPT + '\n\na dog.']
  assert FIX_PROMPT.startswith('Fix the error in the given paragraph. Remove any repeating')


@pytest.mark.parametrize('failure', ['500', 'timeout', 'malformed'])
def test_each_failure_kind_is_retried(failure):
  with StubOpenAI(fail_first=2, failures=(failure,)) as stub:
    results = _fixer(stub.url)(['one.', 'two.', 'three.'])
  assert [r.text for r in results] == ['one.', 'two.', 'three.']
  assert all(n == 3 for n in stub.calls.values())


def test_backoff_doubles_and_gives_up_with_the_error():
  waits = []
  with StubOpenAI(fail_first=100) as stub:
    fixer = OpenAIFixer(EndpointConfig(url=stub.url, timeout_s=0.3, retries=3, backoff_s=0.5,
                                       max_backoff_s=1.5, workers=1), sleep=waits.append)
    [result] = fixer(['never fixed.'])
  assert waits == [0.5, 1.0, 1.5]
  assert stub.calls['never fixed.'] == 4
  assert not result.text and '4 attempts failed' in result.error and stub.url in result.error


def test_unreachable_endpoint_fails_every_item():
  with StubOpenAI() as stub:
    url = stub.url
  results = _fixer(url, retries=1)(['a.', 'b.'])
  assert all(r.error and not r.text for r in results)


def test_generator_fixer_prompt_and_batching(tiny):
  model, tokenizer = tiny
  config = GenerationConfig(max_new_tokens=6, do_sample=False)
  fixer = GeneratorFixer(model.llm, tokenizer, VICUNA_V0, config, batch_size=4)
  assert fixer.prompt('a cat.') == f'###Human: {FIX_PROMPT}\n\na cat.###Assistant: '
  paragraphs = ['a cat sitting on a red sofa.', 'a rocket on the launch pad.', 'a cup.']
  batched = fixer(paragraphs)
  assert len(batched) == 3 and all(bool(r.text) != bool(r.error) for r in batched)
  # Left padding and the filler rows change nothing: each alone gets the same answer.
  assert [fixer([p])[0] for p in paragraphs] == batched
