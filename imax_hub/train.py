"""``imax train``: LoRA fine-tuning of a Hub vision-language model on one config of a build, with TRL's SFT trainer.

The rows come straight from ``load_dataset(folder, config, split="train")``: each row's ``messages`` (user turn:
image + prompt; assistant turn: the answer) and ``image``. They reach TRL as conversational prompt/completion
pairs, so the loss is on the answer tokens only, i.e. -log p(y|x) as in Eq. (2) of the paper and in
``imax fim``; the prompt is rendered by the model's chat template exactly as ``imax eval`` renders it.

The output folder is a peft adapter (``adapter_config.json`` + ``adapter_model.safetensors``) that
``imax fim --adapter``, ``imax eval --adapter`` and ``imax pseudo-label --adapter`` accept, plus
``imax_train.json`` (the recipe: base model, data fingerprint, hyper-parameters, losses, versions; no row
content) and TRL's resumable ``checkpoints/``. ``--adapter`` continues training an existing adapter (stage 2
of the three-stage strategy into stage 3); ``--merge`` also writes a merged full model for the backends
that take no adapter (vLLM, lighteval's stock class) or for the Hub.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

from imax_hub import __version__
from imax_hub.errors import ImaxError
from imax_hub.files import is_local_path, write_atomic

TRAIN_FORMAT = "imax-train/1"
RECIPE = "imax_train.json"
LORA_TARGETS = ("language", "all-linear")
# Module-name fragments of vision towers, projectors and heads across LLaVA, Qwen2/2.5-VL, Idefics3/SmolVLM, PaliGemma…
NOT_LANGUAGE = ("vision", "visual", "image", "multi_modal_projector", "mm_projector", "connector", "merger",
                "lm_head", "embed")


@dataclass
class TrainOptions:
    model: str
    dataset: Path
    out: Path
    config: str = "dmax"
    adapter: str | None = None  # continue training this adapter (LoRA options then come from it)
    epochs: float = 1.0
    max_steps: int = -1
    learning_rate: float = 2e-4
    batch_size: int = 4
    grad_accum: int = 1
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: str = "language"
    max_samples: int | None = None
    seed: int = 0
    save_steps: int = 500
    workers: int = 0
    dtype: str = "auto"
    system_prompt: str | None = None
    resume: bool = False
    overwrite: bool = False
    merge: bool = False
    cache_dir: str | None = None  # datasets cache (default: HF_DATASETS_CACHE)


def lora_target_regex(model, rule: str) -> str:
    """peft ``target_modules`` for ``rule``: ``language`` (every linear layer outside the vision tower,
    projector and head), ``all-linear``, or a regular expression matched against full module names."""
    import torch

    linear = [name for name, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)]
    if rule == "all-linear":
        return rule
    if rule == "language":
        leaves = sorted({n.rsplit(".", 1)[-1] for n in linear if not any(m in n for m in NOT_LANGUAGE)})
        if not leaves:
            raise ImaxError("--lora-targets language: no linear layer outside the vision tower and projector")
        return rf"^(?!.*({'|'.join(NOT_LANGUAGE)})).*\.({'|'.join(map(re.escape, leaves))})$"
    try:
        pattern = re.compile(rule)
    except re.error as exc:
        raise ImaxError(f"--lora-targets {rule!r}: bad regular expression ({exc})") from None
    if not any(pattern.fullmatch(n) for n in linear):
        raise ImaxError(f"--lora-targets {rule!r} matches no linear layer (names look like {linear[0]!r})")
    return rule


def check_out(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to clobber a finished adapter or a started run unless asked (nothing built is lost by accident)."""
    if overwrite:
        for name in ("checkpoints", "merged"):
            shutil.rmtree(out / name, ignore_errors=True)
        for name in ("adapter_config.json", "adapter_model.safetensors", RECIPE):
            (out / name).unlink(missing_ok=True)
        return
    if (out / "adapter_config.json").exists():
        raise ImaxError(f"{out} already holds a trained adapter; pass --overwrite or another --out")
    if (out / "checkpoints").is_dir() and any((out / "checkpoints").glob("checkpoint-*")) and not resume:
        raise ImaxError(f"{out} holds checkpoints of an unfinished run: --resume continues it, --overwrite starts over")
    if resume and not any((out / "checkpoints").glob("checkpoint-*")):
        raise ImaxError(f"--resume: {out / 'checkpoints'} has no checkpoint to resume from")


