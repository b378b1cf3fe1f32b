"""The server through the real ``openai`` client: answers equal ``Chat``'s, streaming
equals non-streaming, concurrent requests equal requests alone, cancelling frees the
slot, and bad input gets OpenAI-style errors while the server keeps serving."""

import concurrent.futures
import dataclasses
import http.client
import io
import json
import time
import urllib.parse

import openai
import pytest
from PIL import Image

from tests.serve.conftest import TINY_LLAVA, image_message, png_bytes, serve


def greedy(served, messages, **kwargs):
  return served.client.chat.completions.create(model='tiny', messages=messages, temperature=0,
                                               **kwargs)


def chat_answer(served, image: bytes, question: str, max_tokens: int) -> str:
  chat = served.chat(max_tokens)
  chat.upload_image(Image.open(io.BytesIO(image)))
  chat.ask(question)
  return chat.answer()


def test_text_and_image_answer_equals_chat(served, image):
  question = 'Describe this image in detail.'
  reply = greedy(served, [image_message(question, image)], max_tokens=24)
  content = reply.choices[0].message.content
  assert content and content == chat_answer(served, image, question, 24)
  assert reply.choices[0].message.role == 'assistant'
  assert reply.choices[0].finish_reason in ('stop', 'length')
  assert reply.usage.prompt_tokens > served.model.cfg.num_image_tokens
  assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_models_and_health(served):
  assert [m.id for m in served.client.models.list()] == ['tiny']
  connection = http.client.HTTPConnection(*urllib.parse.urlsplit(served.server.url).netloc.split(':'))
  connection.request('GET', '/health')
  assert json.loads(connection.getresponse().read()) == {'status': 'ok', 'slots': 8, 'busy': 0,
                                                        'waiting': 0}


def test_streaming_equals_non_streaming(served, image):
  messages = [image_message('What is in the picture?', image)]
  whole = greedy(served, messages, max_tokens=40)
  stream = greedy(served, messages, max_tokens=40, stream=True,
                  stream_options={'include_usage': True})
  chunks = list(stream)
  text = ''.join(c.choices[0].delta.content or '' for c in chunks if c.choices)
  assert text == whole.choices[0].message.content
  finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
  assert finish == [whole.choices[0].finish_reason]
  assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_multi_turn_renders_through_the_template(served, image):
  question, follow_up = 'What is this?', 'And the colours?'
  first = greedy(served, [image_message(question, image)], max_tokens=16)
  answer = first.choices[0].message.content
  second = greedy(served, [image_message(question, image),
                           {'role': 'assistant', 'content': answer},
                           {'role': 'user', 'content': follow_up}], max_tokens=16)
  chat = served.chat(16)
  chat.upload_image(Image.open(io.BytesIO(image)))
  chat.ask(question)
  assert chat.answer() == answer
  chat.ask(follow_up)
  assert second.choices[0].message.content == chat.answer()


def test_concurrent_greedy_requests_equal_each_alone(endless, image, monkeypatch):
  """8 requests of different prompt and answer lengths decode in the slots together;
  each gives exactly what it gives alone."""
  requests = [([image_message('word ' * (3 * i), image)], 8 + 9 * i) for i in range(8)]
  alone = [greedy(endless, m, max_tokens=n) for m, n in requests]
  engine = endless.server.service.engine
  busy = []
  step = engine._step
  monkeypatch.setattr(engine, '_step', lambda: busy.append(engine.busy_slots()) or step())
  with concurrent.futures.ThreadPoolExecutor(8) as pool:
    together = list(pool.map(lambda r: greedy(endless, r[0], max_tokens=r[1]), requests))
  assert max(busy) >= 4  # they really shared the step program
  for a, t, (_, n) in zip(alone, together, requests):
    assert t.choices[0].message.content == a.choices[0].message.content
    assert t.usage.completion_tokens == a.usage.completion_tokens == n
  assert len({a.choices[0].message.content for a in alone}) > 1


def test_cancelled_stream_frees_its_slot(endless, image, monkeypatch):
  engine = endless.server.service.engine
  submitted = []
  submit = engine.submit
  monkeypatch.setattr(engine, 'submit', lambda r: submitted.append(r) or submit(r))
  stream = greedy(endless, [image_message('Tell me everything.', image)], max_tokens=400,
                  stream=True)
  next(stream), next(stream)
  stream.close()
  request, = submitted
  deadline = time.monotonic() + 30
  while request.finish_reason is None and time.monotonic() < deadline:
    time.sleep(0.01)
  assert request.finish_reason == 'cancelled'
  assert request.generated < 400
  assert engine.busy_slots() == 0
  # The freed slot serves the next request.
  assert greedy(endless, [image_message('Again.', image)], max_tokens=5).usage.completion_tokens == 5


