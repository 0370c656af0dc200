"""Fisher-information spectra of Section 4.2: the empirical FIM (Eq. 2), ρ (Eq. 3) and SE (Eq. 4).

For a group of N samples with per-sample gradients g_i = ∇θ log p(y_i | x_i; θ) over a representative set
of p parameters, FIM = (1/N) Σ g_i g_iᵀ (p x p, rank <= N). Its non-zero eigenvalues are those of the
N x N Gram matrix (1/N) G Gᵀ, computed in float64, so p may be large. Eigenvalues at or below
``ZERO_TOLERANCE`` x λmax are numerical zeros (float64 round-off of a rank-N matrix is ~1e-16 λmax)
and are excluded, as Eq. 4 asks. As in the paper, ``samples`` training rows are drawn at random
(1,600) and split into groups of N (32); every group gives one (SE, ρ), and their spread over the
groups is what Figure 5 plots per checkpoint.

The representative parameters follow a recorded rule: ``one-per-layer`` (the paper's: one scalar per
trainable weight tensor — for a LoRA adapter its lora_A / lora_B matrices — at a seeded random index),
``all-lora`` (every LoRA element), ``all`` (every trainable element), or ``layers:REGEX`` (one-per-layer
over the tensors whose name matches).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Iterable

import numpy as np

from imax_hub import __version__
from imax_hub.errors import ImaxError
from imax_hub.files import is_local_path, write_atomic

FIM_FORMAT = "imax-hub/fim/1"
ZERO_TOLERANCE = 1e-10  # relative to λmax
RULES = ("one-per-layer", "all-lora", "all", "layers:REGEX")


# --- spectra


def nonzero_eigenvalues(eigenvalues: Iterable[float], tolerance: float = ZERO_TOLERANCE) -> np.ndarray:
    """The eigenvalues above ``tolerance`` x the largest (round-off negatives and zeros dropped), descending."""
    ev = np.sort(np.asarray(list(eigenvalues), dtype=np.float64))[::-1]
    if ev.size == 0 or ev[0] <= 0:
        return ev[:0]
    return ev[ev > tolerance * ev[0]]


def spectral_entropy(eigenvalues: Iterable[float], tolerance: float = ZERO_TOLERANCE) -> float:
    """Eq. (4): -Σ λ̃ log λ̃ over the non-zero eigenvalues, λ̃ = λ / Σλ (natural log; nan without any)."""
    ev = nonzero_eigenvalues(eigenvalues, tolerance)
    if ev.size == 0:
        return math.nan
    p = ev / ev.sum()
    return float(-(p * np.log(p)).sum())


def dominant_ratio(eigenvalues: Iterable[float], tolerance: float = ZERO_TOLERANCE) -> float:
    """Eq. (3): λmax / Σλ x 100 over the non-zero eigenvalues (nan without any)."""
    ev = nonzero_eigenvalues(eigenvalues, tolerance)
    return float(100 * ev[0] / ev.sum()) if ev.size else math.nan


def fim_eigenvalues(gradients: np.ndarray) -> np.ndarray:
    """Eigenvalues (descending) of (1/N) Σ g gᵀ for the N x p per-sample ``gradients``, via the N x N Gram."""
    g = np.asarray(gradients, dtype=np.float64)
    gram = g @ g.T / g.shape[0]
    return np.sort(np.linalg.eigvalsh(gram))[::-1]


def spectrum(gradients: np.ndarray, tolerance: float = ZERO_TOLERANCE) -> dict:
    """SE, ρ and the eigenvalues of one group's empirical FIM."""
    ev = fim_eigenvalues(gradients)
    nz = nonzero_eigenvalues(ev, tolerance)
    return {"se": spectral_entropy(ev, tolerance), "rho": dominant_ratio(ev, tolerance), "nonzero": int(nz.size),
            "lambda_max": float(nz[0]) if nz.size else 0.0, "eigenvalues": nz.tolist()}


# --- which parameters


