"""lighteval 0.13's own ``VLMTransformersModel`` with its answer-shape bug fixed.

Its ``_greedy_until`` returns ``ModelResponse(text=<str>)`` where a list is expected, so every metric
scores single characters (shared/notes/lighteval.md §2). Kept as a backend to compare throughput with
ours and to show the fix; it builds prompts its own way (text, then image) and runs one DataLoader pass.
"""

from __future__ import annotations

from lighteval.models.model_output import ModelResponse
from lighteval.models.transformers.vlm_transformers_model import VLMTransformersModel, VLMTransformersModelConfig
from lighteval.tasks.requests import Doc

from imax_hub.backends.common import (
    CHUNK_SIZE, drop_images, env_model_args, generate_with_cache, load_image, sample_cache,
)


class FixedVLMTransformersModel(VLMTransformersModel):
    def __init__(self, config):
        if not isinstance(config, VLMTransformersModelConfig):  # `lighteval custom` passes only a model name
            config = VLMTransformersModelConfig(model_name=config.model_name, **env_model_args())
        super().__init__(config)
        self._cache = sample_cache(config)  # lighteval's own would live inside a model given by absolute path

    def _generate(self, docs: list[Doc]) -> list[ModelResponse]:
        for d in docs:
            d.images = [load_image(d)]  # the stock prompt builder wants PIL images on the doc
        try:
            responses = self._greedy_until(docs)
        finally:
            drop_images(docs)
        for r in responses:
            if isinstance(r.text, str):  # the fix: one answer per doc is a one-element list
                r.text = [r.text]
        return responses

    def greedy_until(self, docs: list[Doc]) -> list[ModelResponse]:
        try:
            return generate_with_cache(self, docs, self._generate, chunk_size=CHUNK_SIZE,
                                       is_main=self.accelerator.is_main_process, barrier=self.accelerator.wait_for_everyone)
        finally:
            drop_images(docs)