def raw_post(served, body: bytes, headers=None) -> tuple[int, dict]:
  host, port = urllib.parse.urlsplit(served.server.url).netloc.split(':')
  connection = http.client.HTTPConnection(host, int(port), timeout=60)
  connection.request('POST', '/v1/chat/completions', body,
                     {'Content-Type': 'application/json', **(headers or {})})
  response = connection.getresponse()
  return response.status, json.loads(response.read())


def test_malformed_json_is_400(served, image):
  status, body = raw_post(served, b'{"messages": [')
  assert status == 400 and 'not valid JSON' in body['error']['message']
  assert greedy(served, [image_message('Still there?', image)], max_tokens=3).choices


@pytest.mark.parametrize('extra, needle', [
    ({'frobnicate': 1}, 'Unrecognized request argument supplied: frobnicate'),
    ({'n': 2}, 'n=2 is not supported'),
    ({'tools': [{'type': 'function', 'function': {'name': 'f'}}]}, 'tools is not supported'),
])
def test_unknown_and_unsupported_fields_are_400(served, image, extra, needle):
  with pytest.raises(openai.BadRequestError, match=needle):
    greedy(served, [image_message('Hi', image)], max_tokens=3, extra_body=extra)


def test_non_image_is_400(served):
  message = image_message('What is it?', b'this is not an image at all')
  with pytest.raises(openai.BadRequestError, match='not a decodable image'):
    greedy(served, [message], max_tokens=3)


def test_oversized_image_is_413(served):
  big = png_bytes(300, 300)
  assert len(big) > 200_000
  with pytest.raises(openai.APIStatusError, match='at most 200000') as err:
    greedy(served, [image_message('What is it?', big)], max_tokens=3)
  assert err.value.status_code == 413


def test_image_in_a_later_turn_is_400(served, image):
  messages = [{'role': 'user', 'content': 'Hello'}, {'role': 'assistant', 'content': 'Hi.'},
              image_message('And this?', image)]
  with pytest.raises(openai.BadRequestError, match='one image per conversation'):
    greedy(served, messages, max_tokens=3)


def test_prompt_over_the_context_is_400_naming_the_limit(served):
  long = 'word ' * 600
  with pytest.raises(openai.BadRequestError, match='maximum context length is 512 tokens'):
    greedy(served, [{'role': 'user', 'content': long}], max_tokens=3)


def test_too_many_tokens_requested_is_400(served, image):
  with pytest.raises(openai.BadRequestError, match=r'maximum context length is 512.*requested'):
    greedy(served, [image_message('Hi', image)], max_tokens=500)


def test_missing_or_wrong_key_is_401(image):
  keyed = serve(TINY_LLAVA.parent / 'tiny_checkpoint', api_key='sesame')
  try:
    assert greedy(keyed, [image_message('Hi', image)], max_tokens=2).choices
    wrong = openai.OpenAI(base_url=keyed.server.url + '/v1', api_key='open', max_retries=0)
    with pytest.raises(openai.AuthenticationError, match='Incorrect API key'):
      wrong.chat.completions.create(model='tiny', messages=[{'role': 'user', 'content': 'x'}])
    status, body = raw_post(keyed, b'{}')
    assert status == 401 and body['error']['code'] == 'invalid_api_key'
  finally:
    keyed.server.close()


def test_llava_checkpoint_through_the_same_server(image):
  llava = serve(TINY_LLAVA)
  try:
    question = 'What is shown?'
    reply = greedy(llava, [image_message(question, image)], max_tokens=12)
    assert reply.choices[0].message.content == chat_answer(llava, image, question, 12)
    assert llava.server.service.template.name == 'v1'
  finally:
    llava.server.close()


def test_file_urls_only_inside_the_allowed_folder(served, image, tmp_path, monkeypatch):
  def ask(url):
    return greedy(served, [{'role': 'user', 'content': [
        {'type': 'text', 'text': 'What is it?'},
        {'type': 'image_url', 'image_url': {'url': url}}]}], max_tokens=6)

  inside = tmp_path / 'allowed' / 'photo.png'
  inside.parent.mkdir()
  inside.write_bytes(image)
  (tmp_path / 'secret.png').write_bytes(image)
  with pytest.raises(openai.BadRequestError, match='file:// URLs are off'):
    ask(inside.as_uri())
  service = served.server.service
  monkeypatch.setattr(service, 'options',
                      dataclasses.replace(service.options, allowed_image_dir=inside.parent))
  assert ask(inside.as_uri()).choices[0].message.content == \
      greedy(served, [image_message('What is it?', image)], max_tokens=6).choices[0].message.content
  for outside in (tmp_path / 'secret.png', inside.parent / '..' / 'secret.png'):
    with pytest.raises(openai.BadRequestError, match='not a file inside the allowed image folder'):
      ask(f'file://{outside}')
  with pytest.raises(openai.BadRequestError, match='does not fetch from the network'):
    ask('https://example.com/cat.png')
