r"""The embedded LLaVA default: tiny pretrained towers + the bundled demo data, minutes on a CPU.

  python -m launch.train --config configs/tiny_llava.py:stage1 --workdir runs/tiny_llava1
  python -m launch.train --config configs/tiny_llava.py:stage2 --workdir runs/tiny_llava2 \
      --config.init_from=runs/tiny_llava1
  python -m launch.chat --ckpt runs/tiny_llava2 --image minigpt4_jax/data/demo/cc_sbu_align/image/chelsea.jpg

Same code path as configs/llava_stage{1,2}.py (plain then v1 templates, projector
then projector + LLM, FSDP mesh and rematerialisation in stage 2) on the 'tiny_llava'
architecture (CLIP 224 px / 28 px patches = 64 image tokens, 2-layer LLaMA) and the
16 demo photographs as LLaVA JSON (minigpt4_jax/tools/llava_demo.py). Stage 1 starts
from the bundled tiny LLaVA checkpoint (the tiny MiniGPT-4's pretrained LLM and a CLIP
tower pretrained on the demo photographs against it; see
``minigpt4_jax/tools/tiny_llava_checkpoint.py``).
"""

import pathlib

from configs import llava_stage1, llava_stage2
from configs.tiny import DESCRIBED
from minigpt4_jax.bundled import demo_paths
from minigpt4_jax.bundled import TINY_LLAVA_CHECKPOINT


def get_config(arg: str = 'stage1'):
  if arg not in ('stage1', 'stage2'):
    raise ValueError(f'configs/tiny_llava.py: preset must be stage1 or stage2, got {arg!r}')
  demo = demo_paths()
  stage = llava_stage1 if arg == 'stage1' else llava_stage2
  c = stage.get_config('v15_7b').unlock()
  c.model.preset = 'tiny_llava'
  c.data.image_size = 224
  c.data.llava_image_dir = demo.image_dir
  if arg == 'stage1':
    c.init_from = str(TINY_LLAVA_CHECKPOINT)
    c.data.llava_json = demo.llava_pretrain_json
    c.text.max_length = 96      # BOS + 64 image tokens + a caption (<= 84 on the demo)
    c.train.steps = 200
    c.train.lr = 3e-3
  else:
    c.data.llava_json = demo.llava_instruct_json
    c.text.max_length = 272     # the two-turn demo conversations (<= 262 tokens)
    c.text.pad_multiple = 64
    # 300 steps: at 150 the description turns are learnt but the yes/no questions not yet
    # (tiny POPE 56, VQAv2 75; at 300: 69 and 88, descriptions unchanged).
    c.train.steps = 300
    c.train.lr = 1e-3
    c.describe_images = tuple(str(pathlib.Path(demo.image_dir) / f'{name}.jpg')
                              for name in DESCRIBED)
  c.train.warmup_steps = 10
  c.model.dtype = 'float32'     # XLA's CPU bf16 matmuls are emulated and slow
  c.model.remat = 'full' if arg == 'stage2' else 'none'  # exercised, not needed at this size
  c.train.grad_accum = 1        # the 7B's micro-batches fit its HBM; 8 rows fit a CPU
  c.data.num_workers = 0
  c.train.batch_size = 8
  c.train.log_every = 10
  c.train.checkpoint_every = 50
  return c.lock()
