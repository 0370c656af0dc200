"""What every backend shares: images opened per batch, the row's chat messages, chunked cached generation."""

from __future__ import annotations

import io
import os
from typing import Callable

from lighteval.models.abstract_model import LightevalModel
from lighteval.models.model_output import ModelResponse
from lighteval.tasks.requests import Doc, SamplingMethod

from imax_hub.errors import ImaxError

CHUNK_SIZE = 512  # docs per cache write: the resume granularity


def load_image(doc: Doc):
    """The doc's X-ray as an RGB PIL image (from its path, or its bytes in an --embed-images build)."""
    from PIL import Image

    ref = (doc.specific or {}).get("image") or {}
    try:
        if ref.get("bytes"):
            img = Image.open(io.BytesIO(ref["bytes"]))
        elif ref.get("path"):
            img = Image.open(ref["path"])
        else:
            raise ImaxError(f"test item {doc.specific.get('id')!r} has no image (neither bytes nor path)")
        return img.convert("RGB")
    except (OSError, ValueError) as exc:
        raise ImaxError(f"test item {doc.specific.get('id')!r}: cannot open image {ref.get('path')!r} ({exc}); "
                        "if the images moved, run `imax relocate`") from None


def chat_messages(doc: Doc, system_prompt: str | None = None) -> list[dict]:
    """The row's user turn (image part, then the prompt), in the shape processors' chat templates expect."""
    turns = []
    if system_prompt:
        turns.append({"role": "system", "content": [{"type": "text", "text": system_prompt}]})
    for m in doc.specific["messages"]:
        content = [{"type": "image"} if c["type"] == "image" else {"type": "text", "text": c["text"]}
                   for c in m["content"]]
        turns.append({"role": m["role"], "content": content})
    return turns


def drop_images(docs: list[Doc]) -> None:
    """Forget image references and pixels once generated (details files are written from these docs)."""
    for d in docs:
        d.images = None
        if d.specific is not None and "image" in d.specific:
            d.specific["image"] = None


def parse_model_args(text: str | None) -> dict:
    """``key=value,key=value`` (lighteval's model-args style) -> dict with ints/floats/bools converted."""
    out: dict = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            out[key] = True
            continue
        low = value.lower()
        if low in ("true", "false"):
            out[key] = low == "true"
        else:
            try:
                out[key] = int(value)
            except ValueError:
                try:
                    out[key] = float(value)
                except ValueError:
                    out[key] = value
    return out


def env_model_args() -> dict:
    """Extra backend options for ``lighteval custom`` runs, whose CLI passes only a model name."""
    return parse_model_args(os.environ.get("IMAX_MODEL_ARGS"))


def generate_with_cache(model, docs: list[Doc], generate: Callable[[list[Doc]], list[ModelResponse]],
                        *, chunk_size: int = CHUNK_SIZE, is_main: bool = True, barrier: Callable[[], None] = lambda: None
                        ) -> list[ModelResponse]:
    """``generate`` over ``docs`` chunk by chunk through lighteval's ``SampleCache`` (``model._cache``).

    Each finished chunk is written before the next starts, so a killed run loses at most one chunk.
    Under data parallelism every process calls this with the same docs; only the main one writes.
    """
    cache = getattr(model, "_cache", None)
    results: list[ModelResponse] = []
    for start in range(0, len(docs), chunk_size):
        chunk = docs[start:start + chunk_size]
        if cache is None:
            results += generate(chunk)
            continue
        todo, _ = cache.get_samples_to_process_and_cache(chunk, SamplingMethod.GENERATIVE)
        fresh = dict(zip((id(d) for d in todo), generate(todo))) if todo else {}
        if todo and is_main:
            task_ids = {cache.get_task_id(d.task_name, SamplingMethod.GENERATIVE) for d in todo}
            cache.cache_samples(docs=todo, results=[fresh[id(d)] for d in todo], task_ids=list(task_ids),
                                sampling_method=SamplingMethod.GENERATIVE)
        barrier()
        cached_docs = [d for d in chunk if id(d) not in fresh]
        if cached_docs:
            ids = {cache.get_task_id(d.task_name, SamplingMethod.GENERATIVE) for d in cached_docs}
            from_cache = dict(zip((id(d) for d in cached_docs),
                                  cache.get_samples_from_cache(cached_docs, ids, SamplingMethod.GENERATIVE)))
        else:
            from_cache = {}
        results += [fresh[id(d)] if id(d) in fresh else from_cache[id(d)] for d in chunk]
    return results


def sample_cache(config):
    """lighteval's ``SampleCache`` for ``config``, kept under ``cache_dir`` even for a model given by an absolute
    path (lighteval joins ``cache_dir / model_name``, which for ``/abs/model`` writes into the model folder)."""
    from lighteval.utils.cache_management import SampleCache

    name = config.model_name
    if getattr(config, "adapter", None):  # keyed on the adapter's weights: a retrained adapter gets a fresh cache
        from imax_hub.adapters import adapter_fingerprint

        name = f"{name}+{adapter_fingerprint(config.adapter)}"
    if not os.path.isabs(name):
        return SampleCache(config if name == config.model_name else config.model_copy(update={"model_name": name}))
    return SampleCache(config.model_copy(update={"model_name": name.strip("/").replace("/", "__")}))


def by_generation_length(docs: list[Doc]) -> list[int]:
    """Order that puts docs with the same token budget and similar prompt length in the same batch."""
    return sorted(range(len(docs)), key=lambda i: (docs[i].generation_size or 0, len(docs[i].query)))


class GenerativeModel(LightevalModel):
    """What our backends share: generation only, chunked through the prediction cache, images dropped after.

    Subclasses set ``config`` (with ``chunk_size``), ``_cache`` and ``processor`` (or override ``tokenizer``)
    and implement ``_generate(docs)``.
    """

    @property
    def tokenizer(self):
        return self.processor.tokenizer

    @property
    def add_special_tokens(self) -> bool:
        return False  # the chat template already holds them

    def _is_main(self) -> bool:
        return True

    def _barrier(self) -> None:
        pass

    def greedy_until(self, docs: list[Doc]) -> list[ModelResponse]:
        try:
            return generate_with_cache(self, docs, self._generate, chunk_size=self.config.chunk_size,
                                       is_main=self._is_main(), barrier=self._barrier)
        finally:
            drop_images(docs)

    def loglikelihood(self, docs: list[Doc]) -> list[ModelResponse]:
        raise NotImplementedError("IMAX tasks are generative only")

    def loglikelihood_rolling(self, docs: list[Doc]) -> list[ModelResponse]:
        raise NotImplementedError("IMAX tasks are generative only")
