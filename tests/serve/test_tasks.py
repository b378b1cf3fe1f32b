"""MiniGPT-v2 task identifiers through the real server: the server's --task, a request's
own ``task`` (the openai client's ``extra_body``), and the ``boxes`` its replies carry."""

import dataclasses
import io
import subprocess
import sys

import jax.numpy as jnp
import openai
import pytest
from flax import nnx
from PIL import Image

from minigpt4_jax import checkpoint, families
from minigpt4_jax.loading import load
from minigpt4_jax.models import VisionLanguageModel
from minigpt4_jax.serve.boxes import boxes_field
from minigpt4_jax.serve.server import ServeOptions, make_service
from tests.serve.conftest import TINY, image_message, png_bytes, serve

MAX_NEW = 6
WIDTH, HEIGHT = 48, 32


@pytest.fixture(scope='module')
def v2_ckpt(tmp_path_factory, tokenizer, tokenizer_dir):
  """A random tiny MiniGPT-v2 (448 px, LoRA on q/v) whose vocabulary is the test
  tokenizer's, so every answer decodes to text."""
  cfg = families.preset('minigptv2_tiny')
  cfg = dataclasses.replace(cfg, llm=dataclasses.replace(cfg.llm, vocab_size=len(tokenizer)))
  ckpt = tmp_path_factory.mktemp('v2') / 'ckpt'
  checkpoint.save(VisionLanguageModel(cfg, rngs=nnx.Rngs(0)), ckpt, tokenizer_dir,
                  dtype=jnp.float32)
  return ckpt


@pytest.fixture(scope='module')
def served(v2_ckpt):
  served = serve(v2_ckpt, task='refer', slots=2)
  yield served
  served.server.close()


@pytest.fixture(scope='module')
def image():
  return png_bytes(HEIGHT, WIDTH, seed=4)


def _ask(served, text, image, **kwargs):
  return served.client.chat.completions.create(
      model='tiny', messages=[image_message(text, image)], temperature=0, max_tokens=MAX_NEW,
      **kwargs)


def _chat_answer(served, image, question) -> str:
  chat = served.chat(MAX_NEW)
  chat.upload_image(Image.open(io.BytesIO(image)))
  chat.ask(question)
  return chat.answer()


def test_the_server_task_goes_before_the_question(served, image):
  reply = _ask(served, 'the dog', image)
  message = reply.choices[0].message
  assert message.content and message.content == _chat_answer(served, image, '[refer] the dog')
  assert message.boxes == boxes_field(message.content, (WIDTH, HEIGHT))
  plain = _ask(served, 'the dog', image, extra_body={'task': ''})  # '' asks without one
  assert plain.choices[0].message.content == _chat_answer(served, image, 'the dog')
  assert reply.usage.prompt_tokens > plain.usage.prompt_tokens


def test_a_request_task_overrides_the_server_task(served, image):
  reply = _ask(served, '', image, extra_body={'task': 'grounding'})
  assert reply.choices[0].message.content == _chat_answer(
      served, image, '[grounding] describe this image in detail')  # the demo's shortcut text


def test_a_question_with_its_own_identifier_keeps_it(served, image):
  question = '[identify] {<10><20><50><60>}'
  reply = _ask(served, question, image)
  assert reply.choices[0].message.content == _chat_answer(served, image, question)


def test_the_last_stream_chunk_carries_the_boxes(served, image):
  chunks = list(_ask(served, 'the dog', image, stream=True))
  whole = _ask(served, 'the dog', image).choices[0]
  last = chunks[-1].choices[0]
  assert last.finish_reason == whole.finish_reason
  # The random model writes byte tokens; their text streams whole (generate/text_stream.py).
  assert ''.join(c.choices[0].delta.content or '' for c in chunks) == whole.message.content
  assert last.delta.boxes == whole.message.boxes
  assert all(not hasattr(c.choices[0].delta, 'boxes') for c in chunks[:-1])


@pytest.mark.parametrize('task, needle', [
    ('where', "unknown task 'where'; known: grounding, refer"),
    (3, 'task must be a string'),
])
def test_a_bad_task_is_400(served, image, task, needle):
  with pytest.raises(openai.BadRequestError, match=needle) as err:
    _ask(served, 'the dog', image, extra_body={'task': task})
  assert err.value.body['param'] == 'task'


def test_boxes_in_grid_and_image_pixels():
  text = '<p>a dog</p> {<10><20><50><60>}<delim>{<0><0><100><100>} and <p>a cat</p> {<1><2><3><4>}'
  assert boxes_field(text, (200, 100)) == [
      {'phrase': 'a dog', 'box': [10, 20, 50, 60], 'pixels': [20.0, 20.0, 100.0, 60.0]},
      {'phrase': 'a dog', 'box': [0, 0, 100, 100], 'pixels': [0.0, 0.0, 200.0, 100.0]},
      {'phrase': 'a cat', 'box': [1, 2, 3, 4], 'pixels': [2.0, 2.0, 6.0, 4.0]}]
  assert boxes_field('{<25><50><75><100>}', None) == [  # a bare [refer] box, no image
      {'phrase': '', 'box': [25, 50, 75, 100], 'pixels': None}]
  assert boxes_field('no boxes here', (10, 10)) == []


def test_minigpt4_takes_no_task_and_replies_without_boxes(image):
  loaded = load(TINY, jnp.float32)
  with pytest.raises(ValueError, match="'refer' is not a MiniGPT-4 task identifier"):
    make_service(loaded.model, loaded.tokenizer, loaded.template, slots=1,
                 options=ServeOptions(task='refer'))
  plain = serve(TINY, slots=1)
  try:
    reply = _ask(plain, 'Hi', image)
    assert 'boxes' not in reply.choices[0].message.model_extra
    with pytest.raises(openai.BadRequestError, match='MiniGPT-4 models take no task'):
      _ask(plain, 'Hi', image, extra_body={'task': 'refer'})
  finally:
    plain.server.close()


def test_serve_cli_rejects_a_task_the_model_lacks():
  process = subprocess.run(
      [sys.executable, '-m', 'launch.serve', '--ckpt', str(TINY), '--port', '0', '--task',
       'refer'], capture_output=True, text=True, timeout=300)
  assert process.returncode == 2
  assert "--task: 'refer' is not a MiniGPT-4 task identifier" in process.stderr
  assert 'Traceback' not in process.stderr
