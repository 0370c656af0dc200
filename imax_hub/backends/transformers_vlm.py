"""Any ``AutoModelForImageTextToText`` model (Qwen2.5-VL, SmolVLM/Idefics3, LLaVA…) as a lighteval model.

Prompts are each row's own ``messages`` rendered by the model's processor chat template; batches group
docs with the same token budget; bf16 on a GPU, float32 on CPU; ``device_map`` for sharding a model over
GPUs; ``accelerate launch`` for data parallelism (each process takes every n-th doc of a chunk and the
answers are gathered back into their docs' order, with their indices).
"""

from __future__ import annotations

import contextlib

import torch
from lighteval.models.abstract_model import ModelConfig
from lighteval.models.model_output import ModelResponse
from lighteval.tasks.requests import Doc

from imax_hub.backends.common import (
    CHUNK_SIZE, GenerativeModel, by_generation_length, chat_messages, env_model_args, load_image, sample_cache,
)
from imax_hub.errors import ImaxError

# of lighteval's generation parameters, the ones that change what is generated (it also asks for scores)
SAMPLING_KEYS = ("temperature", "top_p", "top_k", "min_p", "repetition_penalty", "max_new_tokens", "min_new_tokens")


class ImaxVLMConfig(ModelConfig):
    """Options of :class:`ImaxVLMModel` (lighteval model-args keys)."""

    model_name: str
    revision: str = "main"
    processor: str | None = None
    adapter: str | None = None  # a peft LoRA adapter folder (`imax train`), merged into the weights once loaded
    batch_size: int = 8
    dtype: str = "auto"  # auto: bfloat16 on CUDA, float32 on CPU
    device: str | None = None  # default: cuda if available, else cpu
    device_map: str | None = None  # e.g. "auto" to shard one model over all visible GPUs
    attn_implementation: str | None = None
    trust_remote_code: bool = False
    generation_size: int | None = None  # overrides every task's budget (benchmarks)
    chunk_size: int = CHUNK_SIZE


def resolve_dtype(name: str, device: str) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        return getattr(torch, name)
    except AttributeError:
        raise ValueError(f"dtype {name!r}: expected auto, bfloat16, float16 or float32") from None


def model_revision(model) -> str | None:
    """The Hub commit the weights came from (None for a local folder)."""
    return getattr(model.config, "_commit_hash", None)


