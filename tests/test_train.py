"""`imax train` (LoRA SFT through TRL) and the three-stage pseudo-IMAX strategy end to end, on CPU with the tiny VLM."""

import json
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

from imax_hub.build import BuildOptions, build
from imax_hub.build.manifest import config_fingerprint
from imax_hub.errors import ImaxError
from imax_hub.synth import synthesize

pytest.importorskip("trl")  # the `train` extra; `make test` installs it

sys.path.insert(0, str(Path(__file__).parent))
from tiny_vlm import make_tiny_vlm  # noqa: E402


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    synthesize(root / "physionet", patients=40, seed=5, image_size=64)
    build(BuildOptions(physionet_root=root / "physionet", out=root / "imax", target_images=20, seed=0))
    return root / "imax", make_tiny_vlm(root / "tiny-vlm")


@pytest.fixture
def folder(base, tmp_path):
    dst = tmp_path / "imax"
    shutil.copytree(base[0], dst)
    return dst


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")


def _lora_weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def test_rows_reach_trl_as_the_eval_prompt_with_loss_on_the_answer_only(base):
    """What TRL trains on: the prompt `imax eval` encodes, then the answer; only the answer carries labels."""
    from transformers import AutoProcessor
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    from imax_hub.backends.common import chat_messages, load_image
    from imax_hub.train import prompt_completion, training_rows

    folder, model = base
    rows, fingerprint = training_rows(folder, "dmax", max_samples=6, seed=1, cache_dir=None)
    manifest = json.loads((folder / "build_manifest.json").read_text())
    assert len(rows) == 6 and fingerprint == config_fingerprint(manifest, "dmax") != config_fingerprint(manifest, "imax")
    examples = rows.with_transform(prompt_completion())[:6]
    processor = AutoProcessor.from_pretrained(model)
    batch = DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True)(
        [{k: examples[k][i] for k in examples} for i in range(6)])
    raw = rows[:6]
    for i in range(6):
        answer = next(c["text"] for m in raw["messages"][i] if m["role"] == "assistant" for c in m["content"])
        doc = SimpleNamespace(specific={"id": raw["id"][i], "image": raw["image"][i],
                                        "messages": [m for m in raw["messages"][i] if m["role"] == "user"]})
        prompt = processor.apply_chat_template(chat_messages(doc), add_generation_prompt=True, tokenize=False)
        eval_ids = processor(text=[prompt], images=[[load_image(doc)]], return_tensors="pt")["input_ids"][0].tolist()
        ids, labels = batch["input_ids"][i].tolist(), batch["labels"][i].tolist()
        assert ids[:len(eval_ids)] == eval_ids  # the very tokens the eval backend feeds the model
        assert all(t == -100 for t in labels[:len(eval_ids)])  # no loss on image or prompt tokens
        trained = [t for t in labels if t != -100]
        assert processor.tokenizer.decode(trained) == answer + "|"  # the answer and the template's end of turn


def test_imax_train_writes_an_adapter_and_its_recipe_and_protects_finished_runs(base, tmp_path, imax_cli):
    folder, model = base
    out = tmp_path / "run"
    args = ["train", "--model", model, "--dataset", folder, "--config", "dmax", "--out", out, "--max-steps", 2,
            "--batch-size", 2, "--lora-r", 4, "--save-steps", 1, "--seed", 3]
    imax_cli(args)
    recipe = json.loads((out / "imax_train.json").read_text())
    assert recipe["format"] == "imax-train/1" and recipe["training"]["steps"] == 2
    assert recipe["dataset"]["config"] == "dmax"
    assert recipe["dataset"]["rows"] == sum(pq.read_metadata(p).num_rows for p in folder.glob("data/dmax-*/train-*.parquet"))
    # LoRA on the language model only: 7 projections x 2 layers x (A, B); none in the CLIP tower or projector
    weights = _lora_weights(out)
    assert recipe["lora"]["tensors"] == len(weights) == 28
    assert all(".language_model." in k for k in weights)
    assert any(float(v.abs().max()) > 0 for k, v in weights.items() if "lora_B" in k)  # B starts at zero: it trained
    assert len(recipe["loss"]) == 2 and recipe["signature"].startswith("sft:trl|loss:answer|lora:r4,")
    text = (out / "imax_train.json").read_text()
    assert not any(rid in text for rid in pq.read_table(next(folder.glob("data/dmax-*/train-*.parquet")),
                                                         columns=["dicom_id"]).column("dicom_id").to_pylist()[:20])

    from imax_hub.train import TrainOptions, run_train

    opts = dict(model=str(model), dataset=folder, out=out, config="dmax", max_steps=3, batch_size=2, lora_r=4,
                save_steps=1, seed=3)
    with pytest.raises(ImaxError, match="already holds a trained adapter"):
        run_train(TrainOptions(**opts))
    # an interrupted run: checkpoints but no final adapter
    for name in ("adapter_config.json", "adapter_model.safetensors", "imax_train.json"):
        (out / name).unlink()
    with pytest.raises(ImaxError, match="--resume continues it"):
        run_train(TrainOptions(**opts))
    resumed = run_train(TrainOptions(**opts, resume=True))
    assert resumed["training"]["steps"] == 3
    # steps 1-2 (and their logged losses) came from checkpoint-2; only step 3 ran
    assert resumed["loss"][:2] == recipe["loss"] and [s for s, _ in resumed["loss"]] == [1, 2, 3]
    with pytest.raises(ImaxError, match="no checkpoint to resume"):
        run_train(TrainOptions(**{**opts, "out": tmp_path / "fresh"}, resume=True))


