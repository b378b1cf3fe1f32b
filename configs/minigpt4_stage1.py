r"""MiniGPT-4 stage 1: align the projector on LAION + CC/SBU image-caption shards.

Faithful to train_configs/minigpt4_stage1_pretrain.yaml: 20,000 steps of 256
(4 GPUs x 64), AdamW lr 1e-4 -> 8e-5 cosine after 5,000 warmup steps from 1e-6,
weight decay 0.05, LAION:CC/SBU = 115:14, no prompt, caption + "\n", <= 32 tokens.

  python -m launch.train --config configs/minigpt4_stage1.py:vicuna13b \
      --workdir runs/stage1 --config.init_from=ckpt/vicuna13b \
      --config.data.train_shards="('laion/{00000..10488}.tar','cc_sbu/{00000..01255}.tar')"

Presets (after the colon, comma-separated): an LLM (vicuna7b, vicuna13b, llama2_7b)
and optionally one ablation (mlp3, no_qformer, train_qformer).
"""

from configs import presets
from minigpt4_jax.train.config import base_config


def get_config(arg: str = 'vicuna13b'):
  c = base_config()
  c.data.kind = 'webdataset'
  c.data.train_shards = ('laion/{00000..10488}.tar', 'cc_sbu/{00000..01255}.tar')
  c.data.weights = (115.0, 14.0)
  c.data.augment = True          # RandomResizedCrop(224, 0.5-1.0) as trained (before Nov 2023)
  c.data.clean_captions = True   # blip_caption, max 50 words
  # Batches padded to their longest caption rounded up to 8: of the 72 columns (BOS, 32
  # image tokens, <= 32 caption tokens, rounded up) a batch of BLIP captions needs 56 or
  # 64; five shapes at most, each compiled once (BENCHMARKS.md, "Length bucketing").
  c.text.pad_multiple = 8
  c.train.steps = 20_000
  c.train.batch_size = 256
  c.train.lr, c.train.min_lr, c.train.warmup_lr = 1e-4, 8e-5, 1e-6
  c.train.warmup_steps = 5000
  c.train.checkpoint_every = 1000
  presets.apply(c, arg, stage=1)
  return c.lock()
