"""GPU timings of the paper's analyses on a realistic 3B architecture with random weights (issue 7).

    python benchmarks/analyses_gpu.py --out /tmp/imax-analyses-bench [--patients 650] [--images 1000] [--tiny]

Synthesizes a tree and builds it (DMAX train >= --images images), writes the LLaVA-1.5-style 3B model of
``benchmarks/eval_gpu.py`` (CLIP ViT-L/14-336 tower, 576 image tokens, Llama 2560 x 32; no download), then times
(1) ``imax train``: LoRA (r 16, language model's 7 projections x 32 layers) on DMAX rows, bf16;
(2) ``imax fim`` with that adapter: N = 32, one scalar per LoRA matrix (7 x 32 x 2 = 448 parameters, the
    paper's 450-parameter regime), bf16 weights, float32 log-softmax;
(3) ``imax pseudo-label`` with the same adapter (merged on load) over the first --images DMAX training images,
    every task generating its full token budget (random weights never stop early).
Prints one JSON document (per step: wall seconds, rates, peak GPU memory). ``--tiny`` shrinks everything so
the script itself can be checked on CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_gpu import write_model  # noqa: E402  (the same 3B model as the eval throughput benchmark)


def _peak_gib() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    peak = torch.cuda.max_memory_allocated() / 2**30
    torch.cuda.reset_peak_memory_stats()
    return round(peak, 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("/tmp/imax-analyses-bench"))
    ap.add_argument("--patients", type=int, default=650)
    ap.add_argument("--images", type=int, default=1000, help="DMAX training images to pseudo-label")
    ap.add_argument("--train-steps", type=int, default=30)
    ap.add_argument("--fim-groups", type=int, default=3, help="groups of N = 32 samples")
    ap.add_argument("--fim-dtypes", default="bfloat16,float32")
    ap.add_argument("--batch-size", type=int, default=64, help="pseudo-label generation batch")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--skip", default="", help="comma-separated steps to skip: train, fim, pseudo")
    ap.add_argument("--log", type=Path, help="also append each step's result and pseudo-label progress here (JSON lines), "
                                             "so that a run cut short still tells its rates")
    args = ap.parse_args()

    def log(record: dict) -> None:
        line = json.dumps(record)
        print(line, file=sys.stderr, flush=True)
        if args.log:
            with open(args.log, "a") as fh:
                fh.write(line + "\n")

    import torch

    from imax_hub.build import BuildOptions, build
    from imax_hub.evaluation import EvalOptions, _revision_of, make_model
    from imax_hub.pseudo import pseudo_label
    from imax_hub.synth import synthesize
    from imax_hub.train import TrainOptions, run_train

    skip = set(filter(None, args.skip.split(",")))
    out = args.out
    report: dict = {"device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
                    "torch": torch.__version__, "tiny": args.tiny, "steps": {}}
    t0 = time.perf_counter()
    if not (out / "imax" / "build_manifest.json").is_file():
        synthesize(out / "physionet", patients=args.patients, seed=0, image_size=512)
        build(BuildOptions(physionet_root=out / "physionet", out=out / "imax", target_images=100, seed=0, overwrite=True))
    stats = json.loads((out / "imax" / "stats" / "stats.json").read_text())
    report["data"] = {"patients": args.patients, "dmax_train_images": stats["dmax_train"]["images"],
                      "image_px": 512, "seconds": round(time.perf_counter() - t0, 1)}
    model = out / "llava-3b-random"
    if not (model / "config.json").is_file():
        write_model(model, args.tiny)

    adapter = out / "stage1"
    if "train" not in skip:
        _peak_gib()
        t = time.perf_counter()
        recipe = run_train(TrainOptions(model=str(model), dataset=out / "imax", out=adapter, config="dmax",
                                        max_steps=args.train_steps, batch_size=8, workers=4, overwrite=True,
                                        save_steps=10_000, cache_dir=str(out / "hf-cache")))
        wall = time.perf_counter() - t
        tr = recipe["training"]
        report["steps"]["train"] = {"steps": tr["steps"], "batch": 8, "lora_tensors": recipe["lora"]["tensors"],
                                    "wall_s": round(wall, 1), "trainer_s": tr["wall_s"],
                                    "samples_per_s": round(tr["steps"] * 8 / tr["wall_s"], 2),
                                    "first_loss": recipe["loss"][0][1], "last_loss": recipe["loss"][-1][1],
                                    "peak_gpu_gib": _peak_gib()}
        log({"train": report["steps"]["train"]})

    if "fim" not in skip:
        import numpy as np

        from imax_hub.fim import VLMLogLikelihood, per_sample_gradients, select_parameters, spectrum, train_rows

        rows, _ = train_rows(out / "imax", "dmax")
        rng = np.random.default_rng(0)
        chosen = [rows[i] for i in rng.choice(len(rows), size=32 * args.fim_groups, replace=False)]
        for dtype in args.fim_dtypes.split(","):
            t = time.perf_counter()
            scorer = VLMLogLikelihood(str(model), str(adapter), dtype=dtype)
            selection = select_parameters(scorer.model.named_parameters(), "one-per-layer", seed=0)
            for name, p in scorer.model.named_parameters():  # as run_fim: gradients for the selected tensors only
                p.requires_grad_(name in {n for n, _ in selection.entries})
            load = time.perf_counter() - t
            per_group, se, rho = [], [], []
            for g in range(args.fim_groups):
                t = time.perf_counter()
                grads = per_sample_gradients(scorer.model, selection,
                                             [lambda r=r: scorer(r) for r in chosen[32 * g:32 * (g + 1)]])
                s = spectrum(grads)
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                per_group.append(time.perf_counter() - t)
                se.append(s["se"])
                rho.append(s["rho"])
            report["steps"][f"fim_{dtype}"] = {
                "params": selection.size, "n": 32, "groups": args.fim_groups, "load_s": round(load, 1),
                "s_per_group": [round(x, 2) for x in per_group], "median_s_per_group": round(float(np.median(per_group)), 2),
                "se": [round(x, 4) for x in se], "rho": [round(x, 2) for x in rho], "peak_gpu_gib": _peak_gib()}
            log({"fim": report["steps"][f"fim_{dtype}"]})
            del scorer
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    if "pseudo" not in skip:
        t = time.perf_counter()
        backend = make_model(EvalOptions(model=str(model), adapter=str(adapter) if adapter.exists() else None,
                                         dataset=str(out / "imax"), backend="transformers", batch_size=args.batch_size))
        backend._cache = None
        load = time.perf_counter() - t
        t = time.perf_counter()
        result = pseudo_label(out / "imax", out / "pseudo", backend, model_id="llava-3b-random+stage1",
                              revision=_revision_of(backend), config="dmax", max_images=args.images, chunk_size=512,
                              tick=lambda phase, done, total: log({"tick": [round(time.perf_counter() - t, 1), done, total]}))
        wall = time.perf_counter() - t
        report["steps"]["pseudo_label"] = {
            "images": result.images, "prompts": result.asked, "batch": args.batch_size, "load_s": round(load, 1),
            "wall_s": round(wall, 1), "s_per_1000_images": round(wall / result.images * 1000, 1),
            "prompts_per_s": round(result.asked / wall, 2), "kept": sum(result.kept.values()),
            "dropped": sum(result.dropped.values()), "peak_gpu_gib": _peak_gib()}
        log({"pseudo": report["steps"]["pseudo_label"]})
    report["total_s"] = round(time.perf_counter() - t0, 1)
    log({"done": True})
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
