"""`imax eval` and the lighteval wiring: tasks, backends, baselines, cache/resume, offline start-up."""

import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from imax_hub.build import BuildOptions, build
from imax_hub.build.manifest import fingerprint
from imax_hub.errors import ImaxError
from imax_hub.synth import synthesize

sys.path.insert(0, str(Path(__file__).parent))
from tiny_vlm import make_tiny_vlm  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ALL_METRICS = {"cpar_mae", "cpar_rmse", "ctr_mae", "ctr_rmse", "report_bleu1", "report_rouge1", "report_meteor",
               "multiclass_acc", "multilabel_micro_f1", "multilabel_macro_f1", "rec_iou", "rec_r50", "reg_acc",
               "vqa_verify_acc", "vqa_choose_bleu1", "vqa_query_bleu1"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("etree") / "physionet"
    synthesize(root, patients=160, seed=5, image_size=64)
    out = tmp_path_factory.mktemp("eout") / "imax"
    build(BuildOptions(physionet_root=root, out=out, target_images=120, seed=0))
    return out


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return make_tiny_vlm(tmp_path_factory.mktemp("vlm") / "tiny-llava")


@pytest.fixture
def env(tmp_path, monkeypatch):
    cache = tmp_path / "hf-datasets"
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    e = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_DATASETS_CACHE=str(cache))
    return e


def _eval(**kw):
    from imax_hub.evaluation import EvalOptions, run_eval

    return run_eval(EvalOptions(**kw))


def _test_rows(folder: Path) -> list[dict]:
    return [r for f in sorted(folder.glob("data/*/test-*.parquet")) if "dmax-" not in f.parent.name
            for r in pq.read_table(f, columns=["id", "task", "subtask", "answer", "target"]).to_pylist()]


def test_task_table_covers_the_16_metrics_once():
    from imax_hub.lighteval_tasks import TASKS, TASKS_TABLE

    assert [t.name for t in TASKS] == ["imax_calc_ctr", "imax_calc_cpar", "imax_report", "imax_cls_multiclass",
                                       "imax_cls_multilabel", "imax_rec", "imax_reg", "imax_vqa_verify",
                                       "imax_vqa_choose", "imax_vqa_query"]
    keys = [k for t in TASKS for k in t.metrics]
    assert len(keys) == 16 and set(keys) == ALL_METRICS
    assert [c.name for c in TASKS_TABLE] == [t.name for t in TASKS]
    assert all(c.evaluation_splits == ("test",) and c.hf_subset.startswith("eval-") for c in TASKS_TABLE)
    listed = [ln.split("|")[0] for ln in (REPO / "eval_tasks/imax_all.txt").read_text().splitlines()
              if ln and not ln.startswith("#")]
    assert listed == [t.name for t in TASKS]


def test_oracle_scores_perfectly_and_lighteval_agrees_with_the_summary(dataset, env, tmp_path):
    from imax_hub.metrics import score

    summary = _eval(model="oracle", dataset=str(dataset), output_dir=tmp_path / "out")
    assert set(summary["metrics"]) == ALL_METRICS
    rows = sorted(_test_rows(dataset), key=lambda r: r["id"])
    assert summary["n_items"] == len(rows)
    ceiling = score(rows, {r["id"]: r["answer"] for r in rows}).values()
    for key, m in summary["metrics"].items():
        assert m["value"] == pytest.approx(ceiling[key], abs=1e-9), key
        if key == "report_meteor":  # METEOR 1.5's fragmentation penalty never reaches exactly 1 (one chunk per item)
            assert 99.9 < m["value"] <= 100
        else:
            # pycocoevalcap's BLEU adds 1e-9 smoothing terms: "perfect" to 1e-6
            assert m["value"] == pytest.approx(100.0 if m["higher_is_better"] else 0.0, abs=1e-6), key
    assert sum(summary["parse_failures"].values()) == 0
    # lighteval's own results file holds the same numbers, each with a standard error
    res = json.loads(next((tmp_path / "out" / "results").rglob("results_*.json")).read_text())["results"]
    for task, values in summary["harness"]["tasks"].items():
        for key, value in values.items():
            if not key.endswith("_stderr"):
                assert res[f"{task}|0"][key] == pytest.approx(summary["metrics"][key]["value"])
                assert f"{key}_stderr" in res[f"{task}|0"]
    # the fingerprint of the config scored: its shards only, so pseudo-labelling the build later leaves it valid
    manifest = json.loads((dataset / "build_manifest.json").read_text())
    imax_shards = [s for s in manifest["shards"] if not s["config_dir"].startswith("dmax-")]  # the per-task folders
    assert summary["dataset"]["fingerprint"] == fingerprint(imax_shards) != manifest["fingerprint"]
    assert summary["model"] == {"id": "oracle", "revision": None, "backend": "baseline", "adapter": None}
    assert summary["template_shas"] and all(len(s) == 64 for s in summary["template_shas"])


