"""Every template's training and chat ids equal ids computed with sentencepiece alone
under the originals' rules, on tiny tokenizers this test trains (Llama-style: identity
normalisation, no whitespace removal, byte fallback) that hold ``▁[``, ``[``, ``INST``,
``]`` and ``</s>``.

MiniGPT-4 / MiniGPT-v2 ran transformers 4.28-4.30's slow ``LlamaTokenizer``
(``tokenization_utils.py:tokenize``): the text is split at the special strings, each
is its id, every other piece is encoded with sentencepiece's dummy prefix. LLaVA-1.5's
tokenizer is non-legacy (4.31+ ``LlamaTokenizer(legacy=False)``): only the text's start
gets the prefix, never the text right after a special token. The oracle writes the
originals' strings out by hand and never calls transformers.
"""

import re

import pytest
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2

from minigpt4_jax.models import IMAGE_TOKEN_ID
from minigpt4_jax.text.prompts import ALIGNMENT_INSTRUCTIONS, MINIGPT4_SYSTEM, VICUNA_V1_SYSTEM
from minigpt4_jax.text.sequences import SequenceEncoder, SequenceLayout
from minigpt4_jax.text.templates import (LLAMA2, MINIGPTV2, PLAIN, V1, VICUNA_V0, Conversation,
                                         Template)
from minigpt4_jax.text.tokens import tokenize_text, tokenize_with_image
from minigpt4_jax.tokenizer import load_tokenizer, train_tokenizer

Q = 3
BOS, EOS = 1, 2
SPECIALS = {'<s>': BOS, '</s>': EOS, '<unk>': 0}
QUESTION = 'What is in this picture?'
ANSWER = 'A cat sits on a red sofa.'
CORPORA = {
    'inst': [
        '[INST] <Img><ImageHere></Img> Describe this image in detail. [/INST] A cat.',
        'x[INST] y [/INST]z [INST]] INST [INST', '###Human: What is it? ###Assistant: A dog.',
        MINIGPT4_SYSTEM, VICUNA_V1_SYSTEM + ' USER: hi ASSISTANT: hello',
        'a cat sits on a red sofa, one two three; a rocket on the pad.',
    ] * 20,
    'sparse': ['[INST] [ INST ] [[ ]] </Img> <Img> what is in this picture?',
               'USER: ASSISTANT: a cat sits on a red sofa.', ' [INST] x'] * 10,
}


class Oracle:
  """Ids of text under the originals' rules, from the sentencepiece model alone."""

  def __init__(self, model_file: str):
    self.prefixed = spm.SentencePieceProcessor(model_file=model_file)
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(open(model_file, 'rb').read())
    proto.normalizer_spec.add_dummy_prefix = False
    self.bare = spm.SentencePieceProcessor(model_proto=proto.SerializeToString())

  def legacy(self, text: str) -> list[int]:
    """transformers 4.30 slow ``tokenize`` + ``convert_tokens_to_ids`` (no BOS)."""
    ids = []
    for piece in re.split('(<s>|</s>|<unk>)', text):
      if piece in SPECIALS:
        ids.append(SPECIALS[piece])
      elif piece:
        ids += self.prefixed.encode(piece)
    return ids

  def non_legacy(self, text: str) -> list[int]:
    """``LlamaTokenizer(legacy=False)``: the prefix only at the text's start."""
    ids = []
    for i, piece in enumerate(re.split('(<s>|</s>|<unk>)', text)):
      if piece in SPECIALS:
        ids.append(SPECIALS[piece])
      elif piece:
        ids += (self.prefixed if i == 0 else self.bare).encode(piece)
    return ids

  def with_image(self, text: str, rule) -> list[int]:
    """BOS, then the pieces around <ImageHere> each tokenized apart (MiniGPT-4's
    ``get_context_emb`` / LLaVA's ``tokenizer_image_token``), Q image slots between."""
    ids = [BOS]
    for i, piece in enumerate(text.split('<ImageHere>')):
      ids += [IMAGE_TOKEN_ID] * Q if i else []
      ids += rule(piece) if piece else []
    return ids


@pytest.fixture(scope='module', params=sorted(CORPORA))
def pair(request, tmp_path_factory):
  """(project tokenizer, oracle, corpus name) over one freshly trained sentencepiece model."""
  out = tmp_path_factory.mktemp(f'sp_{request.param}')
  train_tokenizer(out, CORPORA[request.param], vocab_size=400)
  oracle = Oracle(str(out / 'tokenizer.model'))
  for piece in ('▁[', '[', 'INST', ']', '</s>'):
    assert oracle.prefixed.piece_to_id(piece) != oracle.prefixed.unk_id(), piece
  return load_tokenizer(out), oracle, request.param


