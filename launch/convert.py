"""Convert the released MiniGPT-4 or LLaVA checkpoints to a JAX checkpoint (or export a
trained projector back to MiniGPT-4's or LLaVA's own format).

  python -m launch.convert --vision eva_vit_g.pth \\
      --qformer blip2_pretrained_flant5xxl.pth --llm vicuna-13b-v0/ \\
      --projector pretrained_minigpt4.pth --out ckpt/minigpt4_13b
  python -m launch.convert --vision eva_vit_g.pth --llm Llama-2-7b-chat-hf/ \\
      --projector pretrained_minigpt4_llama2_7b.pth --out ckpt/minigpt4_llama2  # no Q-Former
  python -m launch.convert --blip2 blip2-flan-t5-xxl/ --llm vicuna-7b-v0/ --out ckpt/stage0
  python -m launch.convert --export-projector runs/stage2 --out minigpt4_proj.pth
  python -m launch.convert --llava llava-1.5-7b-hf/ --out ckpt/llava15_7b        # LLaVA
  python -m launch.convert --clip clip-vit-large-patch14-336/ --llm vicuna-7b-v1.5/ \\
      [--projector mm_projector.bin] --out ckpt/llava15_stage1
  python -m launch.convert --export-projector runs/llava1 --out mm_projector.bin  # LLaVA's
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import sys

from minigpt4_jax.convert.convert import Sources, convert
from minigpt4_jax.convert.export import export_projector, is_llava, projector_arrays
from minigpt4_jax.convert.llava import LLaVASources, convert_llava


def parse_args(argv: list[str]) -> argparse.Namespace:
  p = argparse.ArgumentParser(prog='python -m launch.convert', description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--vision', type=pathlib.Path, help='LAVIS EVA ViT file (eva_vit_g.pth)')
  p.add_argument('--qformer', type=pathlib.Path,
                 help='LAVIS BLIP-2 file (blip2_pretrained_flant5xxl.pth); omit for the '
                      'no-Q-Former (Llama-2) variant')
  p.add_argument('--blip2', type=pathlib.Path,
                 help='transformers Blip2Model directory, instead of --vision/--qformer')
  p.add_argument('--no-qformer', action='store_true',
                 help='the Llama-2 variant (implied when --vision comes without --qformer)')
  p.add_argument('--llm', type=pathlib.Path, help='transformers LLaMA/Vicuna directory')
  p.add_argument('--projector', type=pathlib.Path,
                 help="MiniGPT-4's pretrained_minigpt4*.pth or, with --clip, LLaVA's "
                      "mm_projector.bin (omit: a fresh projector)")
  p.add_argument('--llava', type=pathlib.Path,
                 help='LLaVA: a llava-hf (LlavaForConditionalGeneration) directory')
  p.add_argument('--clip', type=pathlib.Path,
                 help='LLaVA from its pieces: a transformers CLIP directory (with --llm)')
  p.add_argument('--projector-kind', default='mlp2x_gelu', choices=('linear', 'mlp2x_gelu'),
                 help='LLaVA: a fresh projector\'s kind (v1: linear, 1.5: mlp2x_gelu)')
  p.add_argument('--vision-select-layer', type=int, default=-2,
                 help="LLaVA pieces: mm_vision_select_layer (hidden-states index)")
  p.add_argument('--out', type=pathlib.Path, required=True, help='output directory / file')
  p.add_argument('--dtype', default='bfloat16', choices=('bfloat16', 'float16', 'float32'),
                 help='storage dtype of the frozen towers (the projector stays float32)')
  p.add_argument('--vision-heads', type=int, help='ViT heads, for widths other than EVA-g')
  p.add_argument('--qformer-heads', type=int, help='Q-Former heads, for widths other than 768')
  p.add_argument('--seed', type=int, default=0, help='seed of a fresh projector')
  p.add_argument('--overwrite', action='store_true', help='replace an existing --out')
  p.add_argument('--export-projector', type=pathlib.Path, metavar='CKPT_OR_WORKDIR',
                 help="write this checkpoint's projector to --out in its project's format: "
                      "MiniGPT-4's .pth, or LLaVA's mm_projector.bin")
  args = p.parse_args(argv)
  if args.export_projector is None and args.llava is None and args.llm is None:
    p.error('--llm is required (or use --export-projector or --llava)')
  return args


def main(argv: list[str] | None = None) -> None:
  args = parse_args(sys.argv[1:] if argv is None else argv)
  if args.export_projector is not None:
    export_projector(projector_arrays(args.export_projector), args.out,
                     llava=is_llava(args.export_projector))
    print(f'wrote {args.out}')
    return
  if args.llava is not None or args.clip is not None:
    if args.vision or args.qformer or args.blip2 or args.no_qformer:
      sys.exit('--llava/--clip convert LLaVA: drop the MiniGPT-4 flags --vision/--qformer/'
               '--blip2/--no-qformer')
    cfg = convert_llava(LLaVASources(llava=args.llava, clip=args.clip, llm=args.llm,
                                     projector=args.projector, projector_kind=args.projector_kind,
                                     select_layer=args.vision_select_layer),
                        args.out, args.dtype, seed=args.seed, overwrite=args.overwrite)
    print(f'wrote {args.out}: LLaVA, CLIP {cfg.vision.depth} blocks x {cfg.vision.width} at '
          f'{cfg.vision.image_size} px, {cfg.projector} projector, LLM {cfg.llm.num_layers} '
          f'layers x {cfg.llm.hidden}, {cfg.num_image_tokens} image tokens')
    return
  cfg = convert(Sources(llm=args.llm, vision=args.vision, qformer=args.qformer,
                        blip2=args.blip2, projector=args.projector, no_qformer=args.no_qformer,
                        vision_heads=args.vision_heads, qformer_heads=args.qformer_heads),
                args.out, args.dtype, seed=args.seed, overwrite=args.overwrite)
  print(f'wrote {args.out}: vision {cfg.vision.depth} blocks x {cfg.vision.width}, '
        f'{"no Q-Former" if cfg.qformer is None else f"Q-Former {cfg.qformer.num_layers} layers"}, '
        f'LLM {cfg.llm.num_layers} layers x {cfg.llm.hidden}, {cfg.num_image_tokens} image tokens')


if __name__ == '__main__':
  logging.basicConfig(level=logging.INFO, format='%(message)s')
  main()