def test_train_bad_arguments_are_clear_errors(base, tmp_path):
    from imax_hub.evaluation import EvalOptions, make_model
    from imax_hub.train import TrainOptions, run_train

    folder, model = base
    opts = dict(model=str(model), dataset=folder, out=tmp_path / "run", max_steps=1)
    with pytest.raises(ImaxError, match="no train split for config 'imax_eval_report'"):
        run_train(TrainOptions(**opts, config="imax_eval_report"))
    with pytest.raises(ImaxError, match="not a peft adapter folder"):
        run_train(TrainOptions(**opts, adapter=str(folder)))
    with pytest.raises(ImaxError, match="matches no linear layer"):
        run_train(TrainOptions(**opts, lora_targets=r".*\.qkv_fused"))
    with pytest.raises(ImaxError, match="bad regular expression"):
        run_train(TrainOptions(**opts, lora_targets="(unclosed"))
    with pytest.raises(ImaxError, match="pass one of them"):
        run_train(TrainOptions(**opts, resume=True, overwrite=True))
    with pytest.raises(ImaxError, match="nothing to train"):
        run_train(TrainOptions(**opts | {"max_steps": 0}))
    assert not (tmp_path / "run" / "adapter_config.json").exists()
    with pytest.raises(ImaxError, match="not a peft adapter folder"):
        make_model(EvalOptions(model=str(model), dataset=str(folder), adapter=str(tmp_path)))
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "adapter_config.json").write_text("{}")
    (tmp_path / "a" / "adapter_model.safetensors").write_bytes(b"")
    with pytest.raises(ImaxError, match="'oracle' is a baseline"):
        make_model(EvalOptions(model="oracle", dataset=str(folder), adapter=str(tmp_path / "a")))
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    get_peft_model(AutoModelForImageTextToText.from_pretrained(model), LoraConfig(r=2, target_modules=["q_proj"])) \
        .save_pretrained(tmp_path / "cut")
    weights = tmp_path / "cut" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:300])  # a truncated copy
    with pytest.raises(ImaxError, match="cut: cannot read its weights"):
        run_train(TrainOptions(**opts, adapter=str(tmp_path / "cut")))
    with pytest.raises(ImaxError, match="--adapter works with the transformers backend"):
        make_model(EvalOptions(model=str(model), dataset=str(folder), adapter=str(tmp_path / "a"), backend="vllm"))