def chat_prompt(template: Template, turns: int) -> str:
  conversation = Conversation(template)
  conversation.add_image()
  conversation.ask(QUESTION)
  conversation.open_answer()
  for _ in range(turns - 1):
    conversation.close_answer(ANSWER)
    conversation.ask('And the sofa?')
    conversation.open_answer()
  return conversation.prompt()


# The originals' chat prompts, written out (minigpt4/conversation/conversation.py at
# ef1ac08 and HEAD; llava/conversation.py conv_vicuna_v1).
CHAT = {
    ('vicuna_v0', 1): f'{MINIGPT4_SYSTEM}###Human: <Img><ImageHere></Img> {QUESTION}###Assistant: ',
    ('llama2', 1): f'{MINIGPT4_SYSTEM}<s>[INST] <Img><ImageHere></Img> {QUESTION} [/INST] ',
    ('llama2', 2): (f'{MINIGPT4_SYSTEM}<s>[INST] <Img><ImageHere></Img> {QUESTION} [/INST] '
                    f'{ANSWER}<s>[INST] And the sofa? [/INST] '),
    ('minigptv2', 1): f'<s>[INST] <Img><ImageHere></Img> {QUESTION} [/INST]',
    ('minigptv2', 2): (f'<s>[INST] <Img><ImageHere></Img> {QUESTION} [/INST]{ANSWER}'
                       '<s>[INST] And the sofa? [/INST]'),
    ('v1', 1): f'{VICUNA_V1_SYSTEM} USER: <ImageHere>\n{QUESTION} ASSISTANT:',
    ('v1', 2): (f'{VICUNA_V1_SYSTEM} USER: <ImageHere>\n{QUESTION} ASSISTANT: {ANSWER}</s>'
                'USER: And the sofa? ASSISTANT:'),
}
TEMPLATES = {t.name: t for t in (VICUNA_V0, LLAMA2, MINIGPTV2, V1, PLAIN)}


@pytest.mark.parametrize('name, turns', sorted(CHAT))
def test_chat_ids_equal_the_oracle(pair, name, turns):
  tokenizer, oracle, _ = pair
  template = TEMPLATES[name]
  text = chat_prompt(template, turns)
  assert text == CHAT[name, turns]
  rule = oracle.legacy if template.split_specials else oracle.non_legacy
  ours = tokenize_with_image(tokenizer, text, Q, split_specials=template.split_specials)
  assert ours == oracle.with_image(text, rule)


def test_llama2_chat_sees_the_legacy_pieces(pair):
  """The issue's case: '<s>[INST] <Img>' after the system text is <s> ▁[ INST ] ▁< ..."""
  tokenizer, oracle, _ = pair
  ids = tokenize_with_image(tokenizer, CHAT['llama2', 1], Q, split_specials=True)
  at = ids.index(BOS, 1)
  assert ids[at:at + 4] == [BOS, *[oracle.prefixed.piece_to_id(p) for p in ('▁[', 'INST', ']')]]


def minigpt4_rows(oracle, prompt: str, answers: list[str], cap: int) -> tuple[list, list]:
  """mini_gpt4.py (ef1ac08): [BOS] prompt pieces [answer + end_sym, cut to cap]."""
  ids = oracle.with_image(prompt, oracle.legacy)
  mask = [0] * len(ids)
  for answer in answers:
    answer_ids = oracle.legacy(answer)[:cap] if cap else oracle.legacy(answer)
    ids, mask = ids + answer_ids, mask + [1] * len(answer_ids)
  return ids, mask


def encode(tokenizer, layout: SequenceLayout, sample, index: int = 0) -> tuple[list, list]:
  batch = SequenceEncoder(tokenizer, layout).encode([sample], index)
  n = int(batch['attention_mask'].sum())
  return batch['input_ids'][0, :n].tolist(), batch['target_mask'][0, :n].astype(int).tolist()


@pytest.mark.parametrize('template, prompt, end_sym', [
    (VICUNA_V0, '###Human: {} ###Assistant: ', '###'),
    (LLAMA2, '[INST] {} [/INST] ', '</s>'),
])
@pytest.mark.parametrize('cap', [160, 5])
def test_minigpt4_stage2_ids_equal_the_oracle(pair, template, prompt, end_sym, cap):
  tokenizer, oracle, _ = pair
  layout = SequenceLayout(template, ALIGNMENT_INSTRUCTIONS, cap, 0, Q)
  for index, instruction in enumerate(ALIGNMENT_INSTRUCTIONS):
    expected = minigpt4_rows(oracle, prompt.format(instruction), [ANSWER + end_sym], cap)
    assert encode(tokenizer, layout, ANSWER, index) == expected


