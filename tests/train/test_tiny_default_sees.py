"""The embedded defaults see their images: after the README's tiny stage 1 and stage 2,
greedy chat ("Describe this image in detail.") on the 16 demo photographs gives at
least 12 distinct answers that each name their photograph's main subject as the demo
texts do, and no answer leaks template text; the tiny VQAv2 and POPE sets score above
chance. MiniGPT-4 and LLaVA, the full tiny runs."""

from __future__ import annotations

import pathlib

import pytest

from configs import tiny, tiny_llava
from launch import evaluate
from minigpt4_jax.bundled import DEMO, demo_paths
from minigpt4_jax.data.demo_questions import DEMO_FACTS
from minigpt4_jax.data.demo_texts import DEMO_IMAGES
from minigpt4_jax.generate.describe_images import describe_images
from minigpt4_jax.train.loop import train_and_evaluate

# Pieces of every template the tiny defaults render (vicuna_v0 and its training
# layouts, LLaVA's v1 and plain).
TEMPLATE_TEXT = ('<Img', 'Img>', 'ImageHere', '###', 'Human:', 'Assistant:', 'USER:',
                 'ASSISTANT:', '[INST]', '<image>', '</s>')


def recognised(answers: dict[str, str]) -> list[str]:
  """Photographs whose answer no other photograph got and that names their subject."""
  texts = list(answers.values())
  return [name for name, answer in answers.items()
          if texts.count(answer) == 1
          and any(word in answer.lower() for word in DEMO_FACTS[name].subject_words)]


def test_recognised_needs_a_unique_answer_naming_the_subject():
  answers = {'chelsea': 'A tabby cat.', 'coffee': 'A cup of coffee.', 'moon': 'A cup of coffee.',
             'rocket': 'A patch of grass.'}
  assert recognised(answers) == ['chelsea']


def _describe_demo_photographs(ckpt: pathlib.Path) -> dict[str, str]:
  names = [name for name, _, _ in DEMO_IMAGES]
  image_dir = pathlib.Path(demo_paths().image_dir)
  return dict(zip(names, (answer for _, answer in describe_images(
      ckpt, [image_dir / f'{name}.jpg' for name in names]))))


def _accuracy(ckpt: pathlib.Path, task: str, out: pathlib.Path) -> float:
  results = evaluate.main(['--ckpt', str(ckpt), '--task', task, '--out', str(out),
                           '--data', str(DEMO / 'eval')])
  return results['metrics']['accuracy']


# Chance on the tiny sets: VQAv2 has 16 questions with 16 different answers (one
# guess fits one question: 6.25%); POPE asks every object once where it is and once
# where it is not (50%; answering "no" throughout, as the tiny MiniGPT-4 did before its
# LLM learnt to check the image slot, scores exactly that).
CHANCE = {'vqav2': 6.25, 'pope': 50.0}


@pytest.mark.parametrize('config', [tiny, tiny_llava], ids=['minigpt4', 'llava'])
def test_tiny_default_describes_the_demo_photographs(config, tmp_path):
  stage1 = config.get_config('stage1')
  stage2 = config.get_config('stage2').unlock()
  stage2.init_from = str(tmp_path / 'stage1')
  train_and_evaluate(stage1, tmp_path / 'stage1')
  train_and_evaluate(stage2.lock(), tmp_path / 'stage2')
  answers = _describe_demo_photographs(tmp_path / 'stage2')
  assert len(recognised(answers)) >= 12, answers
  assert {n: a for n, a in answers.items() if any(t in a for t in TEMPLATE_TEXT)} == {}
  scores = {task: _accuracy(tmp_path / 'stage2', task, tmp_path / task) for task in CHANCE}
  assert all(scores[task] > CHANCE[task] for task in CHANCE), scores
