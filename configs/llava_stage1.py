r"""LLaVA-1.5 stage 1 (feature alignment): train the projector on LCS-558K.

Faithful to LLaVA's scripts/v1_5/pretrain.sh: mlp2x_gelu projector only
(tune_mm_mlp_adapter), template plain, lr 1e-3, global batch 256, one epoch
(558,128 / 256 = 2,181 steps), warmup ratio 0.03 then cosine to 0, weight decay 0,
model_max_length 2048, bf16 with gradient checkpointing, CLIP's own resize and crop
(pretrain.sh leaves image_aspect_ratio at "square"). Our cosine runs over the global
step (LAVIS's schedule, train/schedule.py); HF's runs over the post-warmup steps, a
difference of at most 3% of a period.

  python -m launch.convert --clip clip-vit-large-patch14-336/ --llm vicuna-7b-v1.5/ \
      --out ckpt/llava15_7b_stage0
  python -m launch.train --config configs/llava_stage1.py:v15_7b --workdir runs/llava1 \
      --config.init_from=ckpt/llava15_7b_stage0 \
      --config.data.llava_json=LLaVA-Pretrain/blip_laion_cc_sbu_558k.json \
      --config.data.llava_image_dir=LLaVA-Pretrain/images

Presets: v15_7b, v15_13b (LLaVA-1.5), v1_7b (LLaVA v1: linear projector, 224 px).
"""

import math

from minigpt4_jax import families
from minigpt4_jax.train.config import base_config

SAMPLES = 558_128
PRESETS = {'v15_7b': 'llava_v15_7b', 'v15_13b': 'llava_v15_13b', 'v1_7b': 'llava_v1_7b'}


def llava_base(arg: str, *, batch_size: int, samples: int):
  """What both LLaVA stages share: architecture preset, data kind, LLaVA's schedule."""
  if arg not in PRESETS:
    raise ValueError(f'LLaVA config preset {arg!r}: expected one of {sorted(PRESETS)}')
  c = base_config()
  c.model.preset = PRESETS[arg]  # random init only; a converted checkpoint decides otherwise
  c.model.projector = 'linear' if arg == 'v1_7b' else 'mlp2x_gelu'
  c.model.remat = 'full'         # gradient checkpointing, as LLaVA trains
  c.data.kind = 'llava'
  c.data.image_size = 224 if arg == 'v1_7b' else 336
  c.data.augment = False
  c.data.image_transform = 'pad'  # stage 2's image_aspect_ratio; stage 1 overrides it
  c.text.max_answer_tokens = 0   # LLaVA cuts only the whole sequence:
  c.text.max_length = 2048       # its model_max_length, image tokens included
  # LLaVA pads each batch to its longest sample; multiples of 128 bound the compilations
  # (at most 16) while most batches stay far below 2048.
  c.text.pad_multiple = 128
  c.train.batch_size = batch_size
  c.train.steps = math.ceil(samples / batch_size)  # one epoch
  c.train.warmup_steps = math.ceil(0.03 * c.train.steps)
  c.train.warmup_lr = 0.0
  c.train.min_lr = 0.0
  c.train.weight_decay = 0.0
  c.train.log_every = 10
  c.train.checkpoint_every = 500
  return c


def get_config(arg: str = 'v15_7b'):
  c = llava_base(arg, batch_size=256, samples=SAMPLES)
  c.text.template = 'plain'
  c.train.trainable = families.get('llava').stage_trainable('stage1')
  c.data.llava_json = 'LLaVA-Pretrain/blip_laion_cc_sbu_558k.json'
  c.data.llava_image_dir = 'LLaVA-Pretrain/images'
  c.data.image_transform = 'center_crop'
  c.train.lr = 1e-3
  return c.lock()
