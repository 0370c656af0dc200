"""Eval throughput of the VLM backends on a realistic 2-3B architecture with random weights.

    python benchmarks/eval_gpu.py DATASET_FOLDER --out /tmp/qwen-like [--rows 1000] [--tiny]

Writes a LLaVA-1.5-style 3B model (config written here: CLIP ViT-L/14-336 tower, 576 image tokens, and a
2.7B Llama, 2560 x 32 layers; no download — the accelerator machines cannot reach the Hub) with a
character-level tokenizer, then
evaluates a seeded ``--rows`` sample of the test split, with each task's usual answer length forced
(random weights never stop early, so generation length is the tasks' budgets), through
(a) lighteval's stock VLM class with our fix (``--backend stock``), (b) our batched backend, and
(c) vLLM when it imports. Prints samples/s and peak GPU memory per backend as JSON. ``--tiny`` shrinks
the model so the script itself can be checked on CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'].upper() }}: {% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>\n{% else %}{{ c['text'] }}{% endif %}{% endfor %}\n{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


def write_model(out: Path, tiny: bool) -> Path:
    """A LLaVA-1.5-style model at 3B: CLIP ViT-L/14-336 tower (0.3B, 576 image tokens) + a 2.7B Llama."""
    import torch
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from tiny_vlm import char_tokenizer  # the test suite's character-level tokenizer

    fast, vocab = char_tokenizer([chr(c) for c in range(32, 127)] + ["\n"], CHAT_TEMPLATE)
    vision = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                  image_size=336, patch_size=14, projection_dim=768)
    text = dict(vocab_size=32_000, hidden_size=2560, intermediate_size=6912, num_hidden_layers=32,
                num_attention_heads=20, num_key_value_heads=20, max_position_embeddings=4096)
    if tiny:
        vision.update(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=56)
        text.update(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=4)
    # eos outside the vocabulary: random weights never stop early, so every task runs its full token budget
    config = LlavaConfig(vision_config=CLIPVisionConfig(**vision),
                         text_config=LlamaConfig(**text, pad_token_id=0, bos_token_id=1, eos_token_id=None),
                         image_token_index=vocab["<image>"], vision_feature_layer=-2,
                         vision_feature_select_strategy="default")
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = LlavaForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config.eos_token_id = None
    model.save_pretrained(out)
    size = vision["image_size"]
    LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": size},
                                                      crop_size={"height": size, "width": size}),
                   tokenizer=fast, patch_size=14, vision_feature_select_strategy="default",
                   chat_template=CHAT_TEMPLATE, num_additional_image_tokens=1).save_pretrained(out)
    n = sum(p.numel() for p in model.parameters())
    print(json.dumps({"model": "llava-style", "parameters": n}), file=sys.stderr)
    return out


def run(backend: str, model: Path, dataset: str, rows_per_task: int, out: Path) -> dict:
    import torch

    from imax_hub.evaluation import EvalOptions, run_eval

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    summary = run_eval(EvalOptions(model=str(model), dataset=dataset, backend=backend, max_samples=rows_per_task,
                                   batch_size=16, output_dir=out / backend, cache_dir=str(out / f"cache-{backend}")))
    wall = time.perf_counter() - t0
    n = summary["n_items"]
    return {"backend": backend, "items": n, "wall_s": round(wall, 1), "samples_per_s": round(n / wall, 2),
            "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--out", type=Path, default=Path("/tmp/imax-eval-bench"))
    ap.add_argument("--rows", type=int, default=1000, help="test rows in all (split evenly over the ten tasks)")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--backends", default="stock,transformers,vllm")
    args = ap.parse_args()
    import torch

    model = write_model(args.out / "llava-3b-random", args.tiny)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    results = []
    for backend in args.backends.split(","):
        if backend == "vllm":
            try:
                import vllm  # noqa: F401
            except ImportError:
                results.append({"backend": "vllm", "skipped": "vllm not importable here"})
                continue
        results.append(run(backend, model, args.dataset, args.rows // 10, args.out))
        print(json.dumps(results[-1]), file=sys.stderr)
    print(json.dumps({"device": device, "rows": args.rows, "results": results}, indent=1))


if __name__ == "__main__":
    main()