@dataclass
class ParamSelection:
    rule: str
    seed: int
    entries: list[tuple[str, int]] = field(default_factory=list)  # (parameter name, flat index)

    @property
    def size(self) -> int:
        return len(self.entries)


def _index(name: str, numel: int, seed: int) -> int:
    return int(np.random.default_rng([seed, zlib.crc32(name.encode())]).integers(numel))


def select_parameters(named_parameters: Iterable, rule: str = "one-per-layer", seed: int = 0) -> ParamSelection:
    """The representative scalars of the trainable (requires_grad) parameters under ``rule``."""
    params = [(n, p) for n, p in named_parameters if p.requires_grad]
    if not params:
        raise ImaxError("the model has no trainable parameter (requires_grad) to take the FIM over")
    selection = ParamSelection(rule=rule, seed=seed)
    lora = [(n, p) for n, p in params if "lora_" in n]
    if rule == "all":
        selection.entries = [(n, i) for n, p in params for i in range(p.numel())]
    elif rule == "all-lora":
        if not lora:
            raise ImaxError("--params all-lora: the model has no LoRA parameter (pass --adapter)")
        selection.entries = [(n, i) for n, p in lora for i in range(p.numel())]
    elif rule == "one-per-layer" or rule.startswith("layers:"):
        pool = lora or params
        weights = [(n, p) for n, p in pool if p.dim() >= 2 or "lora_" in n] or pool  # biases and norms are not layers
        if rule.startswith("layers:"):
            try:
                pattern = re.compile(rule.split(":", 1)[1])
            except re.error as exc:
                raise ImaxError(f"--params {rule}: bad regular expression ({exc})") from None
            weights = [(n, p) for n, p in weights if pattern.search(n)]
            if not weights:
                raise ImaxError(f"--params {rule}: no trainable weight tensor matches")
        selection.entries = [(n, _index(n, p.numel(), seed)) for n, p in weights]
    else:
        raise ImaxError(f"--params must be one of {', '.join(RULES)}, not {rule!r}")
    return selection


def per_sample_gradients(model, selection: ParamSelection, log_probs: Iterable[Callable[[], "object"]]) -> np.ndarray:
    """One row per sample: ∂ log p(y|x) / ∂θ_k for the selected scalars θ_k (float64).

    ``log_probs`` yields callables returning each sample's scalar log-likelihood tensor; gradients are taken
    with respect to the selected tensors only, so the rest of the model needs none.
    """
    import torch

    by_name = dict(model.named_parameters())
    names = list(dict.fromkeys(n for n, _ in selection.entries))
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ImaxError(f"parameter {missing[0]!r} of the selection is not in the model")
    tensors = [by_name[n] for n in names]
    pos = {n: i for i, n in enumerate(names)}
    picks = [(pos[n], i) for n, i in selection.entries]
    rows = []
    for fn in log_probs:
        with torch.enable_grad():  # lighteval's transformers model module switches gradients off globally on import
            value = fn()
            grads = torch.autograd.grad(value, tensors, allow_unused=True)
        flat = [g.detach().reshape(-1).double().cpu() if g is not None else None for g in grads]
        rows.append([float(flat[t][i]) if flat[t] is not None else 0.0 for t, i in picks])
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(picks))


# --- a vision-language model on build rows


@dataclass
class FimOptions:
    model: str
    dataset: Path
    out: Path
    config: str = "imax"
    adapter: str | None = None
    samples: int = 1600
    n: int = 32
    params: str = "one-per-layer"
    seed: int = 0
    label: str | None = None
    dtype: str = "float32"
    device: str | None = None


def train_rows(folder: Path, config: str) -> tuple[list[dict], str]:
    """(id, messages, answer, image) of the train split of a build's config; and the build fingerprint."""
    import pyarrow.parquet as pq

    from imax_hub.build.manifest import train_shards

    manifest, paths = train_shards(folder, config)
    rows = []
    for path in paths:
        rows += pq.read_table(path, columns=["id", "messages", "answer", "image"]).to_pylist()
    rows.sort(key=lambda r: r["id"])
    return rows, manifest["fingerprint"]


