"""The IMAX tasks in lmms-eval: the shipped YAMLs follow the registry, and lmms-eval's own task loader builds
them, feeds them our rows and aggregates exactly what `imax score` gives.

lmms-eval is installed by `make install` without its dependencies (they pull a CUDA torch and torchvision):
its task loader needs none of them; its model backends do, so its CLI is not run here (see the README)."""

from pathlib import Path

import pytest

from imax_hub.build.manifest import load_test_rows
from imax_hub.lmms_tasks import write_tasks
from imax_hub.metrics import score
from imax_hub.tasks import registry

lmms_tasks = pytest.importorskip("lmms_eval.tasks", reason="`make install` installs lmms-eval (no dependencies)")
REPO = Path(__file__).resolve().parents[1]


def test_shipped_task_files_are_the_registrys(tmp_path):
    write_tasks(tmp_path / "fresh")
    shipped = REPO / "eval_tasks" / "lmms_eval"
    names = sorted(p.name for p in (tmp_path / "fresh").iterdir())
    assert names == sorted(p.name for p in shipped.iterdir() if p.suffix in (".yaml", ".py"))
    for name in names:
        assert (tmp_path / "fresh" / name).read_text() == (shipped / name).read_text(), name
    assert len([n for n in names if n.startswith("imax_")]) == len(registry.harness_tasks())


@pytest.fixture(scope="module")
def build(tmp_path_factory, tiny_tree):
    from imax_hub.build import BuildOptions, build as run_build

    out = tmp_path_factory.mktemp("lmms") / "imax"
    run_build(BuildOptions(physionet_root=tiny_tree, out=out, target_images=40))
    return out


def test_lmms_eval_loads_feeds_and_scores_our_tasks(build, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    write_tasks(tmp_path / "tasks", str(build))
    manager = lmms_tasks.TaskManager(include_path=str(tmp_path / "tasks"))
    assert {"imax", *(h.name for _, h in registry.harness_tasks())} <= set(manager.all_tasks)
    tasks = lmms_tasks.get_task_dict(["imax_rec", "imax_vqa_verify", "imax_cls_multilabel"], manager)
    rows = {r["id"]: r for r in load_test_rows(build)[0]}
    for name, task in tasks.items():
        docs = list(task.test_docs())
        assert docs and all(d["id"] in rows for d in docs)
        assert task.doc_to_text(docs[0]) == docs[0]["prompt"] and task.doc_to_visual(docs[0])[0].mode == "RGB"
        for predict in (lambda d: d["answer"], lambda d: "no idea"):
            preds = {d["id"]: predict(d) for d in docs}
            records = [task.process_results(d, [preds[d["id"]]]) for d in docs]
            ours = score([rows[d["id"]] for d in sorted(docs, key=lambda d: d["id"])], preds, meteor=False).values()
            for metric in task.config.metric_list:
                key = metric["metric"]
                assert task.aggregation()[key]([r[key] for r in records]) == pytest.approx(ours[key]), (name, key)
