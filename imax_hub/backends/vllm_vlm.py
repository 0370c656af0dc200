"""vLLM multimodal generation as a lighteval model (optional extra ``[vllm]``).

lighteval 0.13's own vLLM backend drops ``doc.images`` silently; this one sends each prompt (the row's
messages rendered by the model's processor chat template, as in the transformers backend) with its image
as ``multi_modal_data``. Scale-out is vLLM's own, set through ``--model-args``: ``tensor_parallel_size`` shards
the model over GPUs, ``data_parallel_size`` runs replicas, ``pipeline_parallel_size`` splits the layers.
"""

from __future__ import annotations

from lighteval.models.abstract_model import ModelConfig
from lighteval.models.model_output import ModelResponse
from lighteval.tasks.requests import Doc

from imax_hub.backends.common import CHUNK_SIZE, GenerativeModel, chat_messages, env_model_args, load_image, sample_cache
from imax_hub.errors import ImaxError

INSTALL_HINT = ("the vllm backend needs vLLM on a CUDA machine: pip install 'imax-hub[vllm]' "
                "(or pick --backend transformers)")


def import_vllm():
    try:
        import vllm
    except ImportError as exc:
        raise ImaxError(f"{INSTALL_HINT} ({exc})") from None
    return vllm


class ImaxVLLMConfig(ModelConfig):
    model_name: str
    revision: str = "main"
    dtype: str = "auto"
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    max_model_length: int | None = 8192
    trust_remote_code: bool = False
    generation_size: int | None = None
    chunk_size: int = CHUNK_SIZE * 8  # vLLM schedules its own batches; bigger chunks keep it busy


class ImaxVLLMModel(GenerativeModel):
    def __init__(self, config: ModelConfig):
        if not isinstance(config, ImaxVLLMConfig):
            config = ImaxVLLMConfig(model_name=config.model_name, **env_model_args())
        vllm = import_vllm()
        from transformers import AutoProcessor

        self.config = config
        self._vllm = vllm
        self.processor = AutoProcessor.from_pretrained(config.model_name, revision=config.revision,
                                                       trust_remote_code=config.trust_remote_code)
        self.llm = vllm.LLM(model=config.model_name, revision=config.revision, dtype=config.dtype,
                            tensor_parallel_size=config.tensor_parallel_size,
                            data_parallel_size=config.data_parallel_size,
                            pipeline_parallel_size=config.pipeline_parallel_size,
                            gpu_memory_utilization=config.gpu_memory_utilization,
                            max_model_len=config.max_model_length, trust_remote_code=config.trust_remote_code,
                            limit_mm_per_prompt={"image": 1})
        self.revision = None
        self._cache = sample_cache(config)

    @property
    def max_length(self) -> int:
        return self.config.max_model_length or 8192

    def _generate(self, docs: list[Doc]) -> list[ModelResponse]:
        prompts = [self.processor.apply_chat_template(chat_messages(d, self.config.system_prompt),
                                                      add_generation_prompt=True, tokenize=False) for d in docs]
        requests = [{"prompt": p, "multi_modal_data": {"image": load_image(d)}} for p, d in zip(prompts, docs)]
        by_budget: dict[int, list[int]] = {}
        for i, d in enumerate(docs):
            by_budget.setdefault(self.config.generation_size or d.generation_size or 64, []).append(i)
        out: list[ModelResponse | None] = [None] * len(docs)
        for budget, idx in sorted(by_budget.items()):
            params = self._vllm.SamplingParams(temperature=0.0, max_tokens=budget)
            for i, gen in zip(idx, self.llm.generate([requests[i] for i in idx], params)):
                o = gen.outputs[0]
                out[i] = ModelResponse(input=prompts[i], text=[o.text.strip()], output_tokens=[list(o.token_ids)])
            self.advance(len(idx))
        return out
