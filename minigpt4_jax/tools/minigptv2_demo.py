"""Six of the bundled demo photographs with hand-drawn boxes, as MiniGPT-v2 training
samples (``configs/tiny_minigptv2.py``).

Written by ``python -m minigpt4_jax.tools.minigptv2_demo`` to ``demo/minigptv2/
grounding.json`` (``bundled.demo_paths().minigptv2_grounding_json``); the images are
the cc_sbu_align demo folder's. Per photograph: its
[grounding] samples (a caption with every phrase boxed), and per box its [refer] and
[identify] samples, with the box text of ``minigpt4_jax.grounding``; one sample per
instruction of the pools below.
"""

from __future__ import annotations

import pathlib

from PIL import Image

from minigpt4_jax import grounding
from minigpt4_jax.bundled import demo_paths
from minigpt4_jax.cli import parse_no_arguments
from minigpt4_jax.families.minigptv2 import task_prompt
from minigpt4_jax.tools import minigptv2_samples as v2data

# photograph -> (caption with {0}, {1}, ... for its phrases, [(phrase, pixel corners)]),
# boxes drawn by eye on the 256-px demo images.
DEMO_BOXES: dict[str, tuple[str, list[tuple[str, tuple[int, int, int, int]]]]] = {
    'astronaut': ('{0} in an orange space suit stands before {1}, holding {2}.',
                  [('a smiling woman', (75, 8, 152, 95)), ('a space shuttle', (175, 0, 232, 140)),
                   ('a black helmet', (140, 170, 250, 256))]),
    'chelsea': ('{0} looks at the camera with {1}.',
                [('a tabby cat', (0, 0, 256, 170)), ('green eyes', (75, 45, 200, 90))]),
    'coffee': ('{0} of espresso with {1} rests on {2}.',
               [('a red cup', (73, 5, 178, 110)), ('a spoon', (135, 90, 180, 140)),
                ('a saucer', (32, 30, 205, 168))]),
    'rocket': ('{0} waits on the pad between {1} at night.',
               [('a rocket', (112, 50, 137, 165)), ('launch towers', (0, 0, 256, 165))]),
    'camera': ('{0} looks through {1} standing on {2}.',
               [('a man', (0, 30, 170, 256)), ('a camera', (125, 65, 165, 95)),
                ('a tripod', (115, 95, 205, 256))]),
    'stereo_motorcycle': ('{0} is parked in a garage.',
                          [('a red motorcycle', (38, 30, 238, 158))]),
}

# Every instruction the demo may be asked with: the original's [grounding] pool plus the
# demo's shortcut ('[grounding] describe this image in detail'); every [refer] pattern
# (RefCOCO's evaluation asks '[refer] give me the location of {}', the chat's --task
# refer '[refer] {}'); two [identify] patterns.
GROUNDING_INSTRUCTIONS = (*v2data.GROUNDING_POOL, task_prompt('grounding', ''))
IDENTIFY_INSTRUCTIONS = v2data.IDENTIFY_POOL[:2]


def demo_grounding_samples() -> list[dict]:
  image_dir = pathlib.Path(demo_paths().image_dir)
  samples = []
  for name, (caption, boxes) in DEMO_BOXES.items():
    image = f'{name}.jpg'
    width, height = Image.open(image_dir / image).size
    grid = [grounding.box_from_corners(*corners, width, height) for _, corners in boxes]
    grounded = caption.format(*(grounding.phrase_text(p, [b]) for (p, _), b in zip(boxes, grid)))
    for k, instruction in enumerate(GROUNDING_INSTRUCTIONS):
      samples.append(v2data.conversation(f'{name}-grounding-{k}', image, instruction, grounded))
    for n, ((phrase, _), box) in enumerate(zip(boxes, grid)):
      text = grounding.box_text(box)
      for k, pattern in enumerate(v2data.REFER_POOL):
        samples.append(v2data.conversation(f'{name}-refer-{n}-{k}', image, pattern.format(phrase),
                                           text))
      for k, pattern in enumerate(IDENTIFY_INSTRUCTIONS):
        samples.append(v2data.conversation(f'{name}-identify-{n}-{k}', image,
                                           pattern.format(text), phrase))
  return samples

if __name__ == '__main__':
  parse_no_arguments('python -m minigpt4_jax.tools.minigptv2_demo', __doc__)
  out = pathlib.Path(demo_paths().minigptv2_grounding_json)
  out.parent.mkdir(parents=True, exist_ok=True)
  v2data.write_samples(demo_grounding_samples(), out)
  print(f'wrote {out}')