class ImaxVLMModel(GenerativeModel):
    """Batched transformers generation over the rows' chat messages; see the module docstring."""

    def __init__(self, config: ModelConfig):
        from accelerate import PartialState
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if not isinstance(config, ImaxVLMConfig):  # `lighteval custom` passes only a model name
            config = ImaxVLMConfig(model_name=config.model_name, **env_model_args())
        self.config = config
        # without a GPU, processes of `accelerate launch` talk over gloo (cpu=True); with one, NCCL as usual
        self.state = PartialState(cpu=not torch.cuda.is_available())
        device = config.device or (f"cuda:{self.state.local_process_index}" if torch.cuda.is_available() else "cpu")
        self.dtype = resolve_dtype(config.dtype, device)
        self.processor = AutoProcessor.from_pretrained(config.processor or config.model_name, revision=config.revision,
                                                       trust_remote_code=config.trust_remote_code)
        tok = self.processor.tokenizer
        tok.padding_side = "left"  # decoder-only generation continues from the right edge
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        kwargs = {"revision": config.revision, "dtype": self.dtype, "trust_remote_code": config.trust_remote_code}
        if config.attn_implementation:
            kwargs["attn_implementation"] = config.attn_implementation
        if config.device_map:
            kwargs["device_map"] = config.device_map
        self.model = AutoModelForImageTextToText.from_pretrained(config.model_name, **kwargs).eval()
        if config.adapter:
            from imax_hub.adapters import with_adapter

            self.model = with_adapter(self.model, config.adapter, merge=True).eval()
        if not config.device_map:
            self.model.to(device)
        self.device = next(self.model.parameters()).device
        self.revision = model_revision(self.model)
        self._cache = sample_cache(config)

    @property
    def max_length(self) -> int:
        text_config = self.model.config.get_text_config()
        return getattr(text_config, "max_position_embeddings", 4096)

    def _generate(self, docs: list[Doc]) -> list[ModelResponse]:
        world, rank = self.state.num_processes, self.state.process_index
        bs = self.config.batch_size
        # batches are cut from the whole chunk, then dealt to the processes: each batch (its padding, its token
        # budget) is the one a single process would run, so N processes give the same answers as one
        order = by_generation_length(docs)
        batches = [order[i:i + bs] for i in range(0, len(order), bs)][rank::world]
        answers: list[tuple[int, ModelResponse]] = []
        with torch.inference_mode():
            for idx in batches:
                batch = [docs[i] for i in idx]
                texts = [self.processor.apply_chat_template(chat_messages(d, self.config.system_prompt),
                                                            add_generation_prompt=True, tokenize=False) for d in batch]
                images = [[load_image(d)] for d in batch]
                inputs = self.processor(text=texts, images=images, return_tensors="pt", padding=True)
                inputs = inputs.to(self.device, dtype=self.dtype)
                params = {k: v for k, v in self.config.generation_parameters.to_transformers_dict().items()
                          if k in SAMPLING_KEYS and v is not None}
                budget = (self.config.generation_size or params.pop("max_new_tokens", None)
                          or max(d.generation_size or 64 for d in batch))
                params.pop("max_new_tokens", None)
                sample = bool(params.get("temperature"))
                if not sample:  # greedy: sampling knobs would only draw transformers warnings
                    params = {k: v for k, v in params.items() if k in ("max_new_tokens", "min_new_tokens",
                                                                        "repetition_penalty")}
                try:
                    out = self.model.generate(**inputs, max_new_tokens=budget, do_sample=sample,
                                              pad_token_id=self.tokenizer.pad_token_id, **params)
                except torch.cuda.OutOfMemoryError:
                    # finished chunks are cached (eval) or in generations.jsonl (pseudo-label): a rerun resumes
                    raise ImaxError(f"GPU out of memory generating a batch of {len(batch)} prompts of up to "
                                    f"{inputs['input_ids'].shape[1]} tokens (+{budget} new): lower --batch-size "
                                    "and run the same command again; finished work is kept") from None
                new = out[:, inputs["input_ids"].shape[1]:]
                decoded = self.processor.batch_decode(new, skip_special_tokens=True)
                pads = (inputs["attention_mask"] == 0).sum(1).tolist()
                for i, prompt, text, tokens, pad in zip(idx, texts, decoded, new.tolist(), pads):
                    answers.append((i, ModelResponse(input=prompt, text=[text.strip()], output_tokens=[tokens],
                                                     padded_tokens_count=pad)))
                del images, inputs
                self.advance(len(idx) * world)  # the other processes run batches of the same size meanwhile
        if world > 1:
            from accelerate.utils import gather_object

            with _peers_alive(rank, world):
                answers = gather_object(answers)  # carries each answer's doc index: order cannot shift
        placed = dict(answers)
        if len(placed) < len(docs):  # a gather that came back short: a peer is gone
            with _peers_alive(rank, world):
                raise RuntimeError(f"{len(docs) - len(placed)} of {len(docs)} answers missing after the gather")
        return [placed[i] for i in range(len(docs))]

    def _is_main(self) -> bool:
        return self.state.is_main_process

    def _barrier(self) -> None:
        with _peers_alive(self.state.process_index, self.state.num_processes):
            self.state.wait_for_everyone()


@contextlib.contextmanager
def _peers_alive(rank: int, world: int):
    """A collective whose peer died fails in gloo/NCCL with a reset connection: say what happened and what to do."""
    try:
        yield
    except RuntimeError as exc:
        raise ImaxError(f"process {rank} of {world}: another process of this `accelerate launch` run stopped "
                        f"({str(exc).splitlines()[0][:160]}); finished chunks are kept: run the same command again "
                        "to resume") from None
