r"""MiniGPT-4 stage 2: finetune the projector on cc_sbu_align inside the template.

Faithful to train_configs/minigpt4_stage2_finetune.yaml: 5 x 200 = 1,000 steps of
12 (the paper says 400), AdamW lr 3e-5 -> 1e-5 cosine after 200 warmup steps,
'###Human: {} ###Assistant: ' around one of the four alignment instructions per
batch, answer + '###' (Llama-2: '[INST] {} [/INST] ' and '</s>'), <= 160 tokens.

  python -m launch.train --config configs/minigpt4_stage2.py:vicuna13b \
      --workdir runs/stage2 --config.init_from=runs/stage1 \
      --config.data.align_dir=cc_sbu_align
"""

from configs import presets
from minigpt4_jax.train.config import base_config


def get_config(arg: str = 'vicuna13b'):
  c = base_config()
  c.data.kind = 'align'
  c.data.align_dir = 'cc_sbu_align'
  c.data.augment = True
  c.data.clean_captions = False  # stage-2 answers are used raw
  c.train.steps = 1000
  c.train.batch_size = 12
  c.train.lr, c.train.min_lr, c.train.warmup_lr = 3e-5, 1e-5, 1e-6
  c.train.warmup_steps = 200
  c.train.log_every = 10
  c.train.checkpoint_every = 200
  presets.apply(c, arg, stage=2)
  return c.lock()
