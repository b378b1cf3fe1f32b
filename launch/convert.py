"""Convert the released MiniGPT-4 or LLaVA checkpoints to a JAX checkpoint (or export a
trained projector back to MiniGPT-4's or LLaVA's own format).

  python -m launch.convert --vision eva_vit_g.pth \\
      --qformer blip2_pretrained_flant5xxl.pth --llm vicuna-13b-v0/ \\
      --projector pretrained_minigpt4.pth --out ckpt/minigpt4_13b
  python -m launch.convert --vision eva_vit_g.pth --llm Llama-2-7b-chat-hf/ \\
      --projector pretrained_minigpt4_llama2_7b.pth --out ckpt/minigpt4_llama2  # no Q-Former
  python -m launch.convert --blip2 blip2-flan-t5-xxl/ --llm vicuna-7b-v0/ --out ckpt/stage0
  python -m launch.convert --export-projector runs/stage2 --out minigpt4_proj.pth
  python -m launch.convert --family llava --llava llava-1.5-7b-hf/ --out ckpt/llava15_7b
  python -m launch.convert --family llava --clip clip-vit-large-patch14-336/ \\
      --llm vicuna-7b-v1.5/ [--projector mm_projector.bin] --out ckpt/llava15_stage1
  python -m launch.convert --export-projector runs/llava1 --out mm_projector.bin  # LLaVA's
  python -m launch.convert --family minigptv2 --vision eva_vit_g.pth \\
      --llm Llama-2-7b-chat-hf/ --checkpoint minigptv2_checkpoint.pth --out ckpt/minigptv2
      [--keep-lora]   # MiniGPT-v2 at 448 px; LoRA merged unless --keep-lora
  python -m launch.convert --export-projector runs/v2 --out v2.pth  # llama_proj + LoRA
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from minigpt4_jax import families
from minigpt4_jax.cli import run
from minigpt4_jax.convert.export import projector_arrays
from minigpt4_jax.loading import model_config
from minigpt4_jax.log_routing import VERBOSE_HELP, route_logs


def parse_args(argv: list[str]) -> argparse.Namespace:
  p = argparse.ArgumentParser(prog='python -m launch.convert', description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--family', default='minigpt4', choices=families.names(),
                 help='the model family of the files to convert (default: minigpt4)')
  p.add_argument('--llm', type=pathlib.Path, help='transformers LLaMA/Vicuna directory')
  p.add_argument('--vision', type=pathlib.Path, help='LAVIS EVA ViT file (eva_vit_g.pth)')
  p.add_argument('--vision-heads', type=int, help='ViT heads, for widths other than EVA-g')
  p.add_argument('--projector', type=pathlib.Path,
                 help="the family's released projector: MiniGPT-4's pretrained_minigpt4*.pth, "
                      "LLaVA's mm_projector.bin (omit: a fresh projector)")
  p.add_argument('--out', type=pathlib.Path, required=True, help='output directory / file')
  p.add_argument('--dtype', default='bfloat16', choices=('bfloat16', 'float16', 'float32'),
                 help='storage dtype of the frozen towers (the projector stays float32)')
  p.add_argument('--seed', type=int, default=0, help='seed of a fresh projector')
  p.add_argument('--overwrite', action='store_true', help='replace an existing --out')
  p.add_argument('--export-projector', type=pathlib.Path, metavar='CKPT_OR_WORKDIR',
                 help="write this checkpoint's projector to --out in its family's own format "
                      "(MiniGPT-4's .pth, LLaVA's mm_projector.bin)")
  p.add_argument('--verbose', action='store_true', help=VERBOSE_HELP)
  groups = {}
  for name in families.names():
    family = families.get(name)
    if family.add_convert_arguments is not None:
      groups[name] = p.add_argument_group(f'--family {name}')
      family.add_convert_arguments(groups[name])
  args = p.parse_args(argv)
  for name, group in groups.items():  # another family's flags mean a forgotten --family
    for action in group._group_actions:  # pylint: disable=protected-access
      if name != args.family and getattr(args, action.dest) != action.default:
        p.error(f'{action.option_strings[0]} is a --family {name} flag (converting '
                f'--family {args.family})')
  return args


def main(argv: list[str] | None = None) -> None:
  args = parse_args(sys.argv[1:] if argv is None else argv)
  route_logs(None, args.verbose)
  if args.export_projector is not None:
    family = families.family_of(model_config(args.export_projector))
    if family.export_trained is not None:
      family.export_trained(args.export_projector, args.out)
    else:
      family.export_projector(projector_arrays(args.export_projector), args.out)
    print(f'wrote {args.out} ({family.title} format)')
    return
  family = families.get(args.family)
  cfg = family.convert(args, args.out, args.dtype, seed=args.seed, overwrite=args.overwrite)
  print(f'wrote {args.out}: {family.title}, vision {cfg.vision.depth} blocks x '
        f'{cfg.vision.width} at {cfg.vision.image_size} px, {cfg.connector} connector, '
        f'{cfg.projector} projector, LLM {cfg.llm.num_layers} layers x {cfg.llm.hidden}, '
        f'{cfg.num_image_tokens} image tokens')


if __name__ == '__main__':
  run(main)
