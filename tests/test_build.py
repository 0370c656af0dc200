"""`imax build`: selection invariants, rendering, the dataset folder, load_dataset, determinism, safety."""

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from imax_hub.build import BuildOptions, build
from imax_hub.errors import ImaxError
from imax_hub.tasks.answers import parse_answer_list, parse_box, parse_grade, parse_label_vector, parse_number
from imax_hub.tasks.registry import names as task_names
from imax_hub.synth import synthesize


@pytest.fixture(scope="module")
def build_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("btree") / "physionet"
    synthesize(root, patients=160, seed=11, image_size=96)
    return root


@pytest.fixture(scope="module")
def built(build_tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("bout") / "imax"
    result = build(BuildOptions(physionet_root=build_tree, out=out, target_images=120, seed=0))
    return out, result


def _rows(folder: Path, data_dir: str, split: str) -> list[dict]:
    files = sorted((folder / "data" / data_dir).glob(f"{split}-*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def _split_rows(folder: Path, prefix: str, split: str) -> list[dict]:
    return [r for t in task_names() for r in _rows(folder, f"{prefix}{t}", split)]


def test_no_test_patient_in_any_train_split(built):
    out, _ = built
    test_patients = {r["subject_id"] for r in _split_rows(out, "", "test")}
    assert test_patients
    assert not test_patients & {r["subject_id"] for r in _split_rows(out, "", "train")}
    assert not test_patients & {r["subject_id"] for r in _split_rows(out, "dmax-", "train")}


def test_imax_images_carry_min_tasks_and_split_is_four_to_one(built):
    out, result = built
    rows = _split_rows(out, "", "train") + _split_rows(out, "", "test")
    tasks_of: dict[str, set] = {}
    for r in rows:
        tasks_of.setdefault(r["dicom_id"], set()).add(r["task"])
    assert len(tasks_of) == 120
    assert min(len(t) for t in tasks_of.values()) >= 3
    test_images = {r["dicom_id"] for r in _split_rows(out, "", "test")}
    assert 0.15 <= len(test_images) / len(tasks_of) <= 0.3


def test_imax_takes_every_entry_of_its_images(built, build_tree):
    from imax_hub.tasks import TaskContext, calculation, vqa
    from imax_hub.sources import read_metadata

    out, _ = built
    rows = _split_rows(out, "", "train") + _split_rows(out, "", "test")
    images = {r["dicom_id"] for r in rows}
    meta = read_metadata(build_tree)
    ctx = TaskContext(root=str(build_tree), frontal=meta.filter(meta.column("frontal")))
    for module, task in ((calculation, "calculation"), (vqa, "vqa")):
        cand = module.candidates(ctx).to_pylist()
        expected = {f"{c['dicom_id']}/{task}/{c['key']}" for c in cand if c["dicom_id"] in images}
        assert expected == {r["id"] for r in rows if r["task"] == task}


def test_dmax_matches_imax_train_per_task_and_stays_decentralised(built):
    out, result = built
    imax_train = _split_rows(out, "", "train")
    imax_images = {r["dicom_id"] for r in imax_train + _split_rows(out, "", "test")}
    shortfall = result.manifest["selection"]["dmax_shortfall"]
    for t in task_names():
        n_imax = sum(r["task"] == t for r in imax_train)
        n_dmax = len(_rows(out, f"dmax-{t}", "train"))
        assert n_dmax == n_imax - shortfall.get(t, 0), t
    dmax = _split_rows(out, "dmax-", "train")
    assert not imax_images & {r["dicom_id"] for r in dmax}
    assert result.stats["dmax_train"]["tasks_per_image"] < 2.0 < result.stats["imax_train"]["tasks_per_image"]
    assert set(shortfall) <= {"multiclass"}  # only the CHF-cohort grades are too rare for a 160-patient tree


def test_dmax_test_split_is_imax_test_split(built):
    out, _ = built
    card = yaml.safe_load((out / "README.md").read_text().split("---")[1])
    configs = {c["config_name"]: {s["split"]: s["path"] for s in c["data_files"]} for c in card["configs"]}
    assert configs["dmax"]["test"] == configs["imax"]["test"]
    assert configs["dmax-rec"]["test"] == ["data/rec/test-*"]
    assert [c["config_name"] for c in card["configs"] if c.get("default")] == ["imax"]


PARSERS = {
    "calculation": lambda a, t: parse_number(a) == t["value"],
    "report": lambda a, t: a == t["text"],
    "multiclass": lambda a, t: parse_grade(a) == t["grade"],
    "multilabel": lambda a, t: parse_label_vector(a) == t["vector"],
    "rec": lambda a, t: parse_box(a) == t["box_grid"],
    "reg": lambda a, t: a == t["structure"],
    "vqa": lambda a, t: parse_answer_list(a) == t["answer"],
}


def test_every_answer_parses_back_to_its_target(built):
    out, _ = built
    rows = _split_rows(out, "", "train") + _split_rows(out, "", "test") + _split_rows(out, "dmax-", "train")
    seen = set()
    for r in rows:
        target = json.loads(r["target"])
        assert PARSERS[r["task"]](r["answer"], target), (r["id"], r["answer"], target)
        seen.add(r["task"])
        if r["task"] == "reg":
            assert parse_box(r["prompt"]) == target["box_grid"]
        if r["task"] == "rec":
            assert target["structure"] in r["prompt"]
    assert seen == set(task_names())


def test_rows_carry_chat_messages_template_ids_and_mat_triplet(built):
    from imax_hub.tasks.templates import load_template

    out, _ = built
    tags = {"calculation": "[calculate]", "report": "[caption]", "multiclass": "[cls]", "multilabel": "[cls]",
            "rec": "[rec]", "reg": "[reg]", "vqa": "[vqa]"}
    for r in _split_rows(out, "", "train"):
        assert r["prompt"].startswith(tags[r["task"]])
        assert "<image>" not in r["prompt"] and "ImageHere" not in r["prompt"]
        user, assistant = r["messages"]
        assert user["role"] == "user" and [p["type"] for p in user["content"]] == ["image", "text"]
        assert user["content"][1]["text"] == r["prompt"]
        assert assistant == {"role": "assistant", "content": [{"type": "text", "text": r["answer"]}]}
        template = load_template(r["task"])
        assert r["template_sha"] == template.sha256
        assert r["template_id"].startswith(f"{r['task']}/v{template.version}/")
        assert (r["modality"], r["anatomy"]) == ("X-ray", "chest") and r["task_family"]
        assert r["image"]["bytes"] is None and Path(r["image"]["path"]).is_absolute()
        assert r["image"]["path"].endswith(r["image_path"])


def test_every_template_variant_renders_every_entry(build_tree):
    from imax_hub.sources import read_metadata
    from imax_hub.tasks import TaskContext, calculation, grounding, multiclass, multilabel, report, vqa
    from imax_hub.tasks.templates import load_template

    meta = read_metadata(build_tree)
    ctx = TaskContext(root=str(build_tree), frontal=meta.filter(meta.column("frontal")), structures_per_image=3)
    for module in (calculation, report, multiclass, multilabel, grounding, vqa):
        for c in module.candidates(ctx).to_pylist():
            template = load_template(c["task"])
            context = {**json.loads(c["inputs"]), **json.loads(c["target"])}
            answer = template.answer(context)
            assert answer
            prompts = {template.prompt(v, context) for v in range(template.n_variants)}
            assert len(prompts) == template.n_variants and all(prompts)


def test_box_grid_convention():
    from imax_hub.tasks.grounding import box_to_grid

    assert box_to_grid([0, 0, 99, 49], 100, 50) == [0, 0, 1000, 1000]
    # pixel edges 10/300 -> 33.33 -> 33; 150/300 -> 500; rows 0..79 of 160 -> 0..500
    assert box_to_grid([10, 0, 149, 79], 300, 160) == [33, 0, 500, 500]
    assert box_to_grid([1, 1, 1, 1], 2000, 2000) == [1, 1, 1, 1]  # 0.5 rounds half up


def test_load_dataset_round_trips_every_config(built, monkeypatch):
    from datasets import Value, load_dataset

    out, _ = built
    monkeypatch.setenv("HF_HOME", str(out.parent / "hf"))
    monkeypatch.chdir(out.parent)
    card = yaml.safe_load((out / "README.md").read_text().split("---")[1])
    names = [c["config_name"] for c in card["configs"]]
    assert {"imax", "dmax", *task_names(), *(f"dmax-{t}" for t in task_names()), *(f"eval-{t}" for t in task_names())} == set(names)
    ds = load_dataset("imax", split="train")
    row = ds[0]
    assert row["image"].size[0] > 0  # decoded by PIL from the absolute path
    assert len(ds) == len(_split_rows(out, "", "train"))
    assert len(load_dataset("imax", "dmax", split="train")) == len(_split_rows(out, "dmax-", "train"))
    for info in card["dataset_info"]:
        for split in info["splits"]:
            loaded = load_dataset(str(out), info["config_name"], split=split["name"])
            assert len(loaded) == split["num_examples"], (info["config_name"], split["name"])
    rec = load_dataset(str(out.resolve()), "rec", split="test")
    assert set(rec["task"]) == {"rec"}
    # the eval configs: the same test rows, the image left as a path for harnesses to open lazily
    ev = load_dataset(str(out.resolve()), "eval-rec", split="test")
    assert ev["id"] == rec["id"] and ev.features["image"] == {"bytes": Value("binary"), "path": Value("string")}
    assert ev[0]["image"]["path"] == rec[0]["image"].filename


def test_rebuild_in_place_never_serves_stale_rows(build_tree, tmp_path, monkeypatch):
    from datasets import load_dataset

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "imax"
    build(BuildOptions(physionet_root=build_tree, out=out, target_images=60, seed=1, config="imax"))
    first = sorted(load_dataset("imax", split="train")["id"])
    build(BuildOptions(physionet_root=build_tree, out=out, target_images=60, seed=2, config="imax", overwrite=True))
    second = sorted(load_dataset("imax", split="train")["id"])
    assert first != second
    assert second == sorted(r["id"] for r in _split_rows(out, "", "train"))


def _shard_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((folder / "data").rglob("*.parquet"))}


def test_same_inputs_and_seed_give_byte_identical_shards(build_tree, built, tmp_path):
    out, result = built
    again = tmp_path / "imax"
    build(BuildOptions(physionet_root=build_tree, out=again, target_images=120, seed=0))
    assert _shard_hashes(again) == _shard_hashes(out)
    assert json.loads((again / "build_manifest.json").read_text())["fingerprint"] == result.manifest["fingerprint"]
    other = tmp_path / "other"
    build(BuildOptions(physionet_root=build_tree, out=other, target_images=120, seed=1))
    assert _shard_hashes(other) != _shard_hashes(out)


def test_manifest_records_inputs_options_templates_and_shards(built, build_tree):
    out, result = built
    m = json.loads((out / "build_manifest.json").read_text())
    inputs = {i["path"]: i for i in m["inputs"]}
    meta = next(p for p in inputs if p.endswith("mimic-cxr-2.0.0-metadata.csv.gz"))
    assert inputs[meta]["sha256"] == hashlib.sha256((build_tree / meta).read_bytes()).hexdigest()
    assert len(m["inputs"]) == 1 + 1 + 2 + 3 + 3 + 1 + 3
    assert m["options"]["seed"] == 0 and m["options"]["split_by"] == "patient"
    assert set(m["templates"]) == set(task_names())
    for s in m["shards"]:
        assert hashlib.sha256((out / s["path"]).read_bytes()).hexdigest() == s["sha256"]
    assert not any(p.name.startswith(".") for p in out.parent.iterdir())  # no temporary folders left behind
    for png in ("composition.png", "tasks_per_image.png", "entries_per_image.png"):
        assert (out / "stats" / png).stat().st_size > 1000
    assert (out / "eval.yaml").read_text().count("split: test") == 16  # one leaderboard task per metric


def test_split_by_image_reproduces_the_paper_split(build_tree, tmp_path):
    result = build(BuildOptions(physionet_root=build_tree, out=tmp_path / "imax", target_images=100,
                                split_by="image", config="imax"))
    assert result.stats["imax_test"]["images"] == 20
    assert result.stats["imax_train"]["images"] == 80


def test_partial_tree_builds_the_remaining_tasks(tree_copy, tmp_path):
    shutil.rmtree(tree_copy / "mimic-cxr-pe-severity")
    result = build(BuildOptions(physionet_root=tree_copy, out=tmp_path / "imax", target_images=40))
    assert result.tasks_missing == ["multiclass"]
    assert "multiclass" not in result.stats["imax"]["entries_per_task"]
    assert "Tasks not built (source missing): multiclass" in (tmp_path / "imax" / "README.md").read_text()
    with pytest.raises(ImaxError, match="--require all: missing sources: MIMIC-CXR-PE-Severity"):
        build(BuildOptions(physionet_root=tree_copy, out=tmp_path / "strict", require="all"))
    assert not (tmp_path / "strict").exists()


def test_refuses_to_overwrite_and_a_failed_build_keeps_the_previous_output(tree_copy, tmp_path):
    out = tmp_path / "imax"
    first = build(BuildOptions(physionet_root=tree_copy, out=out, target_images=40))
    before = _shard_hashes(out)
    with pytest.raises(ImaxError, match="already exists; pass --overwrite"):
        build(BuildOptions(physionet_root=tree_copy, out=out, target_images=40))
    # damage a source: the rebuild fails with the file and line, and the previous build is intact
    ctr = tree_copy / "cxr-cardiomegaly" / "1.0.0" / "CTRs.csv"
    lines = ctr.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",abc"
    ctr.write_text("\n".join(lines) + "\n")
    with pytest.raises(ImaxError, match=r"CTRs.csv.*line 4"):
        build(BuildOptions(physionet_root=tree_copy, out=out, target_images=40, overwrite=True, max_bad_rows=0))
    assert _shard_hashes(out) == before
    assert json.loads((out / "build_manifest.json").read_text())["fingerprint"] == first.manifest["fingerprint"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imax", "physionet"]
    stranger = tmp_path / "notes"
    stranger.mkdir()
    (stranger / "keep.txt").write_text("mine")
    with pytest.raises(ImaxError, match="not an imax build"):
        build(BuildOptions(physionet_root=tree_copy, out=stranger, overwrite=True))
    assert (stranger / "keep.txt").read_text() == "mine"


def test_missing_images_fail_unless_allowed(tree_copy, tmp_path):
    jpgs = sorted((tree_copy / "mimic-cxr-jpg" / "2.1.0" / "files").rglob("*.jpg"))
    for p in jpgs[::2]:
        p.unlink()
    with pytest.raises(ImaxError, match="selected images are missing"):
        build(BuildOptions(physionet_root=tree_copy, out=tmp_path / "imax", target_images=40))
    build(BuildOptions(physionet_root=tree_copy, out=tmp_path / "imax", target_images=40, allow_missing_images=True))


def test_relocate_rewrites_image_paths(tree_copy, tmp_path):
    from imax_hub.build.relocate import relocate

    out = tmp_path / "imax"
    build(BuildOptions(physionet_root=tree_copy, out=out, target_images=40, config="imax"))
    moved = tmp_path / "moved"
    tree_copy.rename(moved)
    n = relocate(out, moved)
    rows = _split_rows(out, "", "train")
    assert n == len(rows) + len(_split_rows(out, "", "test"))
    for r in rows:
        assert r["image"]["path"].startswith(str(moved.resolve())) and Path(r["image"]["path"]).is_file()
    m = json.loads((out / "build_manifest.json").read_text())
    assert m["physionet_root"] == str(moved.resolve())
    assert all(hashlib.sha256((out / s["path"]).read_bytes()).hexdigest() == s["sha256"] for s in m["shards"])
    assert m["fingerprint"] in (out / "README.md").read_text()


def test_embed_images_stores_resized_bytes_and_no_local_path(tiny_tree, tmp_path):
    import io

    from PIL import Image

    out = tmp_path / "imax"
    build(BuildOptions(physionet_root=tiny_tree, out=out, target_images=20, config="imax", embed_images=True,
                       image_size=64))
    rows = _split_rows(out, "", "train")
    assert rows
    for r in rows[:20]:
        img = Image.open(io.BytesIO(r["image"]["bytes"]))
        assert max(img.size) <= 64
        assert r["image"]["path"] == r["image_path"] and not Path(r["image"]["path"]).is_absolute()
    assert str(tiny_tree) not in "".join(p.read_text() for p in out.rglob("*.md"))


def test_options_are_checked_before_any_work(tiny_tree, tmp_path):
    for kwargs, message in (({"min_tasks": 9}, "--min-tasks"), ({"config": "both"}, "--config"),
                            ({"split_by": "study"}, "--split-by"), ({"structures_per_image": 2}, "--structures")):
        with pytest.raises(ImaxError, match=message):
            build(BuildOptions(physionet_root=tiny_tree, out=tmp_path / "x", **kwargs))
    with pytest.raises(ImaxError, match="not a folder"):
        build(BuildOptions(physionet_root=tmp_path / "nowhere", out=tmp_path / "x"))
    assert not (tmp_path / "x").exists()


def test_multiclass_label_priority(tree_copy):
    from imax_hub.sources import read_metadata
    from imax_hub.tasks import TaskContext, multiclass

    meta = read_metadata(tree_copy)
    frontal = meta.filter(meta.column("frontal"))
    rows = frontal.to_pylist()
    # pick a study with at least two frontal images: consensus on one, expert + regex on the study
    by_study = {}
    for r in rows:
        by_study.setdefault(r["study_id"], []).append(r)
    study, images = next((s, imgs) for s, imgs in by_study.items() if len(imgs) >= 2)
    other = next(r for r in rows if r["study_id"] != study)
    d = tree_copy / "mimic-cxr-pe-severity" / "1.0.1"
    subject = images[0]["subject_id"]
    (d / "consensus_image_edema_severity.csv").write_text(
        f"subject_id,study_id,dicom_id,edema_severity\n{subject},{study},{images[0]['dicom_id']},1\n")
    (d / "expert_report_edema_severity.csv").write_text(f"subject_id,study_id,edema_severity\n{subject},{study},2\n")
    (d / "regex_report_edema_severity.csv").write_text(
        f"subject_id,study_id,edema_severity\n{subject},{study},3\n{other['subject_id']},{other['study_id']},3\n")
    ctx = TaskContext(root=str(tree_copy), frontal=frontal)
    got = {c["dicom_id"]: json.loads(c["target"]) for c in multiclass.candidates(ctx).to_pylist()}
    assert got[images[0]["dicom_id"]] == {"grade": 1, "name": "vascular congestion", "label_source": "consensus"}
    assert got[images[1]["dicom_id"]]["label_source"] == "expert" and got[images[1]["dicom_id"]]["grade"] == 2
    assert got[other["dicom_id"]] == {"grade": 3, "name": "alveolar edema", "label_source": "regex"}
    assert len(got) == len(images) + sum(r["study_id"] == other["study_id"] for r in rows)


def test_relocate_refuses_a_folder_that_is_not_a_build_or_a_wrong_tree(built, tmp_path):
    from imax_hub.build.relocate import relocate

    out, _ = built
    with pytest.raises(ImaxError, match="is .* a folder written by `imax build`"):
        relocate(tmp_path, tmp_path)
    with pytest.raises(ImaxError, match="MIMIC-CXR-JPG not found"):
        relocate(out, tmp_path)


def test_public_command_masks_local_paths_by_argument_not_by_substring():
    from imax_hub.build.manifest import public_command

    cmd = "imax build --physionet-root phys --out /home/me/phys/imax --seed 1"
    assert public_command({"command": cmd}) == "imax build --physionet-root PHYSIONET_ROOT --out imax --seed 1"
    cmd = "imax build '--physionet-root=/data/my phys' --out=imax"
    assert public_command({"command": cmd}) == "imax build --physionet-root=PHYSIONET_ROOT --out=imax"


def test_a_target_the_tree_cannot_meet_and_a_dmax_shortfall_are_said_with_numbers(tiny_tree, tmp_path):
    from imax_hub.build import BuildOptions, build

    result = build(BuildOptions(physionet_root=tiny_tree, out=tmp_path / "imax"))  # the paper's 47,600 target
    imax, eligible = result.stats["imax"]["images"], result.manifest["selection"]["eligible_images"]
    first, second = result.selection_messages
    assert first.startswith(f"IMAX has {imax:,} images, short of --target-images 47,600: only {eligible:,} frontal")
    assert "--min-tasks" in first
    wanted = result.stats["imax_train"]["entries_per_task"]
    got = result.stats["dmax_train"]["entries_per_task"]
    short = sorted(result.manifest["selection"]["dmax_shortfall"])
    assert second.startswith(f"DMAX has fewer entries than IMAX-train for {len(short)} task(s)")
    for t in short:
        assert f"{t}: {got.get(t, 0):,} of {wanted[t]:,}" in second
    assert "IMAX took all eligible images" in second and f"--target-images (e.g. {imax // 2:,})" in second
    fitting = build(BuildOptions(physionet_root=tiny_tree, out=tmp_path / "small", target_images=10, min_tasks=1))
    assert not any(m.startswith("IMAX has") for m in fitting.selection_messages)


def test_histograms_say_which_split_they_count():
    from imax_hub.build.stats import HISTOGRAMS, histogram_figure

    stats = {"imax_train": {"tasks_per_image_hist": {"3": 4, "4": 6}, "tasks_per_image": 3.6,
                            "entries_per_image_hist": {"5": 10}, "entries_per_image": 5.0},
             "dmax_train": {"tasks_per_image_hist": {"1": 9, "2": 1}, "tasks_per_image": 1.1,
                            "entries_per_image_hist": {"2": 10}, "entries_per_image": 2.0}}
    for key in HISTOGRAMS:
        ax = histogram_figure(stats, key).axes[0]
        assert "train split" in ax.get_title() and "train split" in ax.get_xlabel()
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels[0].startswith("DMAX train: 10 images") and labels[1].startswith("IMAX train: 10 images")


def test_a_root_named_like_an_option_leaves_the_recorded_command_intact(tiny_tree, tmp_path):
    from imax_hub.build import BuildOptions, build
    from imax_hub.build.manifest import public_command, read_manifest

    root = tmp_path / "phys"
    root.symlink_to(tiny_tree)
    out = build(BuildOptions(physionet_root=root, out=tmp_path / "imax", target_images=20)).out
    command = public_command(read_manifest(out))
    assert command.startswith("imax build --physionet-root PHYSIONET_ROOT --out imax ")
    assert "PHYSIONET_ROOTionet" not in (out / "README.md").read_text() and str(tmp_path) not in command
    assert "--physionet-root PHYSIONET_ROOT --out imax" in (out / "README.md").read_text()