def test_prior_answers_from_the_train_split():
    from imax_hub.backends.baselines import prior_answers

    rows = [
        {"task": "calculation", "subtask": "ctr", "answer": "0.4000", "target": '{"value": 0.4}'},
        {"task": "calculation", "subtask": "ctr", "answer": "0.5000", "target": '{"value": 0.5}'},
        {"task": "calculation", "subtask": "cpar", "answer": "0.2000", "target": '{"value": 0.2}'},
        {"task": "rec", "subtask": "heart", "answer": "", "target": '{"box_grid": [0, 10, 100, 201]}'},
        {"task": "rec", "subtask": "heart", "answer": "", "target": '{"box_grid": [10, 20, 110, 210]}'},
        {"task": "reg", "subtask": "heart", "answer": "heart", "target": "{}"},
        {"task": "reg", "subtask": "left_lung", "answer": "left lung", "target": "{}"},
        {"task": "reg", "subtask": "left_lung", "answer": "left lung", "target": "{}"},
        {"task": "vqa", "subtask": "verify", "answer": "yes", "target": "{}"},
        {"task": "vqa", "subtask": "verify", "answer": "no", "target": "{}"},
    ]
    prior = prior_answers(rows)
    assert prior[("calculation", "ctr")] == "0.4500" and prior[("calculation", "cpar")] == "0.2000"
    assert prior[("rec", "heart")] == "<5><15><105><206>"  # mean box, halves rounded up
    assert prior[("reg", "")] == "left lung"  # REG's subtask is its answer: the prior may not see it
    assert prior[("vqa", "verify")] == "no"  # a tie goes to the alphabetically first answer


def test_prior_baseline_runs_on_a_build(dataset, env, tmp_path):
    summary = _eval(model="prior", dataset=str(dataset), output_dir=tmp_path)
    assert set(summary["metrics"]) == ALL_METRICS
    assert summary["metrics"]["reg_acc"]["value"] < 100 and summary["metrics"]["report_bleu1"]["value"] < 100
    preds = [json.loads(ln) for ln in (tmp_path / "predictions_prior.jsonl").read_text().splitlines()]
    by_task = {}
    rows = {r["id"]: r for r in _test_rows(dataset)}
    for p in preds:
        r = rows[p["id"]]
        by_task.setdefault((r["task"], r["subtask"] if r["task"] != "reg" else ""), set()).add(p["prediction"])
    assert all(len(v) == 1 for v in by_task.values())  # one answer per task and subtask