def test_three_stages_end_to_end_then_compare_fim_and_merge(folder, base, tmp_path, imax_cli):
    """Stage 1 (DMAX) -> pseudo-label -> stage 2 (pseudo-IMAX) -> stage 3 (DMAX, same adapter) -> eval -> compare."""
    _, model = base
    common = ["--model", model, "--dataset", folder, "--batch-size", 2, "--lora-r", 4, "--seed", 1]
    imax_cli(["train", *common, "--config", "dmax", "--out", tmp_path / "stage1", "--max-steps", 2])
    imax_cli(["pseudo-label", "--model", model, "--adapter", tmp_path / "stage1", "--dataset", folder, "--config", "dmax",
          "--out", tmp_path / "pseudo", "--batch-size", 8, "--model-args", "generation_size=12"])
    labels = json.loads((tmp_path / "pseudo" / "pseudo_label.json").read_text())
    assert labels["model"] == "tiny-vlm+stage1" and labels["asked"] > 0
    assert sum(labels["kept"].values()) + sum(labels["dropped"].values()) == labels["asked"]
    pseudo = pq.read_table(next(folder.glob("data/pseudo_imax/train-*.parquet")), columns=["origin", "pseudo_model"])
    assert set(pseudo.column("origin").to_pylist()) <= {"real", "pseudo"}
    assert pseudo.column("origin").to_pylist().count("pseudo") == sum(labels["kept"].values())
    imax_cli(["train", *common, "--config", "pseudo_imax", "--out", tmp_path / "stage2", "--max-steps", 2])
    imax_cli(["train", *common, "--config", "pseudo_imax-stage3", "--adapter", tmp_path / "stage2", "--out",
          tmp_path / "stage3", "--max-steps", 2, "--merge"])
    s2, s3 = (json.loads((tmp_path / s / "imax_train.json").read_text()) for s in ("stage2", "stage3"))
    from imax_hub.adapters import adapter_fingerprint

    assert s3["init_adapter"] == {"name": "stage2", "sha256": adapter_fingerprint(tmp_path / "stage2")}
    assert s3["previous"] == s2 and s3["lora"]["r"] == 4 and s3["lora"]["targets"] == "from --adapter"
    w2, w3 = _lora_weights(tmp_path / "stage2"), _lora_weights(tmp_path / "stage3")
    assert w2.keys() == w3.keys() and any(not w2[k].equal(w3[k]) for k in w2)  # stage 3 trained stage 2's adapter

    ev = ["--dataset", folder, "--tasks", "imax_calc_ctr,imax_cls_multiclass,imax_rec", "--max-samples", 3,
          "--model-args", "generation_size=8", "--output-dir", tmp_path / "results"]
    imax_cli(["eval", "--model", model, "--adapter", tmp_path / "stage1", *ev, "--cache-dir", tmp_path / "cache"])
    imax_cli(["eval", "--model", model, "--adapter", tmp_path / "stage3", *ev, "--cache-dir", tmp_path / "cache"])
    imax_cli(["eval", "--model", tmp_path / "stage3" / "merged", *ev, "--cache-dir", tmp_path / "cache-merged"])
    results = tmp_path / "results"
    one, three = (json.loads(next(results.glob(f"imax_*tiny-vlm__{s}.json")).read_text()) for s in ("stage1", "stage3"))
    assert three["model"]["adapter"] == {"name": "stage3", "sha256": adapter_fingerprint(tmp_path / "stage3")}
    assert one["test_set_hash"] == three["test_set_hash"]
    # one cache folder, yet one cache per adapter (keyed on the weights): stage 3 never reads stage 1's answers
    cached = [p.name for p in (tmp_path / "cache").iterdir()]
    assert len(cached) == 2 and all(any(adapter_fingerprint(tmp_path / s) in c for c in cached) for s in ("stage1", "stage3"))
    preds = {s: (results / f"predictions_{p.stem.removeprefix('imax_')}.jsonl").read_text()
             for s, p in (("stage3", next(results.glob("imax_*stage3.json"))), ("merged", next(results.glob("imax_*merged.json"))))}
    assert preds["stage3"] == preds["merged"]  # adapter merged on load == merged model written by --merge
    imax_cli(["compare", next(results.glob("imax_*stage1.json")), next(results.glob("imax_*stage3.json")),
          "--bootstrap", 50, "--out", tmp_path / "comparison"])
    comparison = json.loads((tmp_path / "comparison" / "comparison.json").read_text())
    assert [r["name"] for r in comparison["runs"]][-1].endswith("tiny-vlm+stage3")
    imax_cli(["fim", "--model", model, "--adapter", tmp_path / "stage3", "--dataset", folder, "--config", "pseudo_imax",
          "--samples", 8, "--n", 4, "--params", "all-lora", "--out", tmp_path / "fim"])
    doc = json.loads((tmp_path / "fim" / "fim.json").read_text())
    assert doc["label"] == "stage3" and doc["model"]["adapter_sha256"] == adapter_fingerprint(tmp_path / "stage3")
