"""The tiny LLM's documents are tokenized exactly as chat tokenizes, with the caption
where the image goes, and carry no literal image placeholder."""

from minigpt4_jax.bundled import TINY_TOKENIZER
from minigpt4_jax.data.demo_questions import DEMO_FACTS, absent_objects, pope_question
from minigpt4_jax.data.demo_texts import DEMO_IMAGES
from minigpt4_jax.models import IMAGE_TOKEN_ID
from minigpt4_jax.text.templates import Conversation
from minigpt4_jax.text.tokens import IMAGE_MARKER, tokenize_text, tokenize_with_image
from minigpt4_jax.tokenizer import load_tokenizer
from minigpt4_jax.tools.tiny_llm_corpus import (CHAT_TEMPLATES, chat_row, ended, fill_image_slot,
                                                lm_documents, pope_turns)


def test_fill_image_slot_replaces_each_run_once():
  slot = [7, 8, 9]
  ids = [1, 5, *[IMAGE_TOKEN_ID] * 4, 6, IMAGE_TOKEN_ID, 3]
  assert fill_image_slot(ids, slot) == [1, 5, 7, 8, 9, 6, 7, 8, 9, 3]


def test_chat_rows_continue_the_prompt_chat_renders():
  tokenizer = load_tokenizer(TINY_TOKENIZER)
  _, _, description = DEMO_IMAGES[2]
  for template in CHAT_TEMPLATES:
    conversation = Conversation(template)
    conversation.add_image()
    conversation.ask('Describe this image in detail.')
    conversation.open_answer()
    # What generate.chat feeds the model (its _open_turn).
    prompt = tokenize_with_image(tokenizer, conversation.prompt(), 5,
                                 split_specials=template.split_specials)
    ids, supervised = chat_row(tokenizer, template, 'Describe this image in detail.',
                               description, 5)
    assert ids[:len(prompt)] == prompt, template.name  # the open answer, token for token
    assert not any(supervised[:len(prompt)]) and all(supervised[len(prompt):])
    answer = tokenizer.decode(ended(ids, tokenizer.eos_token_id)[len(prompt):],
                              skip_special_tokens=True)
    assert answer.strip().startswith(description[:40]), template.name


def test_no_document_holds_the_image_placeholder_as_text():
  tokenizer = load_tokenizer(TINY_TOKENIZER)
  placeholder = tokenize_text(tokenizer, IMAGE_MARKER, split_specials=True)
  for doc in lm_documents(tokenizer):
    assert doc[0] == tokenizer.bos_token_id and doc[-1] == tokenizer.eos_token_id
    assert IMAGE_TOKEN_ID not in doc
    assert IMAGE_MARKER not in tokenizer.decode(doc)
    assert not any(doc[i:i + len(placeholder)] == placeholder for i in range(len(doc)))


def test_absent_objects_are_never_named_by_the_photograph():
  for name, caption, description in DEMO_IMAGES:
    for obj in absent_objects(name, 2):
      assert obj not in f'{caption} {description}'.lower(), (name, obj)


def test_pope_turns_are_balanced_and_ask_only_absent_objects_no():
  for name, caption, description in DEMO_IMAGES:
    turns = pope_turns(name)
    yes = [q for q, a in turns if a.startswith('Yes')]
    no = [q for q, a in turns if a.startswith('No')]
    assert len(yes) == len(no) == len(turns) // 2 > 0, name
    assert set(yes) == {pope_question(DEMO_FACTS[name].pope_object)}
    # every other photograph's object its texts never name, the tiny POPE set's included
    assert no == [pope_question(o) for o in absent_objects(name, len(DEMO_FACTS))]
    assert pope_question(absent_objects(name, 1)[0]) in no
    text = f'{caption} {description}'.lower()
    assert not any(q.removeprefix('Is there a ').removesuffix(' in the image?') in text
                   for q in no), name
