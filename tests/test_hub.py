"""Hub submission, model cards, leaderboard page, gated dataset push, and that nothing credentialed leaks.

Hub calls go to tests/fake_hub.py on 127.0.0.1 (conftest refuses any other address); the leaderboard
page is opened in headless Chromium and checked on its screenshot.
"""

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
from html import escape
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from imax_hub.build import BuildOptions, build
from imax_hub.cli import main
from imax_hub.errors import ImaxError
from imax_hub.metrics import METRICS
from imax_hub.synth import synthesize

sys.path.insert(0, str(Path(__file__).parent))
from fake_hub import FakeHub, Repo  # noqa: E402
from tiny_vlm import make_tiny_vlm  # noqa: E402

KEYS = [m.key for m in METRICS]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A small build and three `imax eval` runs on it: a tiny real model, the prior and the oracle."""
    from imax_hub.evaluation import EvalOptions, run_eval

    base = tmp_path_factory.mktemp("hub")
    synthesize(base / "physionet", patients=60, seed=11, image_size=64)
    folder = base / "imax"
    build(BuildOptions(physionet_root=base / "physionet", out=folder, target_images=40, seed=0))
    model = make_tiny_vlm(base / "tiny-vlm")
    old = os.environ.get("HF_DATASETS_CACHE")
    os.environ["HF_DATASETS_CACHE"] = str(base / "hf-cache")
    try:
        runs = {}
        for name in (str(model), "prior", "oracle"):
            summary = run_eval(EvalOptions(model=name, dataset=str(folder), output_dir=base / "results", batch_size=16))
            runs["model" if name == str(model) else name] = Path(summary["_paths"]["summary"])
    finally:
        if old is None:
            del os.environ["HF_DATASETS_CACHE"]
        else:
            os.environ["HF_DATASETS_CACHE"] = old
    return {"folder": folder, "base": base, **runs}


def _cli(capsys, *args) -> tuple[int, str, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _doc(path: Path) -> dict:
    return json.loads(Path(path).read_text())


# --- eval.yaml


def test_eval_yaml_has_one_task_per_metric_with_directions(demo):
    from imax_hub.build.folder import eval_yaml
    from imax_hub.build.manifest import config_layout

    ev = yaml.safe_load((demo["folder"] / "eval.yaml").read_text())
    assert set(ev) == {"name", "description", "evaluation_framework", "tasks"}  # no keys outside the Hub spec
    assert ev["evaluation_framework"] == "imax-hub"
    assert [t["id"] for t in ev["tasks"]] == KEYS
    card = yaml.safe_load((demo["folder"] / "README.md").read_text().split("---\n")[1])
    configs = {c["config_name"]: c for c in card["configs"]}
    for t, m in zip(ev["tasks"], METRICS):
        assert t["config"] == m.task and t["split"] == "test"
        assert any(f["split"] == "test" for f in configs[t["config"]]["data_files"])
    lower = [m.key for m in METRICS if not m.higher_is_better]
    assert f"Lower is better for {', '.join(lower)}" in ev["description"]
    manifest = json.loads((demo["folder"] / "build_manifest.json").read_text())
    other = yaml.safe_load(eval_yaml(config_layout(manifest["shards"]), "my-harness"))
    assert other["evaluation_framework"] == "my-harness"
    with pytest.raises(ImaxError, match="--evaluation-framework"):
        BuildOptions(physionet_root=Path("x"), out=Path("y"), evaluation_framework="Not An Id").check()


# --- submit


def test_submit_dry_run_prints_exactly_what_create_pr_sends(demo, capsys, monkeypatch):
    from huggingface_hub import constants, parse_eval_result_entries

    doc = _doc(demo["model"])
    rev = "a" * 40
    args = ["submit", demo["model"], "--model", "org/tiny", "--benchmark", "org/imax", "--revision", rev,
            "--source-url", "https://example.org/logs", "--notes", "greedy decoding"]
    with FakeHub() as hub:
        code, dry, _ = _cli(capsys, *args, "--endpoint", hub.endpoint)
        assert code == 0 and "dry run: nothing was sent" in dry
        assert hub.requests == []  # a dry run makes no call at all
        hub.repos[("model", "org/tiny")] = Repo("model", private=False)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # the fake Hub is on 127.0.0.1
        code, out, err = _cli(capsys, *args, "--endpoint", hub.endpoint, "--token", "hf_test", "--create-pr")
        assert code == 0, err
        assert f"opened {hub.endpoint}/org/tiny/discussions/1" in out
        assert [(r.method, r.path, r.query.get("create_pr")) for r in hub.requests] == [
            ("POST", "/api/models/org/tiny/preupload/main", ["1"]), ("POST", "/api/models/org/tiny/commit/main", ["1"])]
        assert all(r.authorization == "Bearer hf_test" for r in hub.requests)
        (pr,) = hub.repos[("model", "org/tiny")].prs
        assert hub.repos[("model", "org/tiny")].files == {}  # nothing committed to main
    assert list(pr["files"]) == [".eval_results/imax.yaml"]
    sent = pr["files"][".eval_results/imax.yaml"].decode()
    assert sent.rstrip("\n") in dry  # the dry run printed the very bytes the PR carries
    assert pr["message"] in dry
    entries = parse_eval_result_entries(yaml.safe_load(sent))
    assert [e.task_id for e in entries] == KEYS
    for e in entries:
        assert e.dataset_id == "org/imax" and e.dataset_revision == rev
        assert e.value == round(doc["metrics"][e.task_id]["value"], 4)
        assert e.source_url == "https://example.org/logs"
        assert doc["metrics"][e.task_id]["signature"] in e.notes and doc["dataset_fingerprint"] in e.notes
        assert e.notes.endswith("greedy decoding")
    assert sent.count("date: '") == 16  # ISO dates quoted, as the Hub asks


def test_submit_with_card_adds_a_validated_readme_to_the_same_pr(demo, capsys, monkeypatch, tmp_path):
    from huggingface_hub import constants

    card = tmp_path / "README.md"
    assert _cli(capsys, "card", demo["model"], "--out", card, "--model-id", "org/tiny", "--bootstrap", 50)[0] == 0
    with FakeHub() as hub:
        hub.repos[("model", "org/tiny")] = Repo("model", private=False)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        code, out, err = _cli(capsys, "submit", demo["model"], "--model", "org/tiny", "--benchmark", "org/imax",
                              "--card", card, "--create-pr", "--endpoint", hub.endpoint, "--token", "hf_test")
        assert code == 0, err
        assert "/api/validate-yaml" in [r.path for r in hub.requests]  # the Hub checks the card's metadata
        (pr,) = hub.repos[("model", "org/tiny")].prs
    assert set(pr["files"]) == {".eval_results/imax.yaml", "README.md"}
    assert pr["files"]["README.md"] == card.read_bytes()


def test_submit_refuses_what_must_not_go_on_a_leaderboard(demo, capsys):
    from imax_hub.hub.eval_results import build_submission

    doc = _doc(demo["model"])
    ok = {"model": "org/tiny", "benchmark": "org/imax"}
    with pytest.raises(ImaxError, match="reference baseline"):
        build_submission(_doc(demo["oracle"]), **ok)
    with pytest.raises(ImaxError, match="--max-samples 3"):
        build_submission({**doc, "max_samples": 3}, **ok)
    with pytest.raises(ImaxError, match="results are for 'someone/else'"):
        build_submission({**doc, "model": {**doc["model"], "id": "someone/else"}}, **ok)
    # a base model + LoRA adapter (imax train) goes under the adapter's own repo, its hash in the notes
    adapted = {**doc, "model": {**doc["model"], "id": "someone/base", "adapter": {"name": "stage3", "sha256": "ab12"}}}
    assert all("LoRA adapter sha256 ab12 on someone/base" in e.notes for e in build_submission(adapted, **ok).entries)
    with pytest.raises(ImaxError, match="40-character commit sha"):
        build_submission(doc, **ok, revision="main")
    with pytest.raises(ImaxError, match="--source-url must be an http"):
        build_submission(doc, **ok, source_url="file:///etc/passwd")
    with pytest.raises(ImaxError, match="--model must be ORG/NAME"):
        build_submission(doc, model="tiny", benchmark="org/imax")
    with pytest.raises(ImaxError, match="one line"):
        build_submission(doc, **ok, notes="two\nlines")
    code, _, err = _cli(capsys, "submit", demo["prior"], "--model", "org/tiny", "--benchmark", "org/imax")
    assert code == 1 and "reference baseline" in err


# --- model card


def test_card_numbers_are_the_results_and_delta_is_compares(demo, capsys, tmp_path):
    from huggingface_hub import ModelCard

    from imax_hub.metrics.runs import compare

    doc, prior = _doc(demo["model"]), _doc(demo["prior"])
    out = tmp_path / "README.md"
    code, _, err = _cli(capsys, "card", demo["model"], "--baseline", demo["prior"], "--out", out, "--model-id",
                        "org/tiny", "--base-model", "llava-hf/llava-1.5-7b-hf", "--benchmark", "org/imax",
                        "--trained-on", "dmax", "--bootstrap", 200)
    assert code == 0, err
    text = out.read_text()
    expected = compare([prior, doc], n_boot=200)
    run = expected["runs"][1]
    assert f"**Δ = {run['delta']:+.2f}% [{run['delta_ci95'][0]:+.2f}, {run['delta_ci95'][1]:+.2f}]**" in text
    assert f"better on {run['improved']} of {run['metrics_counted']} metrics" in text
    for m in METRICS:
        v, ci, b = doc["metrics"][m.key]["value"], run["ci95"][m.key], prior["metrics"][m.key]["value"]
        assert f"| {m.label} | {'higher' if m.higher_is_better else 'lower'} | {v:.2f} | [{ci[0]:.2f}, {ci[1]:.2f}] | {b:.2f} |" in text
        assert ci[0] - 1e-9 <= v <= ci[1] + 1e-9
        assert f"| {m.key} | `{doc['metrics'][m.key]['signature']}` |" in text
    assert "**DMAX** (decentralised multi-annotation)" in text and "None of it is redistributed" in text
    assert f"has the test-set hash `{doc['test_set_hash']}`" in text and "--target-images 40" in text
    data = ModelCard(text).data
    assert data.base_model == "llava-hf/llava-1.5-7b-hf" and data.datasets == ["org/imax"]
    assert sorted(r.metric_type for r in data.eval_results) == sorted(KEYS)
    assert {r.metric_type: r.metric_value for r in data.eval_results} == \
        {k: round(doc["metrics"][k]["value"], 4) for k in KEYS}


def test_card_templates_and_a_perfect_run_has_tight_intervals(demo):
    from imax_hub.cards import render_card

    oracle = _doc(demo["oracle"])
    model = dict(oracle, name="org/model", model={"id": "org/model", "backend": "transformers"})
    texts = {kind: render_card(model, trained_on=kind, n_boot=50, model_index=False, license_id="mit")[0]
             for kind in ("imax", "dmax", "pseudo-imax")}
    assert "**IMAX** (image-centric" in texts["imax"] and "**Pseudo-IMAX**" in texts["pseudo-imax"]
    assert "model-index" not in texts["imax"]
    # every resample of a perfect run is perfect, METEOR included (the jar's perfect-match rule)
    assert "| Report METEOR | higher | 100.00 | [100.00, 100.00] |" in texts["imax"]
    assert "| CPAR MAE | lower | 0.00 | [0.00, 0.00] |" in texts["imax"]
    with pytest.raises(ImaxError, match="--trained-on"):
        render_card(model, trained_on="mimic")


def test_every_reproduce_line_of_a_card_runs_on_the_demo_build_and_gives_its_numbers(demo, capsys, tmp_path,
                                                                                      monkeypatch):
    import shlex

    card = tmp_path / "card.md"  # the card `make demo` writes: the oracle against the prior
    code, _, err = _cli(capsys, "card", demo["oracle"], "--baseline", demo["prior"], "--model-id", "demo/oracle",
                        "--out", card, "--bootstrap", 50)
    assert code == 0, err
    text = card.read_text()
    assert "**oracle** is a baseline of the IMAX benchmark, not a model" in text and "fine-tuned" not in text
    block = text.split("## How to reproduce")[1].split("```bash")[1].split("```")[0]
    lines = [line for line in block.splitlines() if line.startswith("imax ")]
    assert [line.split()[1] for line in lines] == ["build", "eval", "eval", "compare"], lines
    assert "--backend" not in block and "imax eval --model oracle " in block and "imax eval --model prior " in block
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    for line in lines:
        args = shlex.split(line.replace("PHYSIONET_ROOT", str(demo["base"] / "physionet")))[1:]
        code, _, err = _cli(capsys, *args)
        assert code == 0, (line, err)
    for name in ("oracle", "prior"):
        again, first = _doc(tmp_path / "results" / f"imax_{name}.json"), _doc(demo[name])
        assert again["test_set_hash"] == first["test_set_hash"]
        assert again["dataset_fingerprint"] == first["dataset_fingerprint"]  # the same build, rebuilt elsewhere
        assert {k: m["value"] for k, m in again["metrics"].items()} == {k: m["value"] for k, m in first["metrics"].items()}
    assert (tmp_path / "comparison" / "comparison.json").is_file()


def test_adapter_and_model_cards_carry_peft_base_model_and_licence(demo, tmp_path):
    from huggingface_hub import ModelCard

    from imax_hub.cards import base_license, render_card

    oracle = _doc(demo["oracle"])
    adapter = dict(oracle, name="Qwen/Qwen2-VL-2B-Instruct+stage3",
                   model={"id": "Qwen/Qwen2-VL-2B-Instruct", "backend": "transformers", "revision": None,
                          "adapter": {"name": "stage3", "sha256": "ab" * 32}})
    text, warnings = render_card(adapter, model_id="org/imax-lora", n_boot=20)  # offline: the base's card is unreadable
    data = ModelCard(text).data
    assert data.library_name == "peft" and data.base_model == "Qwen/Qwen2-VL-2B-Instruct" and data.license is None
    assert warnings and "--license" in warnings[0] and "Qwen/Qwen2-VL-2B-Instruct" in warnings[0]
    assert "imax eval --model Qwen/Qwen2-VL-2B-Instruct --adapter org/imax-lora --dataset imax" in text
    text, warnings = render_card(adapter, model_id="org/imax-lora", n_boot=20, license_id="apache-2.0")
    assert ModelCard(text).data.license == "apache-2.0" and not warnings
    base = tmp_path / "base"
    base.mkdir()
    (base / "README.md").write_text("---\nlicense: mit\n---\n# a base model\n")
    assert base_license(str(base)) == "mit"
    model = dict(oracle, name="org/full", model={"id": "org/full", "backend": "transformers"})
    data = ModelCard(render_card(model, n_boot=20, license_id="mit")[0]).data
    assert data.library_name == "transformers" and data.license == "mit" and "baseline" not in data.tags


# --- leaderboard


def _swatch_rows(png: Path, colors: list[str]) -> list[float]:
    """Mean y of each swatch colour in a screenshot (nan if absent)."""
    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    ys = []
    for c in colors:
        rgb = np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)])
        hit = np.all(np.abs(img - rgb) <= 2, axis=2)
        rows = np.nonzero(hit.sum(1) >= 10)[0]  # a 14-px swatch line, not stray anti-aliasing
        rows = rows[rows < 400]  # the table, above the chart (whose labels share the colours)
        ys.append(float(rows.mean()) if len(rows) else float("nan"))
    return ys


def _chromium(width: int, profile: Path) -> list[str]:
    """Headless Chromium at ``width`` px, with a dead proxy and no name resolution: a page must render with
    nothing fetched from anywhere."""
    return [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-color-profile=srgb",
            "--force-device-scale-factor=1", f"--window-size={width},900", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
            "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}"]


def _screenshot(html: Path, fragment: str, out: Path) -> None:
    cmd = [*_chromium(1800, out.parent / "chromium-profile"), f"--screenshot={out}", html.resolve().as_uri() + fragment]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and out.is_file(), proc.stderr[-2000:]


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                    reason="needs Debian's chromium (make test installs it; CI fails instead of skipping)")
def test_leaderboard_page_in_headless_chromium_sorts_by_direction(demo, capsys, tmp_path):
    from imax_hub.leaderboard import PALETTE

    assert CHROMIUM, "chromium is not installed: `make test` installs it with apt-get"
    paths = [demo["model"], demo["prior"], demo["oracle"]]
    docs = [_doc(p) for p in paths]
    html, png = tmp_path / "board.html", tmp_path / "chart.png"
    code, out, err = _cli(capsys, "leaderboard", *paths, "--html", html, "--png", png, "--baseline", demo["prior"],
                          "--bootstrap", 50)
    assert code == 0, err
    page = html.read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and base64.b64encode(png.read_bytes()).decode() in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing external to fetch
    for m in METRICS:
        signature = escape(m.signature.format(**_versions()), quote=True)
        assert f'title="{signature} ({"higher" if m.higher_is_better else "lower"} is better)"' in page
    color = {d["name"]: PALETTE[i] for i, d in enumerate(docs)}
    names = list(color)

    def order(fragment: str) -> list[str]:
        shot = tmp_path / f"shot{len(list(tmp_path.glob('shot*.png')))}.png"
        _screenshot(html, fragment, shot)
        ys = _swatch_rows(shot, [color[n] for n in names])
        assert all(y == y for y in ys), f"a run is missing from the rendered table: {dict(zip(names, ys))}"
        return [n for _, n in sorted(zip(ys, names))]

    by_value = lambda key, reverse: [d["name"] for d in sorted(docs, key=lambda d: d["metrics"][key]["value"], reverse=reverse)]
    # errors sort ascending and accuracies descending on the first click (best first); :worst reverses
    assert order("#sort=cpar_mae")[0] == "oracle" == by_value("cpar_mae", False)[0]
    assert order("#sort=cpar_mae:worst")[-1] == "oracle"
    assert order("#sort=reg_acc") [0] == "oracle" == by_value("reg_acc", True)[0]
    assert order("#sort=report_rouge1:worst") == by_value("report_rouge1", False)
    assert order("")[0] == "oracle"  # default: mean rank; the oracle is best everywhere


def _probe(html: Path, script: str, width: int, out: Path) -> dict:
    """Open ``html`` in headless Chromium at ``width`` px, run ``script`` after load (it sets ``probe``, a JSON-able
    object) and return that object, read back from the DOM Chromium dumps; also saves a screenshot as ``out``."""
    import html as html_lib

    page = html.read_text().replace("</body>", f"<script>window.addEventListener('load', () => {{ const probe = {{}}; "
                                                f"{script}; document.body.dataset.probe = JSON.stringify(probe); }});"
                                                "</script></body>")
    probed = out.with_suffix(".html")
    probed.write_text(page)
    common = [*_chromium(width, out.parent / "chromium-profile"), "--virtual-time-budget=3000"]
    proc = subprocess.run([*common, "--dump-dom", probed.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r'data-probe="([^"]*)"', proc.stdout)
    assert found, proc.stderr[-2000:]
    subprocess.run([*common, f"--screenshot={out}", probed.resolve().as_uri()], capture_output=True, timeout=120)
    return json.loads(html_lib.unescape(found.group(1)))


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                    reason="needs Debian's chromium (make test installs it; CI fails instead of skipping)")
def test_leaderboard_page_fits_1400_px_and_sorts_from_the_keyboard(demo, capsys, tmp_path):
    assert CHROMIUM, "chromium is not installed: `make test` installs it with apt-get"
    paths = []
    for key, name in (("model", "Qwen__Qwen2.5-VL-7B-Instruct+runs-stage3-lora-r16"), ("prior", "prior"),
                      ("oracle", "oracle")):
        doc = _doc(demo[key])
        doc["name"] = name  # a long Hub-style run name, as real boards have
        paths.append(tmp_path / f"{key}.json")
        paths[-1].write_text(json.dumps(doc))
    html = tmp_path / "board.html"
    code, _, err = _cli(capsys, "leaderboard", *paths, "--html", html, "--baseline", paths[1], "--bootstrap", 20)
    assert code == 0, err
    probe = _probe(html, """
        const h = document.querySelector('th[data-key="cpar_mae"]');
        h.focus();
        h.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter", bubbles: true}));
        probe.scroll = document.documentElement.scrollWidth;
        probe.client = document.documentElement.clientWidth;
        probe.table = document.getElementById("board").getBoundingClientRect().right;
        probe.focused = document.activeElement === h;
        probe.tabbable = [...document.querySelectorAll("th[data-key]")].every(t => t.tabIndex === 0);
        probe.first = document.querySelector("#board tbody tr").dataset.run;
        probe.sorted = h.getAttribute("aria-sort");
    """, 1400, tmp_path / "at1400.png")
    assert probe["scroll"] <= probe["client"] and probe["table"] <= 1400, probe  # no horizontal scrolling
    assert probe["tabbable"] and probe["focused"]
    assert probe["first"] == "oracle" and probe["sorted"] == "ascending"  # Enter sorted errors best first


def test_heat_map_text_stays_readable_on_every_cell_colour():
    import matplotlib

    from imax_hub.leaderboard import contrast, text_color

    # the formula against published values: WCAG's full range is 21:1; #767676 on white is 4.54:1 (WebAIM's
    # contrast checker), the lightest grey that passes AA, and #777777 fails it
    assert contrast((0, 0, 0), (1, 1, 1)) == pytest.approx(21.0)
    assert round(contrast((0x76 / 255,) * 3, (1, 1, 1)), 2) == 4.54 and contrast((0x77 / 255,) * 3, (1, 1, 1)) < 4.5
    cmap = matplotlib.colormaps["RdYlGn"]
    for x in np.linspace(0, 1, 101):
        background = cmap(x)
        ink = (0, 0, 0) if text_color(background) == "black" else (1, 1, 1)
        assert contrast(background, ink) >= 4.5, (x, background)  # WCAG AA for normal text
    assert text_color(cmap(0.0)) == "white" and text_color(cmap(0.5)) == "black"


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                    reason="needs Debian's chromium (make test installs it; CI fails instead of skipping)")
def test_show_renders_the_build_with_boxes_answers_and_marks_in_chromium(demo, capsys, tmp_path):
    from PIL import Image

    from imax_hub.gallery import GOLD, MODEL

    assert CHROMIUM, "chromium is not installed: `make test` installs it with apt-get"
    results = demo["base"] / "results"
    pages = {}
    for run in ("oracle", "prior"):
        pages[run] = tmp_path / f"{run}.html"
        code, out, err = _cli(capsys, "show", demo["folder"], "--out", pages[run], "--images", "3",
                              "--predictions", results / f"predictions_{run}.jsonl")
        assert code == 0, err
        assert "3 of" in out and "local only" in out
    oracle, prior = pages["oracle"].read_text(), pages["prior"].read_text()
    assert 'content="credentialed: local only"' in oracle and "Do not upload, share or attach it" in oracle
    assert oracle.count('class="mark right"') > 10 and 'class="mark wrong"' not in oracle  # gold answers are right
    assert 'class="mark wrong"' in prior and "IoU " in prior and "error " in prior
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", oracle)  # thumbnails inlined, nothing fetched
    shot = tmp_path / "gallery.png"
    probe = _probe(pages["prior"], """
        probe.images = [...document.images].map(i => i.naturalWidth > 0 && i.complete);
        probe.articles = document.querySelectorAll("article").length;
        probe.banner = getComputedStyle(document.querySelector(".warning")).backgroundColor;
    """, 1400, shot)
    assert probe["articles"] == 3 and probe["images"] == [True] * 3 and probe["banner"] == "rgb(185, 28, 28)"
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)

    def seen(color: str) -> int:
        rgb = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])
        return int(np.all(np.abs(pixels - rgb) <= 40, axis=2).sum())
    assert seen("#b91c1c") > 5000  # the banner
    assert seen(MODEL) > 50 and sum(seen(c) > 50 for c in GOLD.values()) >= 2  # the model's and gold boxes drawn


def test_a_gallery_is_never_uploaded(demo, capsys, tmp_path):
    from imax_hub.errors import ImaxError
    from imax_hub.hub.eval_results import build_submission

    page = tmp_path / "gallery.html"
    code, _, err = _cli(capsys, "show", demo["folder"], "--out", page, "--images", "1")
    assert code == 0, err
    code, _, err = _cli(capsys, "push-dataset", page, "org/imax")
    assert code == 1 and "gallery" in err and "credentialed" in err
    code, _, err = _cli(capsys, "submit", page, "--model", "org/m", "--benchmark", "org/imax")
    assert code == 1 and "gallery" in err
    with pytest.raises(ImaxError, match="--card is an `imax show` gallery"):
        build_submission(_doc(demo["model"]), model="org/m", benchmark="org/imax", card=page.read_bytes())


def _versions():
    from imax_hub.metrics.text import versions

    return versions()


# --- push-dataset


def _report_rows(folder: Path) -> list[dict]:
    return [r for f in sorted(folder.glob("data/report/*.parquet")) + sorted(folder.glob("data/dmax-report/*.parquet"))
            for r in pq.read_table(f, columns=["id", "answer"]).to_pylist()]


def test_push_dataset_dry_run_stages_an_annotations_only_copy_and_sends_nothing(demo, capsys, tmp_path):
    import datasets

    staging = tmp_path / "staged"
    with FakeHub() as hub:
        code, out, err = _cli(capsys, "push-dataset", demo["folder"], "org/imax-annotations", "--staging", staging,
                              "--endpoint", hub.endpoint)
        assert code == 0, err
        assert hub.requests == []
    assert "dry run: nothing was sent" in out and "gated=manual" in out
    assert sorted(p.name for p in staging.iterdir()) == ["README.md", "data", "eval.yaml"]
    n_report = 0
    for f in staging.rglob("*.parquet"):
        t = pq.read_table(f)
        assert "image" not in t.column_names and "image_path" in t.column_names
        for r in t.to_pylist():
            if r["task"] == "report":
                n_report += 1
                assert r["answer"] is None and [m["role"] for m in r["messages"]] == ["user"]
                assert set(json.loads(r["target"])) == {"sections"}
    assert n_report == len(_report_rows(demo["folder"])) > 0
    front = yaml.safe_load((staging / "README.md").read_text().split("---\n")[1])
    assert "PhysioNet username" in front["extra_gated_fields"] and front["license_name"].startswith("physionet")
    assert not any(c["config_name"].startswith("eval-") for c in front["configs"])
    ds = datasets.load_dataset(str(staging), "imax", split="test", cache_dir=str(tmp_path / "cache"))
    assert "image" not in ds.column_names and len(ds) > 0  # the card's configs and features load as they are


def test_push_dataset_creates_a_private_gated_repo_and_refuses_a_public_one(demo, capsys, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with FakeHub() as hub:
        hub.repos[("dataset", "org/public")] = Repo("dataset", private=False)
        code, _, err = _cli(capsys, "push-dataset", demo["folder"], "org/public", "--push", "--endpoint", hub.endpoint,
                            "--token", "hf_test")
        assert code == 1 and "org/public is a public dataset repo" in err
        assert hub.uploads() == []  # refused before anything was sent
        hub.requests.clear()
        code, out, err = _cli(capsys, "push-dataset", demo["folder"], "org/imax-annotations", "--push",
                              "--endpoint", hub.endpoint, "--token", "hf_test")
        assert code == 0, err
        repo = hub.repos[("dataset", "org/imax-annotations")]
        assert repo.private and repo.gated == "manual"
        steps = [(r.method, r.path) for r in hub.requests]
        # a later push into the (private) repo replaces the shards, so none of an older build lingers
        repo.files["data/old-task/train-00000-of-00001.parquet"] = b"PAR1 stale"
        first = dict(repo.files)
        assert _cli(capsys, "push-dataset", demo["folder"], "org/imax-annotations", "--push", "--endpoint", hub.endpoint,
                    "--token", "hf_test")[0] == 0
        assert repo.commits[-1]["deleted"] == ["data/old-task/train-00000-of-00001.parquet"]
        assert set(repo.files) == set(first) - {"data/old-task/train-00000-of-00001.parquet"}
    assert steps[:3] == [("GET", "/api/datasets/org/imax-annotations"), ("POST", "/api/repos/create"),
                         ("PUT", "/api/datasets/org/imax-annotations/settings")]  # private and gated before any upload
    assert json.loads(hub.requests[1].body)["visibility"] == "private"
    manifest = json.loads((demo["folder"] / "build_manifest.json").read_text())
    assert sorted(repo.files) == sorted([s["path"] for s in manifest["shards"]] + ["README.md", "eval.yaml"])
    answers = {r["answer"] for r in _report_rows(demo["folder"])}
    for path, data in repo.files.items():
        assert b"\xff\xd8\xff" not in data
        if path.endswith(".parquet"):
            t = pq.read_table(io.BytesIO(data))
            assert "image" not in t.column_names
            assert not answers & set(t.column("answer").to_pylist())


def test_push_dataset_report_text_only_with_the_loud_flag(demo, capsys, tmp_path):
    from imax_hub.hub.push_dataset import REPORT_TEXT_FLAG

    staging = tmp_path / "staged"
    code, out, err = _cli(capsys, "push-dataset", demo["folder"], "org/x", "--staging", staging, REPORT_TEXT_FLAG)
    assert code == 0 and "WARNING: report text will be uploaded" in err and "REPORT TEXT IS INCLUDED" in out
    staged = {r["answer"] for f in staging.glob("data/*report/*.parquet") for r in pq.read_table(f).to_pylist()}
    assert {r["answer"] for r in _report_rows(demo["folder"])} <= staged


def test_verify_staged_refuses_images_and_report_text(tmp_path):
    import pyarrow as pa

    from imax_hub.hub.push_dataset import verify_staged

    (tmp_path / "data").mkdir()
    pq.write_table(pa.table({"task": ["vqa"], "blob": [b"\xff\xd8\xff\xe0"]}), tmp_path / "data" / "a.parquet")
    with pytest.raises(ImaxError, match=r"a.parquet: binary column\(s\) blob"):
        verify_staged(tmp_path, report_text=False)
    pq.write_table(pa.table({"task": ["report"], "answer": ["Heart size is normal."], "target": ['{"sections":[]}'],
                             "messages": [[{"role": "user"}]]}), tmp_path / "data" / "a.parquet")
    with pytest.raises(ImaxError, match="a.parquet, row 0: report text"):
        verify_staged(tmp_path, report_text=False)
    verify_staged(tmp_path, report_text=True)


# --- lighteval never uploads imax details


def test_lighteval_uploads_of_imax_details_are_refused():
    from lighteval.logging.evaluation_tracker import EvaluationTracker

    import imax_hub.lighteval_tasks  # noqa: F401  (installs the guard, as `--custom-tasks` does)
    from imax_hub.upload_guard import refuse_push_flags

    with pytest.raises(ImaxError, match="refused"):
        refuse_push_flags(["/venv/bin/lighteval", "custom", "m", "t", "--push-to-hub", "--results-org", "me"])
    refuse_push_flags(["/venv/bin/lighteval", "custom", "m", "t"])
    refuse_push_flags(["pytest", "--push-to-hub"])  # only the lighteval command line is stopped
    tracker = EvaluationTracker(output_dir="unused", push_to_hub=True, hub_results_org="me")
    tracker.details_logger.details = {"imax_report|0": []}
    for call in (lambda: tracker.push_to_hub(date_id="d", details={}, results_dict={}),
                 lambda: tracker.push_details_to_hub("me/x", "p"),
                 lambda: tracker.push_to_tensorboard(results={}, details={})):
        with pytest.raises(ImaxError, match="credentialed PhysioNet data"):
            call()


@pytest.mark.parametrize("command", [[sys.executable, "-m", "lighteval"], [str(Path(sys.executable).parent / "lighteval")]],
                         ids=["python -m lighteval", "lighteval"])
def test_lighteval_push_with_imax_tasks_is_refused_at_start_up(command, tmp_path):
    """Refused before anything loads: the model named does not exist, and the run stops on the push flag."""
    argv = ["accelerate", "model_name=" + str(tmp_path / "no-model"), "imax_report|0", "--custom-tasks",
            "imax_hub.lighteval_tasks", "--push-to-hub", "--results-org", "me", "--output-dir", str(tmp_path / "out")]
    proc = subprocess.run([*command, *argv], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode != 0
    assert "refused" in proc.stderr and "--push-to-hub" in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "no-model" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_imax_eval_sends_nothing_to_the_hub_even_online(demo, tmp_path):
    with FakeHub() as hub:
        env = dict(os.environ, HF_HUB_OFFLINE="0", HF_DATASETS_OFFLINE="0", HF_ENDPOINT=hub.endpoint,
                   HF_TOKEN="hf_test", HF_DATASETS_CACHE=str(tmp_path / "cache"), HF_HOME=str(tmp_path / "home"))
        proc = subprocess.run([sys.executable, "-m", "imax_hub", "eval", "--model", "oracle", "--dataset", str(demo["folder"]),
                               "--output-dir", str(tmp_path / "out"), "--save-details"],
                              capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert hub.uploads() == []


# --- the promise: nothing credentialed in anything that would be uploaded


def _sensitive(folder: Path) -> dict[str, set[str]]:
    """Gold answers, report sentences, prompts with patient content and patient/study/image ids of a build."""
    out = {"answer": set(), "report sentence": set(), "prompt": set(), "id": set()}
    for f in folder.glob("data/*/*.parquet"):
        for r in pq.read_table(f, columns=["task", "prompt", "answer", "dicom_id", "subject_id", "study_id"]).to_pylist():
            answer = r["answer"] or ""
            if re.search("[A-Za-z]", answer) and len(answer) >= 8:
                out["answer"].add(answer)
            if r["task"] == "report":
                out["report sentence"] |= {s.strip() for s in re.split(r"(?<=\.)\s+", answer) if len(s.strip()) >= 12}
            if r["task"] in ("vqa", "reg", "rec"):  # questions name findings and boxes of this image
                out["prompt"].add(r["prompt"].split("Based on the input image, ", 1)[-1])
            out["id"] |= {r["dicom_id"], str(r["subject_id"]), str(r["study_id"])}
    return out


def _leaks(text: str, sensitive: dict[str, set[str]]) -> list[tuple[str, str]]:
    low = text.lower()
    found = []
    for kind, strings in sensitive.items():
        for s in strings:
            i = low.find(s.lower())
            while i >= 0:
                before = low[i - 1] if i else " "
                after = low[i + len(s)] if i + len(s) < len(low) else " "
                if not (before.isalnum() or after.isalnum()):  # a whole token, not part of a hash
                    found.append((kind, s))
                    break
                i = low.find(s.lower(), i + 1)
    return found


def test_nothing_credentialed_reaches_any_uploadable_artifact(demo, capsys, monkeypatch, tmp_path):
    from huggingface_hub import constants

    sensitive = _sensitive(demo["folder"])
    assert all(sensitive.values())
    # the scanner does find credentialed text where it is (the local predictions of the oracle are gold answers)
    oracle_predictions = next((demo["base"] / "results").glob("predictions_oracle.jsonl")).read_text()
    assert {k for k, _ in _leaks(oracle_predictions, sensitive)} >= {"answer", "report sentence"}

    artifacts: dict[str, str] = {}
    card, html, png = tmp_path / "README.md", tmp_path / "board.html", tmp_path / "chart.png"
    assert _cli(capsys, "card", demo["model"], "--baseline", demo["prior"], "--out", card, "--bootstrap", 50)[0] == 0
    artifacts["card"] = card.read_text()
    assert _cli(capsys, "leaderboard", demo["model"], demo["prior"], demo["oracle"], "--html", html, "--png", png,
                "--bootstrap", 50)[0] == 0
    artifacts["leaderboard html"] = html.read_text()
    artifacts["chart png"] = png.read_bytes().decode("latin-1")
    submit = ["submit", demo["model"], "--model", "org/tiny", "--benchmark", "org/imax", "--card", card]
    code, dry, _ = _cli(capsys, *submit)
    assert code == 0
    artifacts["submit dry run"] = dry
    with FakeHub() as hub:
        hub.repos[("model", "org/tiny")] = Repo("model", private=False)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        assert _cli(capsys, *submit, "--create-pr", "--endpoint", hub.endpoint, "--token", "hf_test")[0] == 0
        artifacts["bytes sent for the PR"] = hub.sent_bytes().decode("utf-8", "replace")
    for name in ("model", "prior", "oracle"):  # results files: what a --source-url page would publish
        artifacts[f"results {name}"] = demo[name].read_text()
    for f in (demo["base"] / "results" / "results").rglob("results_*.json"):
        artifacts[f"lighteval {f.name}"] = f.read_text()
    leaks = {name: _leaks(text, sensitive) for name, text in artifacts.items()}
    assert leaks == {name: [] for name in artifacts}
    for name in ("card", "leaderboard html", "submit dry run", "bytes sent for the PR"):  # no local path either
        assert str(demo["base"]) not in artifacts[name], name


def test_the_suite_refuses_connections_outside_loopback():
    import socket

    from conftest import is_loopback

    assert getattr(socket.socket.connect, "loopback_only", False)
    assert getattr(socket.socket.connect_ex, "loopback_only", False)
    assert is_loopback(("127.0.0.1", 80)) and is_loopback(("::1", 80, 0, 0)) and is_loopback(("localhost", 1))
    assert not is_loopback(("192.0.2.1", 80)) and not is_loopback(("huggingface.co", 443))
    assert not is_loopback(("10.0.0.1", 80))


def test_hub_commands_reject_bad_input_clearly(demo, capsys, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "imax-hub/scores/1", "name": ')  # a truncated results file
    code, _, err = _cli(capsys, "submit", broken, "--model", "org/tiny", "--benchmark", "org/imax")
    assert code == 1 and "cannot read a results file" in err
    other = _doc(demo["prior"])
    other.update(test_set_hash="0" * 16, n_items=1)
    (tmp_path / "other.json").write_text(json.dumps(other))
    for args in (["leaderboard", demo["model"], tmp_path / "other.json", "--html", tmp_path / "b.html"],
                 ["card", demo["model"], "--baseline", tmp_path / "other.json", "--out", tmp_path / "c.md"]):
        code, _, err = _cli(capsys, *args)
        assert code == 1 and "different test set" in err
    assert not (tmp_path / "b.html").exists() and not (tmp_path / "c.md").exists()
    code, _, err = _cli(capsys, "push-dataset", tmp_path, "org/x")
    assert code == 1 and "build_manifest.json not found" in err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    code, _, err = _cli(capsys, "push-dataset", demo["folder"], "org/x", "--staging", tmp_path / "full")
    assert code == 1 and "is not empty" in err
    code, _, err = _cli(capsys, "push-dataset", demo["folder"], "not a repo id")
    assert code == 1 and "not a Hub repo id" in err


def test_leaderboard_notes_name_a_local_base_model_by_its_last_component_only():
    from imax_hub.hub.eval_results import entry_notes

    doc = {"metrics": {"ctr_mae": {"signature": "s"}}, "test_set_hash": "h", "n_items": 3,
           "model": {"id": "demo/three-stages/tiny-vlm", "adapter": {"sha256": "ab" * 32}}}
    notes = entry_notes(doc, "ctr_mae", None)
    assert "on tiny-vlm" in notes and "demo/" not in notes
