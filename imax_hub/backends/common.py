"""What every backend shares: images opened per batch, the row's chat messages, chunked cached generation."""

from __future__ import annotations

import contextlib
import io
import os
import time
from typing import Callable

from lighteval.models.abstract_model import LightevalModel
from lighteval.models.model_output import ModelResponse
from lighteval.tasks.requests import Doc, SamplingMethod

from imax_hub.errors import ImaxError

CHUNK_SIZE = 512  # docs per cache write: the resume granularity


def load_image(doc: Doc):
    """The doc's X-ray as an RGB PIL image (from its path, or its bytes in an --embed-images build)."""
    return open_image(doc.specific or {})


def open_image(specific: dict):
    """The X-ray a row's ``image`` reference points to, as an RGB PIL image."""
    from PIL import Image

    ref = specific.get("image") or {}
    try:
        if ref.get("bytes"):
            img = Image.open(io.BytesIO(ref["bytes"]))
        elif ref.get("path"):
            img = Image.open(ref["path"])
        else:
            raise ImaxError(f"test item {specific.get('id')!r} has no image (neither bytes nor path)")
        return img.convert("RGB")
    except (OSError, ValueError) as exc:
        raise ImaxError(f"test item {specific.get('id')!r}: cannot open image {ref.get('path')!r} ({exc}); "
                        "if the images moved, run `imax relocate`") from None


class LazyImages(list):
    """``Doc.images`` for lighteval's own VLM path (``lighteval accelerate --vision-model``): a one-image list that
    opens the X-ray each time it is read and keeps nothing, so a task of thousands of rows never holds their
    pixels; a batch's images live while the processor reads them. Copies (``dataclasses.asdict`` when details
    are written) keep no image either: details files never carry pixels."""

    def __init__(self, specific=None):
        super().__init__()
        self._specific = specific if isinstance(specific, dict) else None

    def _images(self) -> list:
        return [open_image(self._specific)] if self._specific and self._specific.get("image") else []

    def __iter__(self):
        return iter(self._images())

    def __len__(self) -> int:
        return 1 if self._specific and self._specific.get("image") else 0

    def __getitem__(self, i):
        return self._images()[i]

    def __bool__(self) -> bool:
        return len(self) > 0

    def __repr__(self) -> str:
        return f"LazyImages({len(self)})"


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


@contextlib.contextmanager
def generation_progress(total: int, *, show: bool = True, console=None):
    """A rich progress bar over ``total`` prompts (done/total, prompts/s, ETA) on a terminal; yields ``advance(n)``."""
    from rich.console import Console
    from rich.progress import (
        BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
    )

    console = console or Console(stderr=True)
    if not show or not console.is_terminal or total == 0:
        yield lambda n: None
        return
    with Progress(TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                  TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("generating", total=total, rate="")
        start = time.monotonic()

        def advance(n: int) -> None:
            progress.advance(task, n)
            done = progress.tasks[0].completed
            progress.update(task, rate=f"{done / max(time.monotonic() - start, 1e-9):.1f} prompts/s")
        yield advance


def generate_with_cache(model, docs: list[Doc], generate: Callable[[list[Doc]], list[ModelResponse]],
                        *, chunk_size: int = CHUNK_SIZE, is_main: bool = True, barrier: Callable[[], None] = lambda: None,
                        advance: Callable[[int], None] = lambda n: None) -> list[ModelResponse]:
    """``generate`` over ``docs`` chunk by chunk through lighteval's ``SampleCache`` (``model._cache``).

    Each finished chunk is written before the next starts, so a killed run loses at most one chunk.
    Under data parallelism every process calls this with the same docs, though not always in the same order
    (lighteval orders tasks differently per process): the docs are put in one canonical order first, so every
    process cuts the same chunks, and one process cuts the chunks N processes do. Only the main one writes.
    """
    canonical = sorted(range(len(docs)), key=lambda i: _doc_key(docs[i]))
    answers = _generate_in_chunks(model, [docs[i] for i in canonical], generate, chunk_size, is_main, barrier, advance)
    results: list[ModelResponse | None] = [None] * len(docs)
    for i, answer in zip(canonical, answers):
        results[i] = answer
    return results


def _doc_key(doc: Doc) -> tuple:
    specific = doc.specific or {}
    return (doc.task_name or "", str(specific.get("id", "")), str(doc.id), doc.query)


def _generate_in_chunks(model, docs: list[Doc], generate: Callable[[list[Doc]], list[ModelResponse]], chunk_size: int,
                        is_main: bool, barrier: Callable[[], None], advance: Callable[[int], None]
                        ) -> list[ModelResponse]:
    cache = getattr(model, "_cache", None)
    results: list[ModelResponse] = []
    for start in range(0, len(docs), chunk_size):
        chunk = docs[start:start + chunk_size]
        if cache is None:
            results += generate(chunk)
            continue
        todo, _ = cache.get_samples_to_process_and_cache(chunk, SamplingMethod.GENERATIVE)
        advance(len(chunk) - len(todo))  # answers already in the cache
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

    progress: Callable[[int], None] | None = None  # advance the progress bar by N prompts (set while generating)
    own_progress: bool = True  # False when the caller shows progress itself (imax pseudo-label)

    def advance(self, n: int) -> None:
        if self.progress is not None:
            self.progress(n)

    def greedy_until(self, docs: list[Doc]) -> list[ModelResponse]:
        try:
            with generation_progress(len(docs), show=self._is_main() and self.own_progress) as advance:
                self.progress = advance
                return generate_with_cache(self, docs, self._generate, chunk_size=self.config.chunk_size,
                                           is_main=self._is_main(), barrier=self._barrier, advance=advance)
        finally:
            self.progress = None
            drop_images(docs)

    def loglikelihood(self, docs: list[Doc]) -> list[ModelResponse]:
        raise NotImplementedError("IMAX tasks are generative only")

    def loglikelihood_rolling(self, docs: list[Doc]) -> list[ModelResponse]:
        raise NotImplementedError("IMAX tasks are generative only")
