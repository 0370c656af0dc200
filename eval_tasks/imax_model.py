"""The imax-hub transformers VLM backend, for `lighteval custom MODEL eval_tasks/imax_model.py TASKS`.

MODEL is a Hub id or a local folder. Other options come from IMAX_MODEL_ARGS, e.g.
IMAX_MODEL_ARGS="batch_size=16,dtype=bfloat16,device_map=auto" (keys of ImaxVLMConfig).
lighteval instantiates the one LightevalModel subclass this file defines or imports.
"""

from imax_hub.backends.transformers_vlm import ImaxVLMModel  # noqa: F401
