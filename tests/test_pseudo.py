"""Stage 2 of the three-stage strategy: pseudo-labels for DMAX images, parsed, filtered, written as configs."""

import json
import shutil
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from imax_hub.build import BuildOptions, build
from imax_hub.build.manifest import config_fingerprint
from imax_hub.errors import ImaxError
from imax_hub.pseudo import PSEUDO_CONFIG, STAGE3_CONFIG, parse_pseudo, pseudo_label
from imax_hub.synth import synthesize

sys.path.insert(0, str(Path(__file__).parent))
from tiny_vlm import make_tiny_vlm  # noqa: E402

GOOD = {"calculation": "0.5123", "report": "Heart size is normal. No acute process.", "multiclass": "interstitial edema",
        "multilabel": "0,1,0,0,0,0,0,0,0,1", "rec": "<100><120><600><700>"}
BAD = {"calculation": "1.7", "report": "ok", "multiclass": "severe", "multilabel": "0,1", "rec": "<700><100><600><900>"}


class StandIn:
    """A backend that answers every pseudo prompt in the task's format (or, for every other doc, badly)."""

    def __init__(self, noisy: bool = False, fail_after: int | None = None):
        self.noisy, self.fail_after, self.seen = noisy, fail_after, []

    def greedy_until(self, docs):
        from lighteval.models.model_output import ModelResponse

        if self.fail_after is not None and len(self.seen) >= self.fail_after:
            raise RuntimeError("killed")
        out = []
        for d in docs:
            self.seen.append(d.specific["id"])
            table = BAD if self.noisy and len(self.seen) % 2 == 0 else GOOD
            out.append(ModelResponse(text=[table[d.specific["task"]]]))
        return out


@pytest.fixture(scope="module")
def base_build(tmp_path_factory):
    base = tmp_path_factory.mktemp("pseudo")
    synthesize(base / "physionet", patients=40, seed=4, image_size=64)
    build(BuildOptions(physionet_root=base / "physionet", out=base / "imax", target_images=20, seed=0))
    return base / "imax"


@pytest.fixture
def folder(base_build, tmp_path):
    dst = tmp_path / "imax"
    shutil.copytree(base_build, dst)
    return dst


def _dmax_train(folder: Path) -> list[dict]:
    return [r for f in sorted(folder.glob("data/dmax-*/train-*.parquet"))
            for r in pq.read_table(f, columns=["id", "dicom_id", "task"]).to_pylist()]


def test_parsers_keep_what_parses_and_is_plausible():
    size = (200, 100)
    assert parse_pseudo("calculation", {"measure": "ctr"}, "CTR is 0.48", size) == ({"measure": "ctr", "value": 0.48}, "")
    assert parse_pseudo("calculation", {"measure": "ctr"}, "1.3", size) == (None, "ratio outside (0, 1)")
    assert parse_pseudo("calculation", {"measure": "ctr"}, "large", size) == (None, "no number")
    assert parse_pseudo("report", {}, "ok", size)[0] is None
    assert parse_pseudo("report", {}, "wgl4-l4-l4-l4-l4-l4-l4-l4", size) == (None, "report without three words")
    assert parse_pseudo("report", {}, "No acute  cardiopulmonary\\nprocess.".replace("\\n", "\n"), size)[0]["text"] == \
        "No acute cardiopulmonary process."
    assert parse_pseudo("multiclass", {}, "Alveolar edema.", size)[0] == {"grade": 3, "name": "alveolar edema"}
    labels = [str(i) for i in range(10)]
    assert parse_pseudo("multilabel", {"labels": labels}, "1,0,0,0,0,0,0,0,0,1", size)[0]["vector"] == [1] + [0] * 8 + [1]
    target, _ = parse_pseudo("rec", {"structure": "heart"}, "<100><200><600><1000>", size)
    assert target == {"structure": "heart", "box": [20, 20, 119, 99], "box_grid": [100, 200, 600, 1000], "image_size": [200, 100]}
    assert parse_pseudo("rec", {"structure": "heart"}, "<600><200><100><900>", size) == (None, "box empty or outside the image")
    with pytest.raises(ImaxError, match="needs a question"):
        parse_pseudo("vqa", {}, "yes", size)


