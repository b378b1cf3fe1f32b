"""The terminal chat and the Gradio demo, end to end on a tiny saved checkpoint."""

import io
import socket

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from minigpt4_jax import checkpoint
from minigpt4_jax.generate.chat import Chat
from minigpt4_jax import families
from minigpt4_jax.generate.config import GenerationConfig
from tests.generate.conftest import MAX_NEW

QUESTION = 'Describe this image.'


@pytest.fixture(scope='module')
def image_path(tmp_path_factory) -> str:
  pixels = np.random.default_rng(0).integers(0, 256, size=(96, 128, 3), dtype=np.uint8)
  path = tmp_path_factory.mktemp('image') / 'image.png'
  Image.fromarray(pixels).save(path)
  return str(path)


def reference_answer(model, tokenizer, image_path: str, **config) -> str:
  """What ``Chat`` answers with the CLI's settings: MiniGPT-4's chat defaults + flags."""
  defaults = families.get('minigpt4').chat_defaults
  chat = Chat(model, tokenizer, 'vicuna_v0',
              GenerationConfig(**{**defaults, 'max_new_tokens': MAX_NEW, **config}))
  chat.upload_image(image_path)
  chat.ask(QUESTION)
  return chat.answer()


def test_chat_cli_answers_one_prompt_from_a_saved_checkpoint(model, tokenizer, tokenizer_dir,
                                                             image_path, tmp_path):
  from launch import chat as chat_cli
  ckpt = tmp_path / 'ckpt'
  checkpoint.save(model, ckpt, tokenizer_dir, dtype=jnp.float32)
  out = io.StringIO()
  chat_cli.main(['--ckpt', str(ckpt), '--image', image_path, '--prompt', QUESTION, '--greedy',
                 '--max-new-tokens', str(MAX_NEW)], out=out)
  expected = reference_answer(model, tokenizer, image_path, do_sample=False)
  assert out.getvalue() == expected + '\n'
  assert expected


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def text_of(message: dict) -> str:
  """Gradio 6 returns a message's content as [{'type': 'text', 'text': ...}]."""
  content = message['content']
  return content if isinstance(content, str) else ''.join(p['text'] for p in content)


@pytest.fixture
def offline(monkeypatch) -> list[str]:
  """Records every host name anything resolves; huggingface_hub (under gradio_client)
  is told it is offline, as its constants were read when transformers imported it."""
  import huggingface_hub.constants
  monkeypatch.setenv('GRADIO_ANALYTICS_ENABLED', 'False')
  monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_OFFLINE', True)
  monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_DISABLE_TELEMETRY', True)
  hosts = []
  resolve = socket.getaddrinfo
  monkeypatch.setattr(socket, 'getaddrinfo', lambda host, *a, **k: hosts.append(host) or
                      resolve(host, *a, **k))
  return hosts


@pytest.mark.filterwarnings('ignore:::gradio.queueing')  # gradio's own pandas deprecations
def test_demo_serves_and_answers_through_gradio_client(model, tokenizer, image_path, offline):
  from gradio_client import Client, handle_file

  from launch import demo as demo_app
  args = demo_app.parse_args(['--ckpt', 'unused'])
  assert (args.host, args.share) == ('127.0.0.1', False)

  base = Chat(model, tokenizer, 'vicuna_v0', GenerationConfig(max_new_tokens=MAX_NEW), seed=5)
  demo = demo_app.build(base)
  port = free_port()
  demo.queue().launch(server_name='127.0.0.1', server_port=port, share=False,
                      prevent_thread_lock=True, quiet=True)
  try:
    assert demo.share_url is None
    client = Client(f'http://127.0.0.1:{port}/', verbose=False)
    client.predict(handle_file(image_path), [], api_name='/upload')
    *_, history = client.predict(QUESTION, [], 1, 1.0, api_name='/ask')
    client.predict(api_name='/restart')
    *_, after_restart = client.predict(QUESTION, [], 1, 1.0, api_name='/ask')
  finally:
    demo.close()
  session = base.session()
  session.upload_image(image_path)
  session.ask(QUESTION)
  assert [m['role'] for m in history] == ['user', 'assistant']
  assert text_of(history[0]) == QUESTION
  assert text_of(history[1]) == session.answer()
  assert after_restart == []  # no image, no session: nothing to answer
  assert set(offline) <= {'127.0.0.1', 'localhost'}, offline
