"""MiniGPT-4's training prompts (``prompts/alignment.txt`` and ``train_configs/minigpt4*_stage2_finetune.yaml`` of Vision-CAIR/MiniGPT-4 at ef1ac08)."""

# prompts/alignment.txt of MiniGPT-4 (unchanged since its first commit).
ALIGNMENT_INSTRUCTIONS = (
    '<Img><ImageHere></Img> Describe this image in detail.',
    '<Img><ImageHere></Img> Take a look at this image and describe what you notice.',
    '<Img><ImageHere></Img> Please provide a detailed description of the picture.',
    '<Img><ImageHere></Img> Could you describe the contents of this image for me?',
)
VICUNA_TRAIN_TEMPLATE = '###Human: {} ###Assistant: '
LLAMA2_TRAIN_TEMPLATE = '[INST] {} [/INST] '
