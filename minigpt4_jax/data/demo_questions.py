"""What each bundled demo photograph shows, as words a description must name and as
questions with short answers (tiny POPE and VQA sets, the tiny LLM's question turns).

Keyed by the ``skimage.data`` names of ``demo_texts.DEMO_IMAGES``; every word is taken
from that photograph's caption or description.
"""

from __future__ import annotations

import dataclasses

from minigpt4_jax.data.demo_texts import DEMO_IMAGES


@dataclasses.dataclass(frozen=True)
class DemoFacts:
  subject_words: tuple[str, ...]  # a description names the main subject with one of these
  pope_object: str                # "Is there a {pope_object} in the image?" is answered yes
  question: str                   # a VQA question about the photograph
  answer: str                     # its short answer


DEMO_FACTS: dict[str, DemoFacts] = {
    'astronaut': DemoFacts(('astronaut', 'flight suit', 'space suit', 'nasa'), 'astronaut',
                           'What is the woman wearing?', 'flight suit'),
    'camera': DemoFacts(('camera', 'tripod'), 'camera', 'What is the man looking through?',
                        'camera'),
    'chelsea': DemoFacts(('cat',), 'cat', 'What animal is this?', 'cat'),
    'coffee': DemoFacts(('coffee', 'cup', 'espresso'), 'cup', 'What drink is in the cup?',
                        'espresso'),
    'coins': DemoFacts(('coin',), 'coin', 'What objects are laid out in rows?', 'coins'),
    'hubble_deep_field': DemoFacts(('galaxies', 'space'), 'galaxy',
                                   'What fills the black background?', 'galaxies'),
    'immunohistochemistry': DemoFacts(('tissue', 'microscope', 'cells'), 'microscope',
                                      'What kind of image is this?', 'microscope image'),
    'moon': DemoFacts(('moon', 'lunar'), 'crater', 'What surface is shown?', 'moon'),
    'page': DemoFacts(('page', 'text'), 'page', 'What is printed on the page?', 'text'),
    'retina': DemoFacts(('retina', 'eye'), 'eye', 'What part of the body is shown?', 'eye'),
    'rocket': DemoFacts(('rocket',), 'rocket', 'What stands on the launch pad?', 'rocket'),
    'text': DemoFacts(('handwritten', 'mathematics', 'equations'), 'equation',
                      'What is written on the paper?', 'equations'),
    'stereo_motorcycle': DemoFacts(('motorcycle',), 'motorcycle', 'What is parked in the garage?',
                                   'motorcycle'),
    'brick': DemoFacts(('brick',), 'brick', 'What is the wall made of?', 'bricks'),
    'grass': DemoFacts(('grass',), 'grass', 'What plant fills the frame?', 'grass'),
    'gravel': DemoFacts(('gravel', 'pebbles', 'stones'), 'gravel', 'What covers the ground?',
                        'gravel'),
}


def pope_question(obj: str) -> str:
  """POPE's question form (Li et al. 2023, arXiv:2305.10355, section 3)."""
  return f'Is there a {obj} in the image?'


def pope_answer(obj: str, present: bool) -> str:
  return f'Yes, there is a {obj} in the image.' if present else f'No, there is no {obj} in the image.'


def absent_objects(name: str, count: int) -> list[str]:
  """``count`` POPE objects of the other photographs that this one's texts never name
  (deterministic: the next photographs in ``DEMO_IMAGES`` order)."""
  names = [n for n, _, _ in DEMO_IMAGES]
  texts = {n: f'{c} {d}'.lower() for n, c, d in DEMO_IMAGES}
  start = names.index(name)
  others = [DEMO_FACTS[names[(start + k) % len(names)]].pope_object for k in range(1, len(names))]
  return [o for o in others if o not in texts[name]][:count]
