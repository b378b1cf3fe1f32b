r"""The embedded default: tiny pretrained towers + the bundled demo data, minutes on a CPU.

  python -m launch.train --config configs/tiny.py:stage1 --workdir runs/tiny_stage1
  python -m launch.train --config configs/tiny.py:stage2 --workdir runs/tiny_stage2 \
      --config.init_from=runs/tiny_stage1

Same code path as the real stages (configs/minigpt4_stage{1,2}.py with the 'tiny'
LLM preset), only smaller. Stage 1 starts from the bundled tiny converted checkpoint
(a tiny LLaMA pretrained on the demo texts, and a ViT + Q-Former pretrained on the demo
photographs against it, then frozen, as EVA-CLIP and BLIP-2 were pretrained before
MiniGPT-4; see ``minigpt4_jax/tools/tiny_checkpoint.py``), so the loss falls as the
fresh projector learns to tell the frozen LLM which photograph it is looking at. Stage 2
trains in the chat layout (``vicuna_v0_chat``) and ends by printing greedy descriptions
of three demo photographs (``describe_images``).
"""

import pathlib

from configs import minigpt4_stage1, minigpt4_stage2
from minigpt4_jax.bundled import demo_paths
from minigpt4_jax.bundled import TINY_CHECKPOINT

# The demo photographs stage 2 describes when it ends.
DESCRIBED = ('chelsea', 'coffee', 'astronaut')


def get_config(arg: str = 'stage1'):
  if arg not in ('stage1', 'stage2'):
    raise ValueError(f'configs/tiny.py: preset must be stage1 or stage2, got {arg!r}')
  demo = demo_paths()
  if arg == 'stage1':
    c = minigpt4_stage1.get_config('tiny').unlock()
    c.init_from = str(TINY_CHECKPOINT)
    c.data.train_shards = (demo.shards,)
    c.data.weights = (1.0,)
    c.train.steps = 300
    c.train.lr, c.train.min_lr, c.train.warmup_lr = 3e-3, 3e-4, 1e-5
    c.train.warmup_steps = 20
    c.text.pad_multiple = 0  # one compilation of the step for the CPU demo and tests
  else:
    c = minigpt4_stage2.get_config('tiny').unlock()
    c.data.align_dir = demo.align_dir
    # MiniGPT-4 trains stage 2 without the system message it chats with; the tiny LLM
    # does not bridge that gap (chat gave one answer for most photographs), so the tiny
    # stage 2 trains in the chat layout (text/templates.py, VICUNA_V0_CHAT).
    c.text.template = 'vicuna_v0_chat'
    c.train.steps = 300
    c.train.lr, c.train.min_lr, c.train.warmup_lr = 1e-3, 1e-4, 1e-5
    c.train.warmup_steps = 10
    c.describe_images = tuple(str(pathlib.Path(demo.image_dir) / f'{name}.jpg')
                              for name in DESCRIBED)
  c.model.dtype = 'float32'  # XLA's CPU bf16 matmuls are emulated and slow
  c.data.num_workers = 0
  c.train.batch_size = 8
  c.train.log_every = 10
  c.train.checkpoint_every = 50
  return c.lock()
