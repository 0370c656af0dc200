"""peft LoRA adapters (written by ``imax train``) on top of a base model, for ``imax fim``, ``eval`` and ``pseudo-label``."""

from __future__ import annotations

from pathlib import Path

from imax_hub.errors import ImaxError

WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")


def check_adapter(path: str | Path) -> Path:
    """The adapter folder, or a clear error saying what is missing."""
    folder = Path(path)
    if not (folder / "adapter_config.json").is_file():
        hint = " (a training run's folder holds it once training finished; pass that folder)" if \
            (folder / "checkpoints").is_dir() else ""
        raise ImaxError(f"--adapter {folder}: not a peft adapter folder (no adapter_config.json){hint}")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise ImaxError(f"--adapter {folder}: adapter_config.json but no {WEIGHT_FILES[0]}")
    return folder


def adapter_fingerprint(path: str | Path) -> str:
    """sha256 (16 hex) of the adapter's weights: results and caches of different adapters never mix."""
    from imax_hub.files import sha256_file

    folder = check_adapter(path)
    return sha256_file(next(folder / name for name in WEIGHT_FILES if (folder / name).is_file()))[:16]


def with_adapter(model, path: str | Path, *, trainable: bool = False, merge: bool = False):
    """``model`` with the LoRA adapter at ``path``; ``merge`` folds it into the weights (faster generation)."""
    folder = check_adapter(path)
    try:
        from peft import PeftModel
    except ImportError:
        raise ImaxError("--adapter needs peft: pip install peft") from None
    from safetensors import SafetensorError

    try:
        net = PeftModel.from_pretrained(model, str(folder), is_trainable=trainable)
    except (SafetensorError, OSError) as exc:  # truncated or unreadable weights
        raise ImaxError(f"--adapter {folder}: cannot read its weights ({str(exc).splitlines()[0]}); "
                        "retrain it or copy it again") from None
    except (ValueError, KeyError, RuntimeError) as exc:
        raise ImaxError(f"--adapter {folder}: does not fit this model ({str(exc).splitlines()[0]})") from None
    return net.merge_and_unload() if merge else net


def run_name(model: str, adapter: str | Path | None) -> str:
    """How a base model plus adapter is named in results and pseudo rows: ``model+adapter-folder-name``."""
    return f"{model}+{Path(adapter).resolve().name}" if adapter else model