def test_pseudo_labels_from_a_well_formed_and_a_noisy_model(folder, tmp_path):
    import datasets

    from imax_hub.metrics.runs import load_test_rows

    real = _dmax_train(folder)
    have = {}
    for r in real:
        have.setdefault(r["dicom_id"], set()).add(r["task"])
    # what each image lacks among the pseudo-labellable tasks (calculation asks two measures)
    expected = Counter()
    for tasks in have.values():
        for t in ("calculation", "report", "multiclass", "multilabel", "rec"):
            if t not in tasks:
                expected[t] += 2 if t == "calculation" else 1
    test_before = load_test_rows(folder, "imax")
    manifest_before = json.loads((folder / "build_manifest.json").read_text())

    result = pseudo_label(folder, tmp_path / "gen", StandIn(), model_id="org/stage1", revision="abc")
    assert result.images == len(have) and result.asked == sum(expected.values())
    assert dict(result.kept) == dict(expected) and not result.dropped
    ds = datasets.load_dataset(str(folder), PSEUDO_CONFIG, split="train", cache_dir=str(tmp_path / "c"))
    origin = Counter(ds["origin"])
    assert origin == {"real": len(real), "pseudo": sum(expected.values())}
    pseudo = [r for r in ds if r["origin"] == "pseudo"]
    assert {r["pseudo_model"] for r in pseudo} == {"org/stage1"} and {r["pseudo_revision"] for r in pseudo} == {"abc"}
    calc = next(r for r in pseudo if r["task"] == "calculation")
    assert calc["answer"] == "0.5123" and json.loads(calc["target"])["value"] == 0.5123
    assert [m["role"] for m in calc["messages"]] == ["user", "assistant"] and calc["image"] is not None
    assert not {r["id"] for r in pseudo} & {r["id"] for r in real}
    stage3 = datasets.load_dataset(str(folder), STAGE3_CONFIG, split="train", cache_dir=str(tmp_path / "c"))
    assert sorted(stage3["id"]) == sorted(r["id"] for r in real)
    # the test split is untouched (comparisons stay valid); the build fingerprint records the new shards
    assert load_test_rows(folder, "imax")[0] == test_before[0]
    manifest = json.loads((folder / "build_manifest.json").read_text())
    assert manifest["fingerprint"] != manifest_before["fingerprint"] and manifest[PSEUDO_CONFIG]["model"] == "org/stage1"
    # ...but results, cards and recipes cite a config's fingerprint, which only a row that config reads changes
    for config in ("imax", "dmax"):
        assert config_fingerprint(manifest, config) == config_fingerprint(manifest_before, config)
    assert config_fingerprint(manifest, PSEUDO_CONFIG) != config_fingerprint(manifest, "dmax")
    stats = json.loads((folder / "stats" / "stats.json").read_text())
    assert stats["pseudo_imax_train"]["pseudo_entries"] == sum(expected.values())
    assert stats["pseudo_imax_train"]["tasks_per_image"] > stats["dmax_train"]["tasks_per_image"]
    assert "## The three-stage strategy (pseudo-IMAX)" in (folder / "README.md").read_text()

    noisy = pseudo_label(folder, tmp_path / "gen-noisy", StandIn(noisy=True), model_id="org/noisy")
    assert sum(noisy.kept.values()) + sum(noisy.dropped.values()) == noisy.asked
    assert sum(noisy.dropped.values()) == noisy.asked // 2  # every other answer is malformed or implausible
    assert set(noisy.dropped) <= {"calculation: ratio outside (0, 1)", "report: report length outside 10-4000 characters",
                                  "multiclass: not an edema grade", "multilabel: not 10 binary digits",
                                  "rec: box empty or outside the image"}
    ds = datasets.load_dataset(str(folder), PSEUDO_CONFIG, split="train", cache_dir=str(tmp_path / "c2"))
    assert Counter(ds["origin"])["pseudo"] == sum(noisy.kept.values())  # a rerun replaces the pseudo rows


def test_a_killed_run_resumes_from_its_generations(folder, tmp_path):
    out = tmp_path / "gen"
    first = StandIn(fail_after=4)
    with pytest.raises(RuntimeError, match="killed"):
        pseudo_label(folder, out, first, model_id="m", chunk_size=4)
    assert len((out / "generations.jsonl").read_text().splitlines()) == 4  # the finished chunk is kept
    second = StandIn()
    result = pseudo_label(folder, out, second, model_id="m", chunk_size=4)
    assert len(second.seen) == result.asked - 4 and not set(second.seen) & set(first.seen)


def test_imax_pseudo_label_with_the_tiny_vlm(folder, tmp_path):
    from imax_hub.cli import main

    model = make_tiny_vlm(tmp_path / "tiny-vlm")
    try:
        main(["pseudo-label", "--model", str(model), "--dataset", str(folder), "--out", str(tmp_path / "gen"),
              "--batch-size", "16"])
    except SystemExit as exc:
        assert not exc.code
    counts = json.loads((tmp_path / "gen" / "pseudo_label.json").read_text())
    assert counts["model"] == "tiny-vlm"  # a local folder is recorded by name only
    assert sum(counts["kept"].values()) + sum(counts["dropped"].values()) == counts["asked"] > 0
    with pytest.raises(SystemExit):
        main(["pseudo-label", "--model", "oracle", "--dataset", str(folder), "--out", str(tmp_path / "x")])


