"""Grounded chat: task identifiers in launch.chat, pixel boxes, and the demo's box view."""

import io

import jax.numpy as jnp
import numpy as np
from flax import nnx
from PIL import Image

from launch import chat as chat_cli
from launch import demo
from minigpt4_jax import checkpoint, families, grounding
from minigpt4_jax.families import minigptv2
from minigpt4_jax.generate.chat import Chat
from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.models import VisionLanguageModel

MAX_NEW = 4


def test_task_prompts():
  assert minigptv2.task_prompt('refer', 'the dog') == '[refer] the dog'
  assert minigptv2.task_prompt('grounding', '') == '[grounding] describe this image in detail'
  assert minigptv2.task_prompt('identify', ' ') == '[identify] what is this'
  assert minigptv2.task_prompt(None, 'hello') == 'hello'


def test_pixel_box_lines():
  found = grounding.parse_grounded('<p>dog</p> {<10><20><50><100>} and {<1><2><3><4>}')
  assert grounding.pixel_box_lines(found, 640, 480) == ['dog: [64, 96, 320, 480]']
  bare = grounding.parse_grounded('{<10><20><50><100>}')
  assert grounding.pixel_box_lines(bare, 640, 480) == ['box: [64, 96, 320, 480]']


def test_chat_cli_puts_the_task_before_the_question(tokenizer, tokenizer_dir, tmp_path):
  model = VisionLanguageModel(families.preset('minigptv2_tiny'), rngs=nnx.Rngs(0))
  ckpt = tmp_path / 'ckpt'
  checkpoint.save(model, ckpt, tokenizer_dir, dtype=jnp.float32)
  image = tmp_path / 'image.png'
  Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 80, 3), np.uint8)).save(image)
  out = io.StringIO()
  chat_cli.main(['--ckpt', str(ckpt), '--image', str(image), '--task', 'refer', '--prompt',
                 'the dog', '--greedy', '--max-new-tokens', str(MAX_NEW)],
                out=out)
  # The family's template and chat defaults (repetition penalty 1.05) under the CLI's flags.
  chat = Chat(checkpoint.load(ckpt, jnp.float32), tokenizer, 'minigptv2',
              GenerationConfig(max_new_tokens=MAX_NEW, do_sample=False, repetition_penalty=1.05))
  chat.upload_image(str(image))
  chat.ask('[refer] the dog')
  expected = chat.answer()
  lines = grounding.pixel_box_lines(grounding.parse_grounded(expected), 80, 60)
  assert out.getvalue() == expected + '\n' + ''.join(f'  {line}\n' for line in lines)


def test_demo_draws_boxes_and_hides_their_syntax():
  image = Image.new('RGB', (1000, 500), (128, 128, 128))
  text, drawn = demo.grounded_view(image, '<p>a dog</p> {<10><20><50><60>} on the grass.')
  assert text == 'a dog on the grass.'
  pixels = np.asarray(drawn)
  assert drawn.size == (500, 250)
  assert tuple(pixels[150, 150]) == grounding.COLORS[0]  # the bottom edge, y = 60% of 250
  assert demo.grounded_view(image, 'no boxes here') == ('no boxes here', None)
