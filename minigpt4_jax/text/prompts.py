"""Prompt text by name: system messages, training instruction pools, evaluation presets.

An evaluation preset is ``str.format`` text with ``{question}`` (the benchmark's
question) and, for multiple choice, ``{options}`` (one 'A. choice' line per choice). It
becomes the human message of the model's conversation template (``text.templates``),
which adds the system text and roles.
"""

from __future__ import annotations

from typing import Sequence

# minigpt4/conversation/conversation.py (ef1ac08): CONV_VISION_Vicuna0 / _LLama2's system.
MINIGPT4_SYSTEM = ('Give the following image: <Img>ImageContent</Img>. You will be able to see '
                   'the image once I provide it to you. Please answer my questions.')
# LLaVA's conv_vicuna_v1 system message (llava/conversation.py): stage-2 training and chat.
VICUNA_V1_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
                    "The assistant gives helpful, detailed, and polite answers to the human's "
                    "questions.")

# prompts/alignment.txt of MiniGPT-4 (unchanged since its first commit).
ALIGNMENT_INSTRUCTIONS = (
    '<Img><ImageHere></Img> Describe this image in detail.',
    '<Img><ImageHere></Img> Take a look at this image and describe what you notice.',
    '<Img><ImageHere></Img> Please provide a detailed description of the picture.',
    '<Img><ImageHere></Img> Could you describe the contents of this image for me?',
)

OPTION_LETTERS = 'ABCDEFGHIJ'

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
    # MiniGPT-v2's other benchmark prompts (eval_scripts/eval_ref.py, eval_vqa.py): the
    # referring expression, VSR's statement, VizWiz's question, Hateful Memes' meme text.
    'minigptv2_refer': '[refer] give me the location of {question}',
    'minigptv2_vsr': '[vqa] Based on the image, is this statement true or false? {question}',
    'minigptv2_vizwiz': "[vqa] The question is '{question}' Based on the image, answer the "
                        "question with a single word or phrase. and reply 'unanswerable' when "
                        'the provided information is insufficient',
    'minigptv2_hateful': "This is an image writting '{question}'. Is this image hateful? "
                         'Answer yes or no. Answer:',
    # MiniGPT-4's detailed description instruction (prompts/alignment.txt, stage 2).
    'describe': 'Describe this image in detail.',
    # The MiniGPT-4 paper's two CHAIR prompts (arXiv 2304.10592, its hallucination table).
    'describe_short': 'Please describe the image shortly and precisely, in less than 20 words.',
    'describe_long': 'Please describe this image as detailed as possible.',
}


def options_text(choices: Sequence[str]) -> str:
  """'A. cab\\nB. train' (LLaVA's layout)."""
  return '\n'.join(f'{OPTION_LETTERS[i]}. {c}' for i, c in enumerate(choices))


def render_preset(preset: str, question: str = '', choices: Sequence[str] = ()) -> str:
  """The human message for one sample."""
  if preset not in PRESETS:
    raise ValueError(f'unknown prompt preset {preset!r}; known: {sorted(PRESETS)}')
  return PRESETS[preset].format(question=question, options=options_text(choices))