def test_tiny_vlm_through_the_lighteval_cli_offline(dataset, tiny_model, env, tmp_path):
    """The README's command: `lighteval custom MODEL eval_tasks/imax_model.py TASKS --custom-tasks …`."""
    lighteval = Path(sys.executable).with_name("lighteval")
    e = dict(env, IMAX_DATASET=str(dataset), IMAX_MODEL_ARGS=f"batch_size=4,cache_dir={tmp_path / 'cache'}")
    proc = subprocess.run([str(lighteval), "custom", str(tiny_model), str(REPO / "eval_tasks/imax_model.py"),
                           str(REPO / "eval_tasks/imax_all.txt"), "--custom-tasks", "imax_hub.lighteval_tasks",
                           "--max-samples", "3", "--output-dir", str(tmp_path / "out")],
                          capture_output=True, text=True, env=e, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(next((tmp_path / "out" / "results").rglob("results_*.json")).read_text())["results"]
    found = {k for task, v in res.items() if task != "all" for k in v if not k.endswith("_stderr")}
    assert found == ALL_METRICS


def test_tiny_vlm_through_imax_eval_cli_details_carry_no_image(dataset, tiny_model, env, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "imax_hub", "eval", "--model", str(tiny_model), "--dataset", str(dataset),
                           "--max-samples", "3", "--batch-size", "2", "--output-dir", str(tmp_path / "out"),
                           "--cache-dir", str(tmp_path / "cache"), "--save-details"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Report METEOR" in proc.stdout and "VQA query BLEU-1" in proc.stdout
    assert "Creating parquet" not in proc.stderr and "Loading weights" not in proc.stderr  # no library bars
    summary = json.loads(next((tmp_path / "out").glob("imax_*.json")).read_text())
    assert set(summary["metrics"]) == ALL_METRICS and summary["model"]["backend"] == "transformers"
    assert summary["n_items"] == sum(summary["items_per_task"].values()) == 3 * 10
    details = list((tmp_path / "out" / "details").rglob("*.parquet"))
    assert len(details) == 10
    for f in details:
        for row in pq.read_table(f).to_pylist():
            assert row["doc"]["images"] is None
            assert row["doc"]["specific"]["image"] is None


class _Killed(Exception):
    pass


def test_generation_resumes_from_the_last_finished_chunk(dataset, tiny_model, env, tmp_path, monkeypatch):
    from imax_hub.backends.transformers_vlm import ImaxVLMModel

    real = ImaxVLMModel._generate
    calls = []

    def flaky(self, docs):
        calls.append(len(docs))
        if len(calls) == 3:
            raise _Killed  # the run dies during the third chunk
        return real(self, docs)

    monkeypatch.setattr(ImaxVLMModel, "_generate", flaky)
    opts = dict(model=str(tiny_model), dataset=str(dataset), tasks=["imax_calc_ctr", "imax_reg"], max_samples=6,
                output_dir=tmp_path / "out", cache_dir=str(tmp_path / "cache"), model_args="chunk_size=4")
    with pytest.raises(_Killed):
        _eval(**opts)
    assert calls == [4, 4, 4]  # 12 docs (6 per task) in chunks of 4; the third chunk is cut
    calls.clear()
    first = _eval(**opts)
    assert calls == [4]  # only the unfinished chunk runs again
    calls.clear()
    again = _eval(**opts)
    assert calls == []  # a finished run is served from lighteval's cache entirely
    assert again["metrics"] == first["metrics"]


def test_stock_lighteval_vlm_class_with_the_fix_returns_one_answer_per_doc(dataset, tiny_model, env, tmp_path):
    _eval(model=str(tiny_model), dataset=str(dataset), backend="stock", tasks=["imax_reg", "imax_vqa_verify"],
          max_samples=3, output_dir=tmp_path, cache_dir=str(tmp_path / "cache"), model_args="generation_size=8")
    preds = [json.loads(ln)["prediction"] for ln in next(tmp_path.glob("predictions_*.jsonl")).read_text().splitlines()]
    assert len(preds) == 6 and all(isinstance(p, str) for p in preds)
    assert any(len(p) > 1 for p in preds)  # unfixed, every "answer" is a single character


def test_vllm_backend_sends_each_image_with_its_prompt(dataset, tiny_model, env, tmp_path, monkeypatch):
    sent = []

    class SamplingParams:
        def __init__(self, temperature, max_tokens):
            self.max_tokens = max_tokens

    engines = []

    class LLM:
        def __init__(self, model, **kwargs):
            engines.append(kwargs)

        def generate(self, requests, params):
            out = []
            for r in requests:
                sent.append((r, params.max_tokens))
                out.append(types.SimpleNamespace(outputs=[types.SimpleNamespace(text=" yes ", token_ids=[1, 2])]))
            return out

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams))
    summary = _eval(model=str(tiny_model), dataset=str(dataset), backend="vllm", tasks=["imax_vqa_verify", "imax_rec"],
                    max_samples=4, output_dir=tmp_path, cache_dir=str(tmp_path / "cache"),
                    model_args="tensor_parallel_size=2,data_parallel_size=4,pipeline_parallel_size=1")
    assert len(engines) == 1 and engines[0]["tensor_parallel_size"] == 2 and engines[0]["data_parallel_size"] == 4
    assert engines[0]["limit_mm_per_prompt"] == {"image": 1}
    assert len(sent) == 8
    assert {m for _, m in sent} == {16, 32}  # each task's own token budget
    for req, _ in sent:
        assert req["prompt"].startswith("user: <image>[") and req["multi_modal_data"]["image"].mode == "RGB"
    assert summary["model"]["backend"] == "vllm" and set(summary["metrics"]) == {"vqa_verify_acc", "rec_iou", "rec_r50"}


