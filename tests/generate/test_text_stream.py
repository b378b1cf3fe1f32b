"""A streamed answer with byte-fallback tokens: the pieces join to the non-streamed text
(the tokenizer's own decode), nothing is held back once the bytes are settled, and a
split character is never shown half-decoded. (Before, the two cases where a valid
run turns invalid stopped the stream at 'theé' and 'lasté'.)"""

import pytest

from minigpt4_jax.bundled import TINY_TOKENIZER
from minigpt4_jax.generate.text_stream import TextStream, decoded
from minigpt4_jax.text.templates import postprocess
from minigpt4_jax.tokenizer import load_tokenizer

TOKENIZER = load_tokenizer(TINY_TOKENIZER)
STOPS = ('###',)


def ids(*parts) -> list[int]:
  """Bytes as their ``<0xNN>`` tokens, strings as the tokenizer encodes them."""
  out = []
  for part in parts:
    if isinstance(part, int):
      out.append(TOKENIZER.convert_tokens_to_ids(f'<0x{part:02X}>'))
    else:
      out += TOKENIZER.encode(part, add_special_tokens=False)
  return out


ANSWERS = {
    'split characters': ids('a dog', 0xE4, 0xB8, 0xAD, 0xC3, 0xA9, ' runs'),
    'valid then invalid in one run': ids('the', 0xC3, 0xA9, 0xE4, ' cat sat'),
    'a lone continuation byte': ids('x', 0x80, 0x80, ' y z'),
    'an invalid byte then a character': ids('q', 0xFF, 0xE4, 0xB8, 0xAD, ' end'),
    'a truncated character at the end': ids('last', 0xE4, 0xB8),
    'an invalid run at the end': ids('last', 0xC3, 0xA9, 0xE4),
    'a stop string after bytes': ids('ok', 0xC3, 0xA9, '###', ' never'),
}


def stream(tokens: list[int], chunk: int) -> tuple[list[str], str]:
  """(pieces shown while generating, the piece the final answer adds)."""
  text = TextStream(TOKENIZER, STOPS)
  pieces = [text.update(tokens[:end]) for end in range(chunk, len(tokens) + chunk, chunk)]
  return [p for p in pieces if p], text.finish(postprocess(decoded(TOKENIZER, tokens), STOPS))


@pytest.mark.parametrize('chunk', [1, 3])
@pytest.mark.parametrize('name', ANSWERS)
def test_pieces_join_to_the_whole_answer(name, chunk):
  tokens = ANSWERS[name]
  whole = postprocess(decoded(TOKENIZER, tokens), STOPS)
  assert any(TOKENIZER.convert_ids_to_tokens(t).startswith('<0x') for t in tokens)
  pieces, last = stream(tokens, chunk)
  assert ''.join(pieces) + last == whole


@pytest.mark.parametrize('name', ['split characters', 'valid then invalid in one run',
                                  'a lone continuation byte', 'an invalid byte then a character'])
def test_everything_is_shown_before_the_end(name):
  """Where the answer ends in ordinary tokens, the whole text streams before finish."""
  pieces, last = stream(ANSWERS[name], 1)
  assert last == '' and ''.join(pieces) == postprocess(decoded(TOKENIZER, ANSWERS[name]), STOPS)


def test_invalid_bytes_read_as_the_tokenizer_replaces_them():
  # 'é' alone decodes, but the run C3 A9 E4 is invalid: the tokenizer gives a U+FFFD per byte.
  assert stream(ANSWERS['valid then invalid in one run'], 1)[0][:2] == ['the', '\ufffd' * 3 + ' cat']
  assert ''.join(stream(ANSWERS['split characters'], 1)[0]) == 'a dog中é runs'


def test_a_byte_run_waits_for_the_token_that_ends_it():
  """Complete or not, a valid run is held: one more invalid byte would turn it all into
  U+FFFDs. The token after it settles it."""
  tokens = ids('a', 0xE4, 0xB8, 0xAD, ' b')
  text = TextStream(TOKENIZER, STOPS)
  assert [text.update(tokens[:end]) for end in range(1, 6)] == ['a', '', '', '', '中 b']
