"""Stage-2 data curation (the MiniGPT-4 paper, arXiv 2304.10592, §3.2): describe images with the stage-1
model, fix the descriptions with an LLM, filter them by rules, write a
``cc_sbu_align`` folder and a review page for the manual check."""
