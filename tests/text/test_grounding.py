"""Box text as MiniGPT-v2 writes it, and the demo's parser, on hand-worked cases."""

import numpy as np
import pytest
from PIL import Image

from minigpt4_jax import grounding
from minigpt4_jax.grounding import Grounded


def test_box_truncates_toward_zero_relative_to_original_size():
  # A 640x480 COCO box [x=100.9, y=50.5, w=300, h=200.2]: corners 100.9, 50.5, 400.9, 250.7.
  # 100.9/640*100 = 15.77 -> 15; 50.5/480*100 = 10.52 -> 10; 400.9/640*100 = 62.64 -> 62;
  # 250.7/480*100 = 52.23 -> 52 (truncated, never rounded up).
  box = grounding.box_from_xywh([100.9, 50.5, 300, 200.2], width=640, height=480)
  assert box == (15, 10, 62, 52)
  assert grounding.box_text(box) == '{<15><10><62><52>}'


def test_box_is_squashed_x_by_width_y_by_height():
  # The same pixel corner in a wide and a tall image: x follows the width, y the height.
  assert grounding.box_from_corners(200, 200, 400, 400, width=800, height=400) == (25, 50, 50, 100)
  assert grounding.box_from_corners(200, 200, 400, 400, width=400, height=800) == (50, 25, 100, 50)
  # 99.99% of the width truncates to 99; the full width is 100.
  assert grounding.box_from_corners(0, 0, 639.9, 480, 640, 480) == (0, 0, 99, 100)


def test_phrase_and_delim_text():
  text = grounding.phrase_text('two dogs', [(1, 2, 3, 4), (50, 60, 70, 80)])
  assert text == '<p>two dogs</p> {<1><2><3><4>}<delim>{<50><60><70><80>}'


def test_parse_round_trips_written_text():
  answer = (f'{grounding.phrase_text("a man", [(10, 20, 30, 40)])} is walking '
            f'{grounding.phrase_text("two dogs", [(1, 2, 3, 4), (50, 60, 70, 80)])}.')
  assert grounding.parse_grounded(answer) == [
      Grounded('a man', ((10, 20, 30, 40),)),
      Grounded('two dogs', ((1, 2, 3, 4), (50, 60, 70, 80)))]
  assert grounding.strip_box_syntax(answer) == 'a man is walking two dogs.'


@pytest.mark.parametrize('answer, expected', [
    # [refer]: a bare box, no <p>; spaces inside are tolerated (only integers count).
    ('{<12><34><56><78>}', [Grounded('', ((12, 34, 56, 78),))]),
    ('{ <12> <34> <56> <78> }', [Grounded('', ((12, 34, 56, 78),))]),
    # Not 4 integers: nothing.
    ('{<12><34><56>}', []),
    ('it is at 1 2 3 4 and 5', []),
    ('I cannot see a dog.', []),
    # A phrase whose box has 3 integers is dropped; the good one is kept.
    ('<p>cat</p> {<1><2><3>} and <p>dog</p> {<5><6><7><8>}', [Grounded('dog', ((5, 6, 7, 8),))]),
    # One bad box among delim-joined ones is dropped.
    ('<p>cups</p> {<1><2><3><4>}<delim>{<9>}', [Grounded('cups', ((1, 2, 3, 4),))]),
    # Text after the last '}' is cut, so an unfinished phrase there does not count.
    ('<p>cat</p> {<1><2><3><4>} and <p>dog</p> {<5><6>', [Grounded('cat', ((1, 2, 3, 4),))]),
    # Negative integers are read as the demo's -?\d+ reads them.
    ('{<-1><2><3><4>}', [Grounded('', ((-1, 2, 3, 4),))]),
    # <p> present but no box: no bare-box fallback.
    ('<p>cat</p> 1 2 3 4', []),
])
def test_parse_edge_cases(answer, expected):
  assert grounding.parse_grounded(answer) == expected


def test_to_pixels():
  assert grounding.to_pixels((10, 20, 50, 100), width=500, height=300) == (50.0, 60.0, 250.0, 300.0)


def test_draw_puts_the_phrase_colour_on_the_box_outline():
  image = Image.new('RGB', (1000, 600), (128, 128, 128))
  drawn = grounding.draw_grounded(image, [Grounded('dog', ((10, 20, 50, 60),)),
                                          Grounded('', ((60, 60, 90, 90),))])
  assert drawn.size == (500, 300)  # the demo's width 500, aspect kept
  pixels = np.asarray(drawn)
  # Box 1 spans x 50..250, y 60..180: its bottom edge is red, its inside untouched.
  assert tuple(pixels[180, 150]) == grounding.COLORS[0]
  assert tuple(pixels[120, 150]) == (128, 128, 128)
  # Box 2 (second colour) right edge at x = 450.
  assert tuple(pixels[240, 450]) == grounding.COLORS[1]
  # The label strip sits inside box 1's top-left corner in its colour.
  assert tuple(pixels[63, 53]) == grounding.COLORS[0]