def test_a_truncated_generations_file_and_bad_arguments(folder, tmp_path):
    out = tmp_path / "gen"
    first = pseudo_label(folder, out, StandIn(), model_id="m")
    lines = (out / "generations.jsonl").read_text().splitlines()
    cut = json.loads(lines[-1])["id"]
    (out / "generations.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:15] + "\nnot json\n")
    again = StandIn()
    second = pseudo_label(folder, out, again, model_id="m")
    assert again.seen == [cut] and dict(second.kept) == dict(first.kept)  # only the cut line is asked again
    assert len((out / "generations.jsonl").read_text().splitlines()) == first.asked  # the damaged lines are gone
    with pytest.raises(ImaxError, match="holds generations of another run \\(model differ\\).*new --out"):
        pseudo_label(folder, out, StandIn(), model_id="m2")  # never mixes another model's answers in
    with pytest.raises(ImaxError, match="\\(adapter_sha256 differ\\)"):
        pseudo_label(folder, out, StandIn(), model_id="m", identity={"adapter_sha256": "0123"})
    with pytest.raises(ImaxError, match="no train split for config 'nope'"):
        pseudo_label(folder, tmp_path / "other", StandIn(), model_id="m", config="nope")
    with pytest.raises(ImaxError, match="build_manifest.json not found"):
        pseudo_label(tmp_path, out, StandIn(), model_id="m")


def test_max_images_and_an_out_of_memory_batch_resume_with_the_tiny_vlm(folder, tmp_path):
    """A trial run on the first N images; a batch the GPU cannot hold stops with a clear error and loses nothing."""
    import torch

    from imax_hub.evaluation import EvalOptions, make_model

    model = make_model(EvalOptions(model=str(make_tiny_vlm(tmp_path / "tiny-vlm")), dataset=str(folder), batch_size=4,
                                   model_args="generation_size=4"))
    model._cache = None
    real_generate, calls = model.model.generate, []

    def generate_then_run_out_of_memory(**kwargs):
        calls.append(1)
        if len(calls) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.68 GiB")
        return real_generate(**kwargs)

    model.model.generate = generate_then_run_out_of_memory
    out = tmp_path / "gen"
    with pytest.raises(ImaxError, match="GPU out of memory generating a batch of 4 prompts .* lower --batch-size"):
        pseudo_label(folder, out, model, model_id="tiny", max_images=5, chunk_size=8)
    assert len((out / "generations.jsonl").read_text().splitlines()) == 8  # the first chunk (two batches) is kept
    model.model.generate = real_generate
    result = pseudo_label(folder, out, model, model_id="tiny", max_images=5, chunk_size=8)
    first5 = sorted({r["dicom_id"] for r in _dmax_train(folder)})[:5]
    generated = [json.loads(line)["id"] for line in (out / "generations.jsonl").read_text().splitlines()]
    assert result.images == 5 and result.asked == len(generated) == len(set(generated)) > 8
    assert {g.split("/")[0] for g in generated} == set(first5)
    assert json.loads((folder / "build_manifest.json").read_text())[PSEUDO_CONFIG]["max_images"] == 5


@pytest.mark.slow
def test_two_processes_pseudo_label_as_one_process_does(base_build, tmp_path):
    """`accelerate launch --num_processes 2 -m imax_hub pseudo-label` shards the prompts over two CPU processes
    (gloo) and writes the generations, counts and pseudo config one process writes."""
    import os
    import subprocess

    model = make_tiny_vlm(tmp_path / "tiny-vlm")
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_DATASETS_CACHE=str(tmp_path / "hf"))
    accelerate = Path(sys.executable).with_name("accelerate")
    out = {}
    for n in (1, 2):
        folder = tmp_path / f"imax-{n}"
        shutil.copytree(base_build, folder)
        args = ["-m", "imax_hub", "pseudo-label", "--model", str(model), "--dataset", str(folder), "--out",
                str(tmp_path / f"gen-{n}"), "--max-images", "6", "--batch-size", "4"]
        cmd = ([sys.executable] if n == 1 else [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2",
                                                "--num_machines", "1", "--mixed_precision", "no",
                                                "--dynamo_backend", "no"]) + args
        run = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        lines = (tmp_path / f"gen-{n}" / "generations.jsonl").read_text().splitlines()
        shards = sorted((folder / "data" / PSEUDO_CONFIG).glob("train-*.parquet"))
        out[n] = (sorted(lines), json.loads((tmp_path / f"gen-{n}" / "pseudo_label.json").read_text()),
                  sorted(pq.read_table(shards).select(["id", "answer"]).to_pylist(), key=lambda r: r["id"]))
    assert len(out[1][0]) > 6 and out[2][0] == out[1][0]
    assert {k: out[2][1][k] for k in ("asked", "kept", "dropped")} == {k: out[1][1][k] for k in ("asked", "kept", "dropped")}
    assert out[2][2] == out[1][2]
