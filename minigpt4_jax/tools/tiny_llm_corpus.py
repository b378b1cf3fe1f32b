"""The tiny LLM's pretraining documents: the demo texts, and every prompt layout the
tiny defaults render (MiniGPT-4's stage-1, stage-2 and chat layouts; LLaVA's plain,
v1 and chat), with the photograph's caption written where its image goes.

A released LLM has never seen MiniGPT-4's ``<Img><ImageHere></Img>`` as text; it
meets image embeddings in that slot and answers in the template's assistant turn. A
tiny LLM that learns the bare templates as text (the literal ``<ImageHere>``
included, nothing after ``###Assistant:``) continues the memorised template,
``></Img> What is in this picture?``, whatever the projector sends (issue 14). Here
each layout is tokenized exactly as training (``text.sequences.SequenceEncoder``) and
chat (``generate.chat``) tokenize it, the image slot holds the caption's tokens, and
the answer follows: the LLM learns that the slot says what is in the picture and that
the answer is about it, which is what a projector then has to steer.
"""

from __future__ import annotations

from typing import Sequence

from minigpt4_jax.data.demo_questions import DEMO_FACTS, absent_objects, pope_answer, pope_question
from minigpt4_jax.data.demo_texts import DEMO_IMAGES
from minigpt4_jax.data.transforms import blip_caption
from minigpt4_jax.models import IMAGE_TOKEN_ID
from minigpt4_jax.text.prompts import ALIGNMENT_INSTRUCTIONS, render_preset
from minigpt4_jax.text.sequences import SequenceEncoder, SequenceLayout
from minigpt4_jax.text.templates import PLAIN, V1, VICUNA_V0, Conversation, Template
from minigpt4_jax.text.tokens import tokenize_text, tokenize_with_image
from minigpt4_jax.tools.llava_demo import demo_samples

Document = list[int]
Row = tuple[list[int], list[bool]]  # ids (image slots hold IMAGE_TOKEN_ID), supervised
# Chat questions asking for the detailed description: MiniGPT-4's alignment
# instructions without their image prefix ('Describe this image in detail.' first).
DESCRIBE_QUESTIONS = tuple(i.split('</Img> ', 1)[1] for i in ALIGNMENT_INSTRUCTIONS)
# The templates the tiny defaults chat with (each family's chat_template).
CHAT_TEMPLATES = (VICUNA_V0, V1)


def ended(ids: Sequence[int], eos: int) -> Document:
  """``ids`` ending in one EOS (v1 answers already end with theirs)."""
  return list(ids) if ids and ids[-1] == eos else [*ids, eos]


def fill_image_slot(ids: Sequence[int], slot: Sequence[int]) -> Document:
  """``ids`` with each run of ``IMAGE_TOKEN_ID`` replaced by ``slot``."""
  out: Document = []
  for i, token in enumerate(ids):
    if token != IMAGE_TOKEN_ID:
      out.append(token)
    elif i == 0 or ids[i - 1] != IMAGE_TOKEN_ID:
      out += slot
  return out


def question_turns(name: str, description: str) -> list[tuple[str, str]]:
  """(question, answer) chat turns about one photograph: descriptions, POPE, VQA."""
  facts = DEMO_FACTS[name]
  turns = [(q, description) for q in DESCRIBE_QUESTIONS]
  turns.append((pope_question(facts.pope_object), pope_answer(facts.pope_object, True)))
  turns += [(pope_question(o), pope_answer(o, False)) for o in absent_objects(name, 2)]
  turns += [(render_preset(p, facts.question), facts.answer) for p in ('question', 'llava')]
  return turns


def pope_turns(name: str) -> list[tuple[str, str]]:
  """Balanced POPE turns about one photograph: "no" for every other photograph's object
  that its texts never name, and as many "yes" for its own object."""
  present = DEMO_FACTS[name].pope_object
  absent = absent_objects(name, len(DEMO_FACTS))
  return ([(pope_question(present), pope_answer(present, True))] * len(absent)
          + [(pope_question(o), pope_answer(o, False)) for o in absent])


def chat_row(tokenizer, template: Template, question: str, answer: str,
             num_image_tokens: int) -> Row:
  """One turn as ``generate.chat`` prompts for it (system message included), then the
  answer (tokenized on its own, as it is generated after the prompt) and its separator,
  supervised."""
  conversation = Conversation(template)
  conversation.add_image()
  conversation.ask(question)
  conversation.open_answer()
  split = template.split_specials
  prompt = tokenize_with_image(tokenizer, conversation.prompt(), num_image_tokens,
                               split_specials=split)
  end = template.sep if template.answer_sep is None else template.answer_sep
  reply = tokenize_text(tokenizer, answer + end, split_specials=split)
  return prompt + reply, [False] * len(prompt) + [True] * len(reply)


def training_encoders(tokenizer, num_image_tokens: int) -> dict[str, SequenceEncoder]:
  """The tiny MiniGPT-4's stage-1 (plain) and stage-2 (vicuna_v0, the four alignment
  instructions) sequence layouts, as configs/tiny.py trains them."""
  return {'stage1': SequenceEncoder(tokenizer, SequenceLayout(PLAIN, (), 32, 0, num_image_tokens)),
          'stage2': SequenceEncoder(tokenizer, SequenceLayout(
              VICUNA_V0, ALIGNMENT_INSTRUCTIONS, 160, 0, num_image_tokens))}


def llava_encoders(tokenizer, num_image_tokens: int) -> dict[str, SequenceEncoder]:
  """The tiny LLaVA's stage-1 (plain) and stage-2 (v1) layouts, as configs/tiny_llava.py."""
  return {'stage1': SequenceEncoder(tokenizer, SequenceLayout(PLAIN, (), 0, 96, num_image_tokens)),
          'stage2': SequenceEncoder(tokenizer, SequenceLayout(V1, (), 0, 272, num_image_tokens))}


def llava_documents(tokenizer, slots: dict[str, Document]) -> list[Document]:
  """LLaVA's stage-1 (plain) and stage-2 (v1) rows of the demo JSON, as it trains."""
  docs = []
  for encoder, samples in zip(llava_encoders(tokenizer, 1).values(), demo_samples()):
    for sample in samples:
      ids, _ = encoder.encode_one(sample['conversations'])
      docs.append(ended(fill_image_slot(ids, slots[sample['id']]), tokenizer.eos_token_id))
  return docs


def lm_documents(tokenizer) -> list[Document]:
  """Every pretraining document, as token ids starting with BOS."""
  bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
  encoders = training_encoders(tokenizer, 1)
  docs, slots = [], {}
  for name, caption, description in DEMO_IMAGES:
    slot = slots[name] = tokenize_text(tokenizer, caption, split_specials=True)
    filled = lambda row: ended(fill_image_slot(row[0], slot), eos)
    docs += [[bos] + tokenize_text(tokenizer, t, split_specials=True) + [eos]
             for t in (caption, description)]
    docs.append(filled(encoders['stage1'].encode_one(blip_caption(caption))))
    docs += [filled(encoders['stage2'].encode_one(description, k))
             for k in range(encoders['stage2'].num_instructions)]
    docs += [filled(chat_row(tokenizer, t, question, answer, 1))
             for question, answer in question_turns(name, description) for t in CHAT_TEMPLATES]
  return docs + llava_documents(tokenizer, slots)