def test_plain_ids_equal_the_oracle(pair):
  """MiniGPT-4 stage 1 on a caption and LLaVA's plain on its conversation: the same ids."""
  tokenizer, oracle, _ = pair
  expected = minigpt4_rows(oracle, '<ImageHere>', [ANSWER + '\n'], 0)
  conversation = [{'from': 'human', 'value': '<image>\nDescribe it.'},
                  {'from': 'gpt', 'value': ANSWER}]
  assert encode(tokenizer, SequenceLayout(PLAIN, (), 32, 0, Q), ANSWER) == expected
  assert encode(tokenizer, SequenceLayout(PLAIN, (), 0, 2048, Q), conversation) == expected


def test_minigptv2_ids_equal_the_oracle(pair):
  """minigpt_base.py (HEAD): '[INST] {}  [/INST]' (the dataset's trailing space, then the
  template's), answers + '</s>', later turns after the text '<s>'."""
  tokenizer, oracle, _ = pair
  conversation = [{'from': 'human', 'value': f'<image>\n{QUESTION}'},
                  {'from': 'gpt', 'value': ANSWER},
                  {'from': 'human', 'value': 'And the sofa?'},
                  {'from': 'gpt', 'value': 'Red.'}]
  ids, mask = oracle.with_image(f'[INST] <Img><ImageHere></Img> {QUESTION}  [/INST]',
                                oracle.legacy), []
  mask = [0] * len(ids)
  for text, supervised in ((f'{ANSWER}</s>', 1), ('<s>[INST] And the sofa?  [/INST]', 0),
                           ('Red.</s>', 1)):
    piece = oracle.legacy(text)
    ids, mask = ids + piece, mask + [supervised] * len(piece)
  assert encode(tokenizer, SequenceLayout(MINIGPTV2, (), 0, 256, Q), conversation) == (ids, mask)
  single = encode(tokenizer, SequenceLayout(MINIGPTV2, (f'<Img><ImageHere></Img> {QUESTION}',),
                                            160, 0, Q), ANSWER)
  assert single == minigpt4_rows(
      oracle, f'[INST] <Img><ImageHere></Img> {QUESTION}  [/INST]', [f'{ANSWER}</s>'], 160)


def llava_v1_labels(oracle, conversation: str) -> list[int] | None:
  """llava/train/train.py:preprocess_v1's token counting (non-legacy tokenizer,
  tokenizers >= 0.14): 1 where the label is kept; None where the count misses the
  sequence's length (LLaVA then masks the whole sample: "tokenization mismatch")."""
  ids = oracle.with_image(conversation, oracle.non_legacy)
  keep = [1] * len(ids)
  keep[0] = 0
  cur = 1
  for i, round_text in enumerate(conversation.split('</s>')):
    if not round_text:
      break
    parts = round_text.split(' ASSISTANT: ')
    if len(parts) != 2:
      break
    round_len = len(oracle.with_image(round_text, oracle.non_legacy))
    instruction_len = len(oracle.with_image(parts[0] + ' ASSISTANT: ', oracle.non_legacy)) - 2
    if i:
      round_len, instruction_len = round_len - 1, instruction_len - 1
    keep[cur:cur + instruction_len] = [0] * instruction_len
    cur += round_len
  keep[cur:] = [0] * (len(keep) - cur)
  return keep if cur == len(ids) else None


def test_llava_v1_ids_and_labels_equal_the_oracle(pair):
  tokenizer, oracle, _ = pair
  conversation = [{'from': 'human', 'value': f'{QUESTION}\n<image>'},
                  {'from': 'gpt', 'value': ANSWER},
                  {'from': 'human', 'value': 'And the sofa?'},
                  {'from': 'gpt', 'value': 'Red.'}]
  text = (f'{VICUNA_V1_SYSTEM} USER: <ImageHere>\n{QUESTION} ASSISTANT: {ANSWER}</s>'
          'USER: And the sofa? ASSISTANT: Red.</s>')
  ids, mask = encode(tokenizer, SequenceLayout(V1, (), 0, 512, Q), conversation)
  assert ids == oracle.with_image(text, oracle.non_legacy)
  labels = llava_v1_labels(oracle, text)
  # LLaVA's '-1' correction for later rounds assumes a vocabulary where the standalone
  # round gains one token; the sparse one breaks it (LLaVA would drop the sample).
  assert (labels is None) == (pair[2] == 'sparse')
  if labels is not None:
    assert mask == labels


@pytest.mark.parametrize('text', [' leading space', 'x </s> y', 'a</s>USER: b', '  two  spaces ',
                                  '<s>[INST] q [/INST]', '<unk>x', '\n a'])
def test_legacy_rule_equals_the_oracle_where_transformers_5_differs(pair, text):
  """Pieces that start with a space or follow a special token: transformers 5's
  LlamaTokenizer writes one '▁' where 4.30 (and sentencepiece) write two, or none."""
  tokenizer, oracle, _ = pair
  assert tokenize_text(tokenizer, text, split_specials=True) == oracle.legacy(text)