class VLMLogLikelihood:
    """log p(answer | image, prompt) of build rows under an image-text-to-text model (optionally + LoRA adapter)."""

    def __init__(self, model: str, adapter: str | None = None, dtype: str = "float32", device: str | None = None):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.processor = AutoProcessor.from_pretrained(model)
        net = AutoModelForImageTextToText.from_pretrained(model, dtype=getattr(torch, dtype))
        self.revision = getattr(net.config, "_commit_hash", None)
        if adapter is not None:
            from imax_hub.adapters import with_adapter

            net = with_adapter(net, adapter, trainable=True)
        self.model = net.to(self.device).eval()  # eval: no dropout; gradients still flow

    def __call__(self, row: dict):
        from imax_hub.backends.common import chat_messages, load_image

        # the row in the shape the eval backends read: the same chat turns, the same image loading and errors
        doc = SimpleNamespace(specific={"id": row["id"], "image": row["image"] or {},
                                        "messages": [m for m in row["messages"] if m["role"] == "user"]})
        prompt = self.processor.apply_chat_template(chat_messages(doc), add_generation_prompt=True, tokenize=False)
        eos = self.processor.tokenizer.eos_token or ""
        image = load_image(doc)
        if row["answer"] is None:
            raise ImaxError(f"row {row['id']!r} has no answer to take log p(y|x) of")
        enc_prompt = self.processor(text=[prompt], images=[[image]], return_tensors="pt")
        enc = self.processor(text=[prompt + row["answer"] + eos], images=[[image]], return_tensors="pt")
        ids, prompt_ids = enc["input_ids"][0], enc_prompt["input_ids"][0]
        common = int((ids[: len(prompt_ids)] == prompt_ids[: len(ids)]).cumprod(0).sum())
        dtype = next(self.model.parameters()).dtype
        enc = {k: (v.to(self.device, dtype=dtype) if v.is_floating_point() else v.to(self.device))
               for k, v in enc.items()}
        logits = self.model(**enc).logits[0, :-1]
        if logits.dtype != self.torch.float64:  # log-softmax in float32 at least (bf16 logits lose the tail)
            logits = logits.float()
        logp = self.torch.log_softmax(logits, dim=-1)
        targets = enc["input_ids"][0, 1:]
        token_logp = logp.gather(-1, targets[:, None])[:, 0]
        return token_logp[common - 1:].sum()  # the answer tokens (and end of sequence) given everything before


