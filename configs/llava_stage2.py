r"""LLaVA-1.5 stage 2 (visual instruction tuning): projector and LLM train, vision frozen.

Faithful to LLaVA's scripts/v1_5/finetune.sh: llava_v1_5_mix665k.json, template v1
(loss on assistant turns only), lr 2e-5, global batch 128, one epoch (665,298 / 128
= 5,198 steps), warmup ratio 0.03 then cosine to 0, weight decay 0,
model_max_length 2048, image_aspect_ratio pad, bf16 compute with float32 master
weights, gradient checkpointing. ZeRO-3's role is played by the ``fsdp`` mesh axis:
parameters, gradients and AdamW state are split over every device.
``:v15_7b,lora`` is finetune_lora.sh: LoRA r 128, alpha 256 on the LLM's linears,
lr 2e-4 (the projector trains beside the adapters, at that lr too; LLaVA
gives it mm_projector_lr 2e-5).

  python -m launch.train --config configs/llava_stage2.py:v15_7b --workdir runs/llava2 \
      --config.init_from=runs/llava1 \
      --config.data.llava_json=playground/data/llava_v1_5_mix665k.json \
      --config.data.llava_image_dir=playground/data
"""

from configs.llava_stage1 import llava_base
from minigpt4_jax import families

SAMPLES = 665_298


def get_config(arg: str = 'v15_7b'):
  name, *options = arg.split(',')
  if set(options) - {'lora'}:
    raise ValueError(f'configs/llava_stage2.py: unknown options {options}; expected "lora"')
  c = llava_base(name, batch_size=128, samples=SAMPLES)
  c.text.template = 'v1'
  c.data.llava_json = 'playground/data/llava_v1_5_mix665k.json'
  c.data.llava_image_dir = 'playground/data'
  c.mesh.data, c.mesh.fsdp = 1, -1  # ZeRO-3: shard everything over all devices
  if 'lora' in options:
    c.model.lora_rank, c.model.lora_alpha = 128, 256.0
    c.train.trainable = families.get('llava').stage_trainable('stage2_lora')
    c.train.lr = 2e-4
  else:
    c.train.trainable = families.get('llava').stage_trainable('stage2')
    c.train.lr = 2e-5
    if name != 'v15_13b':
      # 7B: keep o_proj's and the MLP's gate/up outputs for the backward ('mlp'), 16 rows
      # at a time. Planned for a v5p-8 (4 chips: 4 rows each), the step recomputes 7.5% of
      # its FLOPs against 'full''s 20.2% (13.8% fewer FLOPs a step) in the HBM 'full'
      # takes for all 128 rows at once: 54.4 GiB a chip (BENCHMARKS.md). 'none' in the same
      # micro-batches recomputes nothing in 64.3 GiB, for chips with that to spare. On more
      # devices than 16 lower train.grad_accum (each micro-batch needs a row per device).
      # 13B keeps 'full' and one pass: 'mlp' in 8 micro-batches needs 102 GiB, over v5p's 95.
      c.model.remat, c.train.grad_accum = 'mlp', 8
  return c.lock()
