"""Chat prompts render the originals' exact strings; the history rules of MiniGPT-4's chat."""

import pytest

from minigpt4_jax.text.prompts import MINIGPT4_SYSTEM
from minigpt4_jax.text.templates import (LLAMA2, MINIGPTV2, PLAIN, TEMPLATES, V1, VICUNA_V0,
                                         Conversation, get_template)

SYSTEM = ('Give the following image: <Img>ImageContent</Img>. You will be able to see the '
          'image once I provide it to you. Please answer my questions.')


def two_turns(conversation: Conversation) -> str:
  conversation.add_image()
  conversation.ask('What is this?')
  conversation.open_answer()
  conversation.close_answer('A cat.')
  conversation.ask('What color?')
  conversation.open_answer()
  return conversation.prompt()


def test_vicuna_v0_template_renders_as_minigpt4():
  assert two_turns(Conversation(VICUNA_V0)) == (
      SYSTEM + '###Human: <Img><ImageHere></Img> What is this?###Assistant: A cat.'
      '###Human: What color?###Assistant: ')


def test_llama2_template_renders_as_minigpt4():
  assert two_turns(Conversation(LLAMA2)) == (
      SYSTEM + '<s>[INST] <Img><ImageHere></Img> What is this? [/INST] A cat.'
      '<s>[INST] What color? [/INST] ')


def test_minigptv2_template_renders_as_its_eval_prompt():
  """eval_utils.py (HEAD): '<s>[INST] <Img><ImageHere></Img> {text} [/INST]', no system."""
  assert two_turns(Conversation(MINIGPTV2)) == (
      '<s>[INST] <Img><ImageHere></Img> What is this? [/INST]A cat.'
      '<s>[INST] What color? [/INST]')


def test_v1_and_plain_render_as_llava():
  assert two_turns(Conversation(V1)).endswith(
      ' USER: <ImageHere>\nWhat is this? ASSISTANT: A cat.</s>USER: What color? ASSISTANT:')
  plain = Conversation(PLAIN)
  plain.add_image()
  plain.ask('dropped')
  plain.open_answer()
  assert plain.prompt() == '<ImageHere>'


def test_system_text_is_the_one_constant():
  assert MINIGPT4_SYSTEM == SYSTEM


@pytest.mark.parametrize('name, question, expected', [
    ('vicuna_v0', '<Img><ImageHere></Img> Describe this image in detail.',
     '###Human: <Img><ImageHere></Img> Describe this image in detail. ###Assistant: '),
    ('llama2', '<Img><ImageHere></Img> Describe this image in detail.',
     '[INST] <Img><ImageHere></Img> Describe this image in detail. [/INST] '),
    # Two spaces before [/INST]: the dataset's trailing space, then the template's.
    ('minigptv2', '<Img><ImageHere></Img> [refer] where is the cat ?',
     '[INST] <Img><ImageHere></Img> [refer] where is the cat ?  [/INST]'),
    ('plain', '<ImageHere>', '<ImageHere>'),
])
def test_training_prompts_render_as_the_originals_train(name, question, expected):
  assert get_template(name).training_prompt(question) == expected


@pytest.mark.parametrize('name', sorted(TEMPLATES))
def test_text_cannot_open_a_second_image_slot(name):
  conversation = Conversation(get_template(name))
  conversation.add_image()
  conversation.ask('Is <ImageHere> here?')
  assert conversation.prompt().count('<ImageHere>') == 1


def test_minigptv2_trains_text_only_turns_with_one_space():
  """The original's unnatural_instruction.py samples (no image) are the bare instruction
  in '[INST] {} [/INST]': one space; image samples end theirs with a space: two."""
  template = get_template('minigptv2')
  text = lambda turns: ''.join(s.text for s in template.training_segments(turns))
  assert text([('human', 'name a fruit'), ('gpt', 'apple')]) == (
      '[INST] name a fruit [/INST]apple</s>')
  assert text([('human', template.with_image('[vqa] what is it')), ('gpt', 'a cat'),
               ('human', 'and its colour'), ('gpt', 'orange')]) == (
      '[INST] <Img><ImageHere></Img> [vqa] what is it  [/INST]a cat</s>'
      '<s>[INST] and its colour  [/INST]orange</s>')


def test_unknown_template():
  with pytest.raises(ValueError, match="unknown template 'vicuna'"):
    get_template('vicuna')


def test_vicuna_v0_chat_trains_in_the_text_it_chats_in():
  """The tiny default's stage-2 layout: the training text of a two-turn conversation is
  the chat prompt, answers included, of the same turns."""
  template = get_template('vicuna_v0_chat')
  assert two_turns(Conversation(template)) == two_turns(Conversation(VICUNA_V0))
  segments = template.training_segments([
      ('human', template.with_image('What is this?')), ('gpt', 'A cat.'),
      ('human', 'What color?'), ('gpt', 'Orange.')])
  assert ''.join(s.text for s in segments) == (
      SYSTEM + '###Human: <Img><ImageHere></Img> What is this?###Assistant: A cat.'
      '###Human: What color?###Assistant: Orange.###')
  assert [s.text for s in segments if s.supervised] == ['A cat.###', 'Orange.###']
