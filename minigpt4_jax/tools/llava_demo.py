"""The bundled demo photographs as LLaVA conversation JSON (``configs/tiny_llava.py``).

Written from ``demo_texts.DEMO_IMAGES`` by ``python -m minigpt4_jax.tools.llava_demo``
and shipped in ``demo/llava/``; the images are the cc_sbu_align demo folder's.
``pretrain.json`` mirrors LCS-558K (one brief-description turn), ``instruct.json``
mirrors mix665k's multi-turn form: per photograph a detailed description then a short
caption (``demo_samples``, which the tiny LLM was also pretrained on), and a question
conversations as mix665k carries them from VQAv2 and GQA (``question_samples``: a
yes/no question about a present and about an absent object, and a short-answer question
with LLaVA-1.5's "single word or phrase" instruction).
"""

from __future__ import annotations

import json
import pathlib

from minigpt4_jax.bundled import demo_paths
from minigpt4_jax.cli import parse_no_arguments
from minigpt4_jax.data.demo_questions import DEMO_FACTS, absent_objects, pope_answer, pope_question
from minigpt4_jax.data.demo_texts import DEMO_IMAGES
from minigpt4_jax.text.prompts import render_preset

# A few of LLaVA's brief-description prompts (its LCS-558K set), cycled over the images.
BRIEF_PROMPTS = ('Give a brief description of the image.', 'Summarize the visual content of '
                 'the image.', 'Write a terse but informative summary of the picture.')


def demo_samples() -> tuple[list[dict], list[dict]]:
  """(stage-1 samples, stage-2 samples) in LLaVA's JSON form."""
  pretrain, instruct = [], []
  for i, (name, caption, description) in enumerate(DEMO_IMAGES):
    pretrain.append({'id': name, 'image': f'{name}.jpg', 'conversations': [
        {'from': 'human', 'value': f'{BRIEF_PROMPTS[i % len(BRIEF_PROMPTS)]}\n<image>'},
        {'from': 'gpt', 'value': caption}]})
    instruct.append({'id': name, 'image': f'{name}.jpg', 'conversations': [
        {'from': 'human', 'value': '<image>\nDescribe this image in detail.'},
        {'from': 'gpt', 'value': description},
        {'from': 'human', 'value': 'Give a short caption for it.'},
        {'from': 'gpt', 'value': caption}]})
  return pretrain, instruct


def question_samples() -> list[dict]:
  """Stage-2 question conversations: per photograph one that asks about its object (yes),
  then its VQA question, and one that asks about another photograph's object (no). Each
  yes/no question opens its own conversation, as at evaluation, so no earlier answer in
  the context gives it away."""
  samples = []
  for name, _, _ in DEMO_IMAGES:
    facts = DEMO_FACTS[name]
    absent = absent_objects(name, 1)[0]
    for suffix, pairs in (
        ('present', [(pope_question(facts.pope_object), pope_answer(facts.pope_object, True)),
                     (render_preset('llava', facts.question), facts.answer)]),
        ('absent', [(pope_question(absent), pope_answer(absent, False))])):
      turns = []
      for k, (question, answer) in enumerate(pairs):
        turns += [{'from': 'human', 'value': f'<image>\n{question}' if k == 0 else question},
                  {'from': 'gpt', 'value': answer}]
      samples.append({'id': f'{name}_{suffix}', 'image': f'{name}.jpg', 'conversations': turns})
  return samples


def main() -> None:
  paths = demo_paths()
  pretrain, descriptions = demo_samples()
  instruct = descriptions + question_samples()
  pathlib.Path(paths.llava_pretrain_json).parent.mkdir(parents=True, exist_ok=True)
  for path, samples in ((paths.llava_pretrain_json, pretrain),
                        (paths.llava_instruct_json, instruct)):
    pathlib.Path(path).write_text(json.dumps(samples, indent=1) + '\n', encoding='utf-8')
    print(f'wrote {path}: {len(samples)} samples')


if __name__ == '__main__':
  parse_no_arguments('python -m minigpt4_jax.tools.llava_demo', __doc__)
  main()