def test_vllm_absent_gives_a_clear_error(dataset, env, tmp_path):
    code = ("import sys; sys.modules['vllm'] = None\n"
            "from imax_hub.cli import main\n"
            f"main(['eval', '--model', 'x/y', '--backend', 'vllm', '--dataset', {str(dataset)!r}, "
            f"'--output-dir', {str(tmp_path)!r}])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 1 and "pip install 'imax-hub[vllm]'" in proc.stderr


def test_bad_eval_input_is_named(dataset, env, tmp_path):
    with pytest.raises(ImaxError, match="not found"):
        _eval(model="oracle", dataset=str(tmp_path / "nowhere"), output_dir=tmp_path)
    with pytest.raises(ImaxError, match="unknown task"):
        _eval(model="oracle", dataset=str(dataset), tasks=["imax_nope"], output_dir=tmp_path)
    with pytest.raises(ImaxError, match="no config 'pseudo'"):
        _eval(model="oracle", dataset=str(dataset), config="pseudo", output_dir=tmp_path)
    old = tmp_path / "old"
    shutil.copytree(dataset, old, ignore=shutil.ignore_patterns("*.parquet"))
    card = old / "README.md"
    card.write_text(card.read_text().replace("config_name: eval-", "config_name: gone-"))
    with pytest.raises(ImaxError, match="older imax-hub"):
        _eval(model="oracle", dataset=str(old), output_dir=tmp_path)


def test_lighteval_registry_starts_without_touching_the_network(tmp_path):
    """Every built-in task module imports; no host name is even looked up (HF_HUB_OFFLINE=1)."""
    code = (
        "import socket\n"
        "looked_up = []\n"
        "def refuse(host, *a, **k):\n"
        "    looked_up.append(host); raise OSError('network disabled in this test')\n"
        "socket.getaddrinfo = refuse\n"
        "import imax_hub.lighteval_tasks\n"
        "from lighteval.tasks.registry import Registry\n"
        "configs = Registry.load_all_task_configs(custom_tasks='imax_hub.lighteval_tasks')\n"
        "assert 'imax_report' in configs and len(configs) > 100, len(configs)\n"
        "assert looked_up == [], looked_up\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_the_lighteval_startup_hook_is_installed_and_harmless(tmp_path):
    from imax_hub.lighteval_offline import PTH_LINE, PTH_NAME, site_packages, write_pth

    assert (site_packages() / PTH_NAME).read_text() == PTH_LINE, "run `make install` or `imax setup-lighteval`"
    written = write_pth(tmp_path)
    assert written.read_text() == PTH_LINE
    # the line must not fail in an interpreter where imax-hub is not importable
    proc = subprocess.run([sys.executable, "-S", "-c", PTH_LINE.replace("imax_hub", "imax_hub_absent")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_a_missing_image_names_the_item_and_the_fix(tmp_path, tiny_model, env):
    root = tmp_path / "physionet"
    synthesize(root, patients=40, seed=2, image_size=48)
    out = tmp_path / "imax"
    build(BuildOptions(physionet_root=root, out=out, target_images=30, seed=0))
    for jpg in root.rglob("*.jpg"):
        jpg.unlink()  # the PhysioNet tree moved or was deleted after the build
    with pytest.raises(ImaxError, match=r"test item '.+/reg/.+': cannot open image .*imax relocate"):
        _eval(model=str(tiny_model), dataset=str(out), tasks=["imax_reg"], max_samples=2, output_dir=tmp_path / "o",
              cache_dir=str(tmp_path / "cache"))


def test_lighteval_own_vision_command_runs_our_tasks_and_agrees_with_imax_score(dataset, tiny_model, env, tmp_path):
    """`lighteval accelerate … --vision-model` (lighteval's stock VLM class) reads the images from Doc.images, and its
    string-shaped answers are scored whole: the numbers equal `imax score` of the same predictions."""
    from imax_hub.build.manifest import load_test_rows
    from imax_hub.metrics import score

    lighteval = Path(sys.executable).with_name("lighteval")
    e = dict(env, IMAX_DATASET=str(dataset))
    proc = subprocess.run([str(lighteval), "accelerate", f"model_name={tiny_model},batch_size=2,cache_dir={tmp_path / 'c'}",
                           "imax_rec|0,imax_vqa_verify|0", "--vision-model", "--custom-tasks", "imax_hub.lighteval_tasks",
                           "--max-samples", "4", "--output-dir", str(tmp_path / "out"), "--save-details"],
                          capture_output=True, text=True, env=e, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(next((tmp_path / "out" / "results").rglob("results_*.json")).read_text())["results"]
    preds = {}
    for f in (tmp_path / "out" / "details").rglob("*.parquet"):
        for row in pq.read_table(f).to_pylist():
            assert not row["doc"]["images"]  # details never carry pixels
            preds[row["doc"]["specific"]["id"]] = row["model_response"]["text"]
    assert len(preds) == 8 and all(isinstance(p, str) and len(p) > 1 for p in preds.values())
    rows = [r for r in load_test_rows(dataset)[0] if r["id"] in preds]
    ours = score(rows, preds, meteor=False).values()
    assert res["imax_rec|0"]["rec_iou"] == pytest.approx(ours["rec_iou"])
    assert res["imax_rec|0"]["rec_r50"] == pytest.approx(ours["rec_r50"])
    assert res["imax_vqa_verify|0"]["vqa_verify_acc"] == pytest.approx(ours["vqa_verify_acc"])


def test_stock_string_answers_are_read_whole():
    from lighteval.models.model_output import ModelResponse

    from imax_hub.lighteval_tasks import answer_text

    stock = ModelResponse(text="<100><200><300><400>")  # lighteval 0.13's VLM class: a str where a list belongs
    stock.text_post_processed = list(stock.text)  # what the pipeline then makes of it
    assert answer_text(stock) == "<100><200><300><400>"
    assert answer_text(ModelResponse(text=["yes"])) == "yes"


def test_doc_images_are_opened_only_when_read(dataset):
    from imax_hub.backends.common import LazyImages
    from imax_hub.lighteval_tasks import prompt_function

    row = pq.read_table(next(dataset.glob("data/rec/test-*.parquet"))).to_pylist()[0]
    doc = prompt_function(row, "imax_rec")
    images = doc.images
    assert isinstance(images, LazyImages) and len(images) == 1 and repr(images) == "LazyImages(1)"
    first = next(iter(images))
    assert first.mode == "RGB" and first is not images[0]  # opened afresh on each read
    assert list.__len__(images) == 0  # and nothing kept between reads
    assert len(LazyImages(x for x in images)) == 0  # a copy (asdict, for details files) holds no image


def _launch(args: list[str], env: dict, cwd: Path, script: list[str] | None = None) -> subprocess.CompletedProcess:
    """`accelerate launch --multi_gpu --num_processes 2` (on a CPU machine the processes talk over gloo)."""
    accelerate = Path(sys.executable).with_name("accelerate")
    return subprocess.run([str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                           "--mixed_precision", "no", "--dynamo_backend", "no", *(script or ["-m", "imax_hub"]), *args],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


@pytest.mark.slow
def test_two_processes_give_one_process_predictions_and_a_killed_run_resumes(dataset, tiny_model, env, tmp_path):
    common = ["--model", str(tiny_model), "--dataset", str(dataset), "--tasks", "imax_rec,imax_reg,imax_calc_ctr",
              "--max-samples", "6", "--batch-size", "2", "--model-args", "chunk_size=4"]
    _eval(model=str(tiny_model), dataset=str(dataset), tasks=["imax_rec", "imax_reg", "imax_calc_ctr"], max_samples=6,
          batch_size=2, model_args="chunk_size=4", output_dir=tmp_path / "one", cache_dir=str(tmp_path / "c1"))
    one = (next((tmp_path / "one").glob("predictions_*.jsonl"))).read_text().splitlines()
    # process 1 is killed in its second chunk: a clear error, a non-zero exit, and the first chunk kept
    killed = _launch(["eval", *common, "--output-dir", str(tmp_path / "two"), "--cache-dir", str(tmp_path / "c2")],
                     env, tmp_path, script=[str(REPO / "tests" / "dp_kill.py")])
    assert killed.returncode != 0
    assert "another process of this `accelerate launch` run" in killed.stdout + killed.stderr
    assert "run the same command again to resume" in killed.stdout + killed.stderr
    assert list((tmp_path / "c2").rglob("GENERATIVE.parquet"))  # the finished chunk was cached
    again = _launch(["eval", *common, "--output-dir", str(tmp_path / "two"), "--cache-dir", str(tmp_path / "c2")],
                    env, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    two = (next((tmp_path / "two").glob("predictions_*.jsonl"))).read_text().splitlines()
    assert sorted(two) == sorted(one) and len(one) == 18


def test_generation_shows_prompts_done_rate_and_eta_on_a_terminal():
    import io

    from rich.console import Console

    from imax_hub.backends.common import generation_progress

    buf = io.StringIO()
    with generation_progress(12, console=Console(file=buf, force_terminal=True, width=120)) as advance:
        for _ in range(3):
            advance(4)
    text = buf.getvalue()
    assert "12/12" in text and "prompts/s" in text and "ETA" in text
    quiet = io.StringIO()
    with generation_progress(12, console=Console(file=quiet, force_terminal=False)) as advance:
        advance(12)
    assert quiet.getvalue() == ""  # piped output stays clean
