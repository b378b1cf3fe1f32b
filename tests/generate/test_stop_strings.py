"""Stop strings: every tokenization stops, at the right token; answers are trimmed."""

import jax.numpy as jnp
import numpy as np
import pytest

from minigpt4_jax.generate.config import GenerationConfig
from minigpt4_jax.generate.generator import Generator
from minigpt4_jax.generate.stop_strings import StopTables, settled_prefix
from minigpt4_jax.text.templates import cut_at_stop, postprocess
from tests.generate.conftest import MAX_NEW, spliced_prompts


def first_hit(tables: StopTables, sequence: list[int]) -> int | None:
  """Index of the token at which the automaton reports a stop string."""
  state = jnp.zeros((1, tables.num_strings), jnp.int32)
  for i, token in enumerate(sequence):
    state, hit = tables.advance(state, jnp.asarray([token]))
    if bool(hit[0]):
      return i
  return None


def first_in_text(tokenizer, strings, sequence: list[int]) -> int | None:
  """The same, read off transformers' decoded text of every prefix."""
  for i in range(len(sequence)):
    text = tokenizer.decode(sequence[:i + 1], skip_special_tokens=True)
    if any(s in text for s in strings):
      return i
  return None


def ids_of(tokenizer, pieces: list[str]) -> list[int]:
  return tokenizer.convert_tokens_to_ids(pieces)


def test_every_tokenization_of_hashes_stops(tokenizer):
  tables = StopTables.build(tokenizer, ('###',), len(tokenizer))
  word = ids_of(tokenizer, ['▁a'])
  ways = [['###'], ['▁###'], ['##', '#'], ['#', '##'], ['#', '#', '#'],
          ['<0x23>', '<0x23>', '<0x23>'], ['<0x23>', '##'], ['#', '<0x23>', '#']]
  for pieces in ways:
    sequence = word + ids_of(tokenizer, pieces) + word
    assert first_hit(tables, sequence) == len(pieces), pieces
  # '##' + space + '#' is not '###'; '####' hits at its third '#'.
  assert first_hit(tables, ids_of(tokenizer, ['##', '▁', '#'])) is None
  assert first_hit(tables, ids_of(tokenizer, ['#', '#', '#', '#'])) == 2


def test_automaton_agrees_with_decoded_text(tokenizer):
  """Random token strings rich in '#' pieces and template words: the automaton stops
  exactly where transformers' decoded text first contains a stop string."""
  strings = ('###', 'Human:')
  tables = StopTables.build(tokenizer, strings, len(tokenizer))
  pool = ids_of(tokenizer, ['#', '##', '###', '▁###', '<0x23>', '▁', '<0x3A>', '</s>'])
  pool += tokenizer('Human: a Human:', add_special_tokens=False).input_ids
  rng = np.random.default_rng(0)
  for _ in range(150):
    sequence = rng.choice(pool, size=8).tolist()
    assert first_hit(tables, sequence) == first_in_text(tokenizer, strings, sequence), (
        tokenizer.convert_ids_to_tokens(sequence))


def test_generation_stops_at_a_stop_string_and_it_is_trimmed(model, tokenizer):
  """Pick a word the model says mid-answer; with it as a stop string the answer ends
  at that token and the text is cut before it."""
  embeds, mask = spliced_prompts(model, [20])
  greedy = GenerationConfig(max_new_tokens=MAX_NEW, do_sample=False, min_new_tokens=0)
  free = Generator(model.llm).generate(embeds, mask, greedy).sequences()[0]
  pieces = tokenizer.convert_ids_to_tokens(free)
  stop = next(p.lstrip('▁') for p in pieces[6:] if p.lstrip('▁').isalpha())
  expected_end = first_in_text(tokenizer, (stop,), free)

  stopped = Generator(model.llm, stops=StopTables.build(tokenizer, (stop,), len(tokenizer)))
  out = stopped.generate(embeds, mask, greedy)
  assert out.sequences()[0] == free[:expected_end + 1]
  assert out.ended[0]
  text = tokenizer.decode(out.sequences()[0], skip_special_tokens=True)
  assert stop in text and stop not in cut_at_stop(text, (stop,))
  assert postprocess(text, (stop,)) == text[:text.index(stop)].split('Assistant:')[-1].strip()


@pytest.mark.parametrize('text, settled', [
    ('a cat##', 'a cat'), ('a cat###Human', 'a cat'), ('a cat #', 'a cat '), ('a cat', 'a cat'),
])
def test_streaming_holds_back_a_possible_stop_string(text, settled):
  assert settled_prefix(text, ('###',)) == settled


def test_postprocess_as_minigpt4():
  assert postprocess(' The cat.###Human: more', ('###',)) == 'The cat.'
  assert postprocess('Assistant: Yes. Assistant: No.', ('###',)) == 'No.'
