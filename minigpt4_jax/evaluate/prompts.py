"""Prompt presets: the question text each protocol asks with, by name.

A preset is ``str.format`` text with ``{question}`` (the benchmark's question) and,
for multiple choice, ``{options}`` (one 'A. choice' line per choice). It becomes the
human message of the model's conversation template (``generate.conversation``),
which adds MiniGPT-4's system text and roles.
"""

from __future__ import annotations

from typing import Sequence

from minigpt4_jax.evaluate.metrics.aokvqa import OPTION_LETTERS

PRESETS: dict[str, str] = {
    # The question alone: MiniGPT-4's chat (and POPE's "Is there a {object} in the image?").
    'question': '{question}',
    # BLIP-2's zero-shot VQA (LAVIS ``prompt: "Question: {} Short answer:"``).
    'blip2': 'Question: {question} Short answer:',
    # LLaVA-1.5's short-answer suffix (VQAv2, GQA, OK-VQA, ...).
    'llava': '{question}\nAnswer the question using a single word or phrase.',
    # LLaVA-1.5's multiple-choice format (ScienceQA, MMBench; A-OKVQA in its training mix).
    'llava_mc': "{question}\n{options}\nAnswer with the option's letter from the given choices "
                'directly.',
    # MiniGPT-v2's VQA evaluation prompt (eval_scripts, HEAD), for a "go beyond" row.
    'minigptv2': '[vqa] Based on the image, respond to this question with a short answer: '
                 '{question}',
    # MiniGPT-4's detailed description instruction (prompts/alignment.txt, stage 2).
    'describe': 'Describe this image in detail.',
    # The MiniGPT-4 paper's two CHAIR prompts (arXiv 2304.10592, the hallucination table).
    'describe_short': 'Please describe the image shortly and precisely, in less than 20 words.',
    'describe_long': 'Please describe this image as detailed as possible.',
}


def options_text(choices: Sequence[str]) -> str:
  """'A. cab\\nB. train' (LLaVA's layout)."""
  return '\n'.join(f'{OPTION_LETTERS[i]}. {c}' for i, c in enumerate(choices))


def render(preset: str, question: str = '', choices: Sequence[str] = ()) -> str:
  """The human message for one sample."""
  if preset not in PRESETS:
    raise ValueError(f'unknown prompt preset {preset!r}; known: {sorted(PRESETS)}')
  return PRESETS[preset].format(question=question, options=options_text(choices))