def training_rows(folder: Path, config: str, max_samples: int | None, seed: int, cache_dir: str | None):
    """The config's train split as ``datasets`` loads it (images left encoded), and the config's fingerprint."""
    from datasets import Image, load_dataset

    from imax_hub.build.manifest import config_fingerprint, train_shards

    manifest, _ = train_shards(folder, config)  # a clear error before datasets' own
    ds = load_dataset(str(folder), config, split="train", cache_dir=cache_dir)
    ds = ds.select_columns(["id", "messages", "image"]).cast_column("image", Image(decode=False))
    if max_samples is not None and max_samples < len(ds):
        ds = ds.shuffle(seed=seed).select(range(max_samples))
    return ds, config_fingerprint(manifest, config)


def prompt_completion(system_prompt: str | None = None):
    """A ``datasets`` transform: rows -> TRL's conversational prompt/completion with the RGB image.

    The prompt is the same chat turn (``chat_messages``) and the same image (``load_image``) that ``imax eval``
    and ``imax fim`` use, so what is trained is what is scored.
    """
    from imax_hub.backends.common import chat_messages, load_image

    def transform(batch: dict) -> dict:
        out = {"prompt": [], "completion": [], "image": []}
        for row_id, messages, image in zip(batch["id"], batch["messages"], batch["image"]):
            answers = [c["text"] for m in messages if m["role"] == "assistant" for c in m["content"] if c["type"] == "text"]
            if not answers or not answers[0]:
                raise ImaxError(f"train row {row_id!r} has no assistant answer to train on")
            doc = SimpleNamespace(specific={"id": row_id, "image": image or {},
                                            "messages": [m for m in messages if m["role"] == "user"]})
            out["prompt"].append(chat_messages(doc, system_prompt))
            out["completion"].append([{"role": "assistant", "content": [{"type": "text", "text": answers[0]}]}])
            out["image"].append(load_image(doc))
        return out

    return transform


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("trl", "peft", "transformers", "torch", "datasets"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _import_trl():
    try:
        import trl  # noqa: F401
    except ImportError:
        raise ImaxError("imax train needs TRL: pip install 'imax-hub[train]'") from None


def run_train(opts: TrainOptions, log=lambda msg: None) -> dict:
    """Train, write the adapter and ``imax_train.json`` into ``opts.out``; return the recipe."""
    _import_trl()
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import SFTConfig, SFTTrainer

    from imax_hub.adapters import adapter_fingerprint, with_adapter
    from imax_hub.backends.transformers_vlm import resolve_dtype

    out = Path(opts.out)
    if opts.dtype not in ("auto", "bfloat16", "float16", "float32"):
        raise ImaxError(f"--dtype must be auto, bfloat16, float16 or float32, not {opts.dtype!r}")
    if opts.max_steps == 0 or opts.epochs <= 0:
        raise ImaxError("nothing to train: --max-steps 0 or --epochs <= 0")
    if opts.resume and opts.overwrite:
        raise ImaxError("--resume continues a run, --overwrite starts over: pass one of them")
    init = None
    if opts.adapter is not None:
        init = {"name": Path(opts.adapter).resolve().name, "sha256": adapter_fingerprint(opts.adapter)}
        if Path(opts.adapter).resolve() == out.resolve():
            raise ImaxError("--adapter and --out are the same folder; train into a new --out")
    check_out(out, opts.resume, opts.overwrite)
    rows, fingerprint = training_rows(Path(opts.dataset), opts.config, opts.max_samples, opts.seed, opts.cache_dir)
    rows_hash = hashlib.sha256("\n".join(sorted(rows["id"])).encode()).hexdigest()[:16]
    cuda = torch.cuda.is_available()
    dtype = resolve_dtype(opts.dtype, "cuda" if cuda else "cpu")

    processor = AutoProcessor.from_pretrained(opts.model)
    model = AutoModelForImageTextToText.from_pretrained(opts.model, dtype=dtype)
    revision = getattr(model.config, "_commit_hash", None)
    peft_config, lora = None, None
    if opts.adapter is not None:
        model = with_adapter(model, opts.adapter, trainable=True)
        cfg = model.peft_config["default"]
        lora = {"r": cfg.r, "alpha": cfg.lora_alpha, "dropout": cfg.lora_dropout, "targets": "from --adapter",
                "target_modules": cfg.target_modules if isinstance(cfg.target_modules, str) else sorted(cfg.target_modules)}
    else:
        regex = lora_target_regex(model, opts.lora_targets)
        peft_config = LoraConfig(r=opts.lora_r, lora_alpha=opts.lora_alpha, lora_dropout=opts.lora_dropout,
                                 target_modules=regex, task_type="CAUSAL_LM")
        lora = {"r": opts.lora_r, "alpha": opts.lora_alpha, "dropout": opts.lora_dropout, "targets": opts.lora_targets,
                "target_modules": regex}

    args = SFTConfig(
        output_dir=str(out / "checkpoints"),
        per_device_train_batch_size=opts.batch_size,
        gradient_accumulation_steps=opts.grad_accum,
        learning_rate=opts.learning_rate,
        num_train_epochs=opts.epochs,
        max_steps=opts.max_steps,
        seed=opts.seed,
        data_seed=opts.seed,
        logging_steps=1 if opts.max_steps > 0 and opts.max_steps <= 50 else 10,
        save_strategy="steps",
        save_steps=opts.save_steps,
        save_total_limit=2,
        bf16=cuda and dtype == torch.bfloat16,
        fp16=cuda and dtype == torch.float16,
        use_cpu=not cuda,
        report_to="none",  # no tracker (W&B, …) receives anything
        remove_unused_columns=False,  # the transform already yields only prompt, completion, image
        max_length=None,  # truncating would cut image tokens out of the prompt
        completion_only_loss=True,  # -log p(answer | image, prompt), as Eq. (2) and `imax fim`
        dataloader_num_workers=opts.workers,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=rows.with_transform(prompt_completion(opts.system_prompt)),
                         processing_class=processor, peft_config=peft_config)
    t0 = time.perf_counter()
    # lighteval's transformers model module calls torch.set_grad_enabled(False) when imported; in a process that
    # evaluated before (a notebook, the three stages in one script) training would then have no gradients
    with torch.enable_grad():
        result = trainer.train(resume_from_checkpoint=True if opts.resume else None)
    wall = time.perf_counter() - t0

    losses = [[h["step"], h["loss"]] for h in trainer.state.log_history if "loss" in h]
    if not losses or not all(math.isfinite(v) for _, v in losses):
        raise ImaxError(f"training diverged or logged no loss (losses: {losses[:5]}…); no adapter written")
    staged = out / ".adapter.partial"
    shutil.rmtree(staged, ignore_errors=True)
    trainer.model.save_pretrained(str(staged))
    previous = None
    if opts.adapter is not None and (Path(opts.adapter) / RECIPE).is_file():
        previous = json.loads((Path(opts.adapter) / RECIPE).read_text())
    trainable = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    recipe = {
        "format": TRAIN_FORMAT,
        "imax_hub_version": __version__,
        "base_model": {"id": Path(opts.model).name if is_local_path(opts.model) else opts.model, "revision": revision},
        "init_adapter": init,
        "dataset": {"fingerprint": fingerprint, "config": opts.config, "split": "train", "rows": len(rows),
                    "rows_hash": rows_hash},
        "lora": {**lora, "tensors": len(trainable)},
        "training": {"epochs": opts.epochs, "max_steps": opts.max_steps, "steps": trainer.state.global_step,
                     "learning_rate": opts.learning_rate, "batch_size": opts.batch_size, "grad_accum": opts.grad_accum,
                     "seed": opts.seed, "dtype": str(dtype).removeprefix("torch."),
                     "device": "cuda" if cuda else "cpu", "train_loss": result.training_loss, "wall_s": round(wall, 1)},
        "loss": losses,
        "signature": (f"sft:trl|loss:answer|lora:r{lora['r']},a{lora['alpha']},d{lora['dropout']},{lora['targets']}|"
                      f"lr:{opts.learning_rate:g}|bs:{opts.batch_size}x{opts.grad_accum}|steps:{trainer.state.global_step}|"
                      f"seed:{opts.seed}|data:{opts.config}@{fingerprint[:12]}"),
        "versions": _versions(),
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()
                    if k not in ("dataset", "out", "cache_dir", "model", "adapter")},
        "previous": previous,
    }
    for f in staged.iterdir():  # the finished adapter appears whole, after training succeeded
        f.replace(out / f.name)
    staged.rmdir()
    write_atomic(out / RECIPE, json.dumps(recipe, indent=1) + "\n")
    if opts.merge:
        log("merging the adapter into the base weights")
        merged = out / "merged"
        partial = out / ".merged.partial"
        shutil.rmtree(partial, ignore_errors=True)
        trainer.model.merge_and_unload().save_pretrained(str(partial))
        processor.save_pretrained(str(partial))
        shutil.rmtree(merged, ignore_errors=True)
        partial.replace(merged)
    return recipe
