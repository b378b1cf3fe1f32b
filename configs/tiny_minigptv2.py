r"""The tiny MiniGPT-v2 run ('minigptv2_tiny': 448 px, 256 image tokens, 2-layer LLaMA,
LoRA r 8 / alpha 2 on q/v: the same 0.25 scale) trains LoRA + projector on six demo
photographs with hand-drawn boxes (minigpt4_jax/tools/minigptv2_demo.py: [grounding],
[refer] and [identify] samples).

  python -m launch.train --config configs/tiny_minigptv2.py --workdir runs/tiny_v2

It starts from the bundled tiny v2 checkpoint: the tiny MiniGPT-4's pretrained ViT (at
448 px), its LLM trained on further on the v2 layouts and box text, and a projector
trained with that LLM on the demo samples' image features
(minigpt4_jax/tools/tiny_minigptv2_checkpoint.py), as stage 3 starts from stage 2's
ViT, LLM and llama_proj. Same recipe as configs/minigptv2_stage3.py, only smaller.
"""

from configs import minigptv2_stage3
from minigpt4_jax.bundled import TINY_MINIGPTV2_CHECKPOINT, demo_paths
from minigpt4_jax.families.minigptv2 import TINY_LORA


def get_config(arg: str = ''):
  if arg:
    raise ValueError(f'configs/tiny_minigptv2.py takes no preset, got {arg!r}')
  demo = demo_paths()
  c = minigptv2_stage3.get_config().unlock()
  c.model.preset = 'minigptv2_tiny'
  c.init_from = str(TINY_MINIGPTV2_CHECKPOINT)
  c.model.lora_rank, c.model.lora_alpha = TINY_LORA.rank, TINY_LORA.alpha
  c.data.llava_jsons = (demo.minigptv2_grounding_json,)
  c.data.llava_image_dirs = (demo.image_dir,)
  c.data.weights = (1.0,)
  c.data.num_workers = 0
  c.text.max_answer_tokens = 0
  c.text.max_length = 320       # BOS + 256 image tokens + the longest demo sample
  c.model.dtype = 'float32'     # XLA's CPU bf16 matmuls are emulated and slow
  c.train.steps = 200
  c.train.batch_size = 8
  c.train.lr, c.train.min_lr, c.train.warmup_lr = 1e-3, 1e-4, 1e-5
  c.train.warmup_steps = 10
  c.train.log_every = 10
  c.train.checkpoint_every = 100
  return c.lock()
