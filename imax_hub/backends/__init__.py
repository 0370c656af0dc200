"""lighteval model classes for vision-language models (ours: lighteval 0.13's own VLM path mis-shapes answers).

- :mod:`.transformers_vlm` — any ``AutoModelForImageTextToText`` model, batched, chat template from the row;
- :mod:`.stock_vlm` — lighteval's ``VLMTransformersModel`` with its answer-shape bug fixed (for comparison);
- :mod:`.vllm_vlm` — vLLM multimodal generation (optional extra ``[vllm]``, imported only when asked for);
- :mod:`.baselines` — ``oracle`` and ``prior``, which need no weights.

All of them generate in chunks through lighteval's prediction cache (an interrupted run resumes at the
last finished chunk) and drop each image after use, so no details file ever carries image bytes.
"""

BACKENDS = ("transformers", "stock", "vllm")
BASELINES = ("oracle", "prior")


def model_revision(model) -> str | None:
    """The Hub commit a loaded model came from: our backends' ``revision`` or lighteval's stock class's
    ``model_sha``; None for local folders and baselines."""
    return getattr(model, "revision", None) or getattr(model, "model_sha", None) or None


def disable_prediction_cache(model) -> None:
    """Generate afresh, without lighteval's prediction cache (callers with a resume file of their own)."""
    model._cache = None