def run_fim(opts: FimOptions) -> dict:
    """Sample rows, compute per-group spectra, write ``fim.json`` into ``opts.out``; return the document."""
    if opts.n < 2:
        raise ImaxError("--n must be at least 2 samples per FIM")
    rows, fingerprint = train_rows(Path(opts.dataset), opts.config)
    rng = np.random.default_rng(opts.seed)
    take = min(opts.samples, len(rows))
    if take < opts.n:
        raise ImaxError(f"config {opts.config!r} has {len(rows)} train rows: fewer than --n {opts.n}")
    chosen = [rows[i] for i in rng.choice(len(rows), size=take, replace=False)]
    groups = [chosen[i:i + opts.n] for i in range(0, take - opts.n + 1, opts.n)]
    from imax_hub.adapters import adapter_fingerprint

    scorer = VLMLogLikelihood(opts.model, opts.adapter, opts.dtype, opts.device)
    selection = select_parameters(scorer.model.named_parameters(), opts.params, opts.seed)
    for name, p in scorer.model.named_parameters():  # gradients for the selected tensors only
        p.requires_grad_(name in {n for n, _ in selection.entries})
    results = []
    for group in groups:
        grads = per_sample_gradients(scorer.model, selection, [lambda r=r: scorer(r) for r in group])
        results.append(spectrum(grads))
    se = np.array([g["se"] for g in results])
    rho = np.array([g["rho"] for g in results])
    doc = {
        "format": FIM_FORMAT,
        "imax_hub_version": __version__,
        "label": opts.label or Path(opts.adapter or opts.model).resolve().name,
        "model": {"id": Path(opts.model).name if is_local_path(opts.model) else opts.model, "revision": scorer.revision,
                  "adapter": Path(opts.adapter).resolve().name if opts.adapter else None,
                  "adapter_sha256": adapter_fingerprint(opts.adapter) if opts.adapter else None},
        "dataset": {"fingerprint": fingerprint, "config": opts.config, "split": "train",
                    # which rows, without naming them (ids are MIMIC identifiers)
                    "rows_hash": hashlib.sha256("\n".join(sorted(r["id"] for r in chosen)).encode()).hexdigest()[:16]},
        "samples": take, "n": opts.n, "groups": len(groups), "seed": opts.seed, "zero_tolerance": ZERO_TOLERANCE,
        "params": {"rule": opts.params, "count": selection.size,
                   "entries": [[n, i] for n, i in selection.entries] if selection.size <= 10_000 else None},
        "signature": f"fim:empirical|log-p:answer+eos|params:{opts.params}:{selection.size}|n:{opts.n}|"
                     f"se:ln,nonzero>{ZERO_TOLERANCE:g}*max|rho:%|seed:{opts.seed}",
        "summary": {"se_mean": float(np.nanmean(se)), "se_std": float(np.nanstd(se)),
                    "se_median": float(np.nanmedian(se)), "rho_mean": float(np.nanmean(rho)),
                    "rho_std": float(np.nanstd(rho)), "rho_median": float(np.nanmedian(rho))},
        "per_group": results,
    }
    write_atomic(Path(opts.out) / "fim.json", json.dumps(doc, indent=1) + "\n")
    return doc


def load_fim(folder: Path) -> dict:
    path = Path(folder) / "fim.json" if Path(folder).is_dir() else Path(folder)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ImaxError(f"{path}: cannot read an `imax fim` result ({exc})") from None
    if doc.get("format") != FIM_FORMAT:
        raise ImaxError(f"{path}: not an `imax fim` result (format {FIM_FORMAT})")
    return doc


def plot(docs: list[dict], out: Path) -> None:
    """Figure-5 style: per label (checkpoint, in the order given) violin + box plots of SE and ρ, one colour per config."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    labels = list(dict.fromkeys(d["label"] for d in docs))
    configs = list(dict.fromkeys(d["dataset"]["config"] for d in docs))
    colours = dict(zip(configs, ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3")))
    width = 0.8 / len(configs)
    fig, axes = plt.subplots(1, 2, figsize=(max(7, 2.2 * len(labels) + 3), 4))
    for ax, key, title in ((axes[0], "se", "spectral entropy SE"), (axes[1], "rho", "dominant eigenvalue ratio ρ (%)")):
        for j, cfg in enumerate(configs):
            for i, lab in enumerate(labels):
                values = [g[key] for d in docs if d["label"] == lab and d["dataset"]["config"] == cfg
                          for g in d["per_group"] if g[key] == g[key]]
                if not values:
                    continue
                x = i - 0.4 + width * (j + 0.5)
                if len(values) > 1:
                    parts = ax.violinplot([values], positions=[x], widths=width * 0.9, showextrema=False)
                    for body in parts["bodies"]:
                        body.set_facecolor(colours[cfg])
                        body.set_alpha(0.35)
                ax.boxplot([values], positions=[x], widths=width * 0.3, showfliers=False,
                           medianprops={"color": colours[cfg]})
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels)
        ax.set_title(title, fontsize=10)
    axes[0].legend(handles=[Patch(color=colours[c], alpha=0.6, label=c.upper()) for c in configs],
                   fontsize=8)
    fig.suptitle(f"FIM spectra over groups of N = {docs[0]['n']} samples", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, metadata={"Software": None})
    plt.close(fig)
