"""LLaVA's parameter-mapping tables, in the style of ``tables.py``.

Source layouts: a transformers CLIP directory (``CLIPModel`` / ``CLIPVisionModel``,
keys under ``vision_model.``), the original ``mm_projector.bin`` that LLaVA's
stage 1 saves (``model.mm_projector.*``), and a ``llava-hf`` directory
(``LlavaForConditionalGeneration``: ``vision_tower.``, ``multi_modal_projector.``,
``language_model.``). Unprefixed CLIP rules are nested with ``Layout.prefixed``.
"""

from __future__ import annotations

from minigpt4_jax.convert.tables import LLAMA_HF, Layout, Rule, conv_weight, linear_weight, rule

_V = 'vision/'
_VB = _V + 'blocks/{0}/'
_VL = r'encoder\.layers\.(\d+)\.'

# --- CLIP vision tower, transformers layout (unprefixed) -----------------------------
CLIP_HF = Layout(
    'clip_hf',
    rules=(
        rule(r'embeddings\.class_embedding', _V + 'class_embedding'),
        rule(r'embeddings\.position_embedding\.weight', _V + 'pos_embed'),
        rule(r'embeddings\.patch_embedding\.weight', _V + 'patch_embed/kernel', transform=conv_weight),
        rule(r'pre_layrnorm\.weight', _V + 'pre_norm/scale'),  # sic: transformers' spelling
        rule(r'pre_layrnorm\.bias', _V + 'pre_norm/bias'),
        rule(_VL + r'layer_norm([12])\.weight', _VB + 'norm{1}/scale'),
        rule(_VL + r'layer_norm([12])\.bias', _VB + 'norm{1}/bias'),
        rule(_VL + r'self_attn\.([qkv]_proj|out_proj)\.weight', _VB + 'attn/{1}/kernel',
             transform=linear_weight),
        rule(_VL + r'self_attn\.([qkv]_proj|out_proj)\.bias', _VB + 'attn/{1}/bias'),
        rule(_VL + r'mlp\.(fc[12])\.weight', _VB + 'mlp/{1}/kernel', transform=linear_weight),
        rule(_VL + r'mlp\.(fc[12])\.bias', _VB + 'mlp/{1}/bias'),
    ),
    # LLaVA reads an inner layer's raw hidden states: the final norm is never applied.
    # position_ids is a buffer older transformers versions saved.
    unused=(r'post_layernorm\.(weight|bias)', r'embeddings\.position_ids'),
)

# CLIPModel's text tower and contrastive heads, beside vision_model.* in a CLIP directory.
CLIP_TEXT_SIDE = (r'text_model\..*', r'(visual|text)_projection\.weight', r'logit_scale')

# --- LLaVA's mm_projector.bin (stage-1 output; ``model.mm_projector.*``) ---------------
PROJECTOR_LLAVA_MLP2X = Layout(
    'projector_llava_mlp2x_gelu',
    rules=(
        # nn.Sequential(Linear, GELU, Linear): indices 0 and 2.
        rule(r'model\.mm_projector\.0\.weight', 'projector/fc1/kernel', transform=linear_weight),
        rule(r'model\.mm_projector\.0\.bias', 'projector/fc1/bias'),
        rule(r'model\.mm_projector\.2\.weight', 'projector/fc2/kernel', transform=linear_weight),
        rule(r'model\.mm_projector\.2\.bias', 'projector/fc2/bias'),
    ),
)
PROJECTOR_LLAVA_LINEAR = Layout(
    'projector_llava_linear',
    rules=(
        rule(r'model\.mm_projector\.weight', 'projector/kernel', transform=linear_weight),
        rule(r'model\.mm_projector\.bias', 'projector/bias'),
    ),
)

# --- transformers LlavaForConditionalGeneration (llava-hf/*), projector only -----------
PROJECTOR_LLAVA_HF = Layout(
    'projector_llava_hf',
    rules=(
        rule(r'multi_modal_projector\.linear_([12])\.weight', 'projector/fc{0}/kernel',
             transform=linear_weight),
        rule(r'multi_modal_projector\.linear_([12])\.bias', 'projector/fc{0}/bias'),
    ),
)


def combined(name: str, *layouts: Layout) -> Layout:
  """One layout holding the rules and unused patterns of several (one file, many towers)."""
  return Layout(name, tuple(r for lay in layouts for r in lay.rules),
                tuple(u for lay in layouts for u in lay.unused))


def clip_layers_unused(built: int, in_file: int) -> tuple[str, ...]:
  """Patterns for the CLIP layers past the one LLaVA reads (ViT-L's 24th of 24)."""
  if built >= in_file:
    return ()
  indices = '|'.join(str(i) for i in range(built, in_file))
  return (rf'encoder\.layers\.({indices})\..*',)


def _under_language_model(layout: Layout) -> Layout:
  """LLAMA_HF with ``model.`` read as ``model.language_model.`` (``lm_head`` stays on top)."""
  def nest(pattern: str) -> str:
    return pattern.replace(r'model\.', r'model\.language_model\.', 1)
  return Layout(layout.name + '_nested',
                tuple(Rule(nest(r.pattern), r.targets, r.transform) for r in layout.rules),
                tuple(nest(u) for u in layout.unused))


def llava_hf(vision_prefix: str, built: int, in_file: int, *, nested: bool) -> Layout:
  """The llava-hf layout, in either of transformers' two forms:

  * flat (first llava-hf uploads; what transformers 5 writes): ``vision_tower.``
    (+ ``vision_model.`` in hub files), ``multi_modal_projector.``,
    ``language_model.model.*`` and ``language_model.lm_head``;
  * nested (uploads since transformers 4.52): the same under ``model.``, the LLaMA
    body as ``model.language_model.*`` and the head as ``lm_head``.
  """
  vision = CLIP_HF.also_unused(*clip_layers_unused(built, in_file)).prefixed(vision_prefix)
  if nested:
    return combined('llava_hf', vision, PROJECTOR_LLAVA_HF.prefixed('model.'),
                    _under_language_model(LLAMA_HF))
  return combined('llava_hf', vision, PROJECTOR_LLAVA_HF, LLAMA_HF.prefixed('language_model.'))
