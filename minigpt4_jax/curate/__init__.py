"""Stage-2 data curation (paper §3.2, SPEC §7): describe images with the stage-1
model, fix the descriptions with an LLM, filter them by rules, write a
``cc_sbu_align`` folder and a review page for the manual check."""
