"""launch.chat on a converted LLaVA checkpoint: template v1 by default, pad-to-square
images, and greedy answers equal to transformers' LlavaForConditionalGeneration.generate."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from launch import chat as chat_cli
from launch import convert as convert_cli
from minigpt4_jax.generate.chat import load_chat, preprocess
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.text.templates import Conversation, get_template
from minigpt4_jax.text.tokens import tokenize_with_image
from minigpt4_jax.tokenizer import load_tokenizer
from minigpt4_jax.bundled import TINY_TOKENIZER
from tests import reference_llava as llava_ref
from tests.conftest import with_tokenizer

QUESTION = 'What is in the picture?'
MAX_NEW = 12


@pytest.fixture(scope='module')
def chat_llava():
  """A tiny LLaVA whose vocabulary is the bundled tokenizer's 1000 pieces plus the id
  transformers marks image slots with, so no prompt text collides with it."""
  cfg = llava_ref.tiny(vocab_size=1001)
  return cfg, llava_ref.llava(cfg, seed=4)


@pytest.fixture(scope='module')
def llava_ckpt(chat_llava, tmp_path_factory):
  root = tmp_path_factory.mktemp('chat')
  chat_llava[1].save_pretrained(root / 'llava_hf')
  with_tokenizer(root / 'llava_hf', TINY_TOKENIZER)
  convert_cli.main(['--family', 'llava', '--llava', str(root / 'llava_hf'), '--out', str(root / 'ckpt'),
                    '--dtype', 'float32'])
  return root / 'ckpt'


@pytest.fixture(scope='module')
def image_path(tmp_path_factory) -> str:
  pixels = np.random.default_rng(0).integers(0, 256, size=(40, 72, 3), dtype=np.uint8)
  path = tmp_path_factory.mktemp('image') / 'wide.png'
  Image.fromarray(pixels).save(path)
  return str(path)


def test_v1_is_the_default_template(llava_ckpt):
  assert load_chat(llava_ckpt).template.name == 'v1'


def test_chat_cli_greedy_equals_transformers_generate(llava_ckpt, chat_llava, image_path):
  tiny, hf_llava = chat_llava
  out = io.StringIO()
  chat_cli.main(['--ckpt', str(llava_ckpt), '--image', image_path, '--prompt', QUESTION,
                 '--greedy', '--max-new-tokens', str(MAX_NEW)], out=out)

  tokenizer = load_tokenizer(TINY_TOKENIZER)
  conversation = Conversation(get_template('v1'))
  conversation.add_image()
  conversation.ask(QUESTION)
  conversation.open_answer()
  assert conversation.prompt().endswith(f'USER: <ImageHere>\n{QUESTION} ASSISTANT:')
  ids = np.asarray([tokenize_with_image(tokenizer, conversation.prompt(), tiny.num_image_tokens,
                                        split_specials=False)])
  pixels = preprocess(image_path, tiny.vision.image_size, 'pad')[None]
  with torch.no_grad():
    sequences = hf_llava.generate(**llava_ref.hf_inputs(hf_llava, ids, pixels),
                                  max_new_tokens=MAX_NEW, min_new_tokens=1, do_sample=False)
  expected = tokenizer.decode(sequences[0, ids.shape[1]:], skip_special_tokens=True).strip()
  assert out.getvalue() == expected + '\n'
  assert expected


def test_demo_session_answers_with_the_llava_checkpoint(llava_ckpt, image_path):
  from launch import demo as demo_app
  base = load_chat(llava_ckpt, config=GenerationConfig(max_new_tokens=MAX_NEW, do_sample=False))
  session, *_ = demo_app.start(base, np.asarray(Image.open(image_path)), [])
  *_, history = list(demo_app.respond(session, QUESTION, [], 1, 1.0))[-1]
  reference_session = base.session()
  reference_session.upload_image(image_path)
  reference_session.ask(QUESTION)
  assert history[-1] == {'role': 'assistant', 'content': reference_session.answer()}
