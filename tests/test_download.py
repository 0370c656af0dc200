"""`imax download` against a PhysioNet stand-in on 127.0.0.1: success, refusals, 404, cuts, bad checksums, reruns."""

import json
import shutil
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from imax_hub.build import BuildOptions, build, needed_images
from imax_hub.download import DownloadOptions, check_base_url, credentials, download
from imax_hub.errors import ImaxError
from imax_hub.sources import layout
from imax_hub.synth import synthesize

sys.path.insert(0, str(Path(__file__).parent))
from physionet_server import PhysioNetStandIn  # noqa: E402

PASSWORD = "s3cret-Pa55"
SELECT = dict(config="all", target_images=20, min_tasks=3, seed=0)
ZIP = "/files/mimic-cxr/2.1.0/mimic-cxr-reports.zip"
PE = layout.PE_SEVERITY


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    base = tmp_path_factory.mktemp("physionet-server")
    synthesize(base / "physionet", patients=30, seed=6, image_size=64)
    build(BuildOptions(physionet_root=base / "physionet", out=base / "full-build", **SELECT))
    return base / "physionet", base / "full-build"


@pytest.fixture
def server(tree):
    users = {"alice": (PASSWORD, None), "bob": (PASSWORD, {p.slug for p in layout.PROJECTS} - {PE.slug})}
    with PhysioNetStandIn(tree[0], users) as s:
        yield s


def _opts(root: Path, server, **kw) -> DownloadOptions:
    return DownloadOptions(root=root, base_url=server.url, jobs=4, backoff=0.01, **SELECT, **kw)


def _creds(user="alice", password=PASSWORD):
    from imax_hub.download import Credentials

    return Credentials(user, password)


def _cli(capsys, monkeypatch, *args, password=PASSWORD):
    from imax_hub.cli import main

    monkeypatch.setenv("PHYSIONET_PASSWORD", password)
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    cap = capsys.readouterr()
    return code, cap.out + cap.err


def _rows(folder: Path) -> dict[str, list[dict]]:
    """Every shard's rows with the image's absolute path cut to its path inside the tree."""
    out = {}
    for shard in sorted(folder.glob("data/*/*.parquet")):
        rows = pq.read_table(shard).to_pylist()
        for r in rows:
            assert r["image"]["path"].endswith(r["image_path"])
            r["image"] = r["image_path"]
        out[str(shard.relative_to(folder))] = rows
    return out


def test_download_then_build_is_the_full_trees_build_and_a_rerun_fetches_nothing(tree, server, tmp_path, capsys,
                                                                                   monkeypatch):
    full_tree, full_build = tree
    root = tmp_path / "physionet"
    code, text = _cli(capsys, monkeypatch, "download", "--physionet-root", root, "--user", "alice", "--base-url",
                      server.url, "--target-images", 20, "--jobs", 4)
    assert code == 0, text
    assert "failed 0" in text and PASSWORD not in text
    wanted = needed_images(full_tree, **SELECT)
    jpgs = sorted(str(p.relative_to(root / "mimic-cxr-jpg" / "2.1.0")) for p in root.rglob("*.jpg"))
    assert jpgs == wanted  # exactly the selected images…
    assert len(jpgs) < len(list(full_tree.rglob("*.jpg")))  # …not the whole tree
    assert not list(root.rglob("*.partial"))
    assert not (root / "mimic-cxr" / "2.1.0" / "files").exists()  # the reports zip only, not the per-study files
    assert not (root / "chexmask-cxr-segmentation-data" / "1.0.0" / "Preprocessed").exists()

    code, text = _cli(capsys, monkeypatch, "check", root, "--verify-checksums")
    assert code == 0 and "7 of 7 tasks enabled" in text and "a selective `imax download`" in text.replace("\n", " ")
    build(BuildOptions(physionet_root=root, out=tmp_path / "imax", **SELECT))
    assert _rows(tmp_path / "imax") == _rows(full_build)
    made = json.loads((tmp_path / "imax" / "build_manifest.json").read_text())
    ref = json.loads((full_build / "build_manifest.json").read_text())
    assert made["inputs"] == ref["inputs"] and made["tasks_built"] == ref["tasks_built"]

    before = len(server.gets)
    code, text = _cli(capsys, monkeypatch, "download", "--physionet-root", root, "--user", "alice", "--base-url",
                      server.url, "--target-images", 20)
    assert code == 0 and "fetched 0 files" in text and "failed 0" in text
    assert len(server.gets) == before  # nothing asked of the server: SHA256SUMS and files are all here, verified
    code, text = _cli(capsys, monkeypatch, "download", "--physionet-root", root, "--user", "alice", "--base-url",
                      server.url, "--target-images", 20, "--dry-run")
    assert code == 0 and "to fetch" not in text.split("files:")[0] and " 0 to fetch" in text


def test_wrong_password_and_a_project_without_access_are_named(tree, server, tmp_path, capsys, monkeypatch):
    root = tmp_path / "physionet"
    code, text = _cli(capsys, monkeypatch, "download", "--physionet-root", root, "--user", "alice", "--base-url",
                      server.url, password="wrong-password")
    assert code == 1 and "refused user 'alice'" in text and "HTTP 401" in text and "wrong-password" not in text
    assert not [p for p in root.rglob("*") if p.is_file() and p.name != "SHA256SUMS.txt"]  # the open projects' sums

    # bob has every agreement but PE-Severity's: the rest arrives, the refusal names the project and what to sign
    code, text = _cli(capsys, monkeypatch, "download", "--physionet-root", root, "--user", "bob", "--base-url",
                      server.url, "--target-images", 20)
    assert code == 1
    assert f"refused: {PE.title}" in text and "HTTP 403" in text and "data use agreement" in text
    assert "run the same command again to resume" in text
    assert PE.locate(root) is None and layout.CXR_LT.locate(root) is not None
    result = build(BuildOptions(physionet_root=root, out=tmp_path / "imax", **SELECT))
    assert result.tasks_missing == ["multiclass"]  # builds what it has, says what is missing

    # granted access, the rerun fetches only what was missing (and the images the new source brings)
    server.users["bob"] = (PASSWORD, None)
    before = len(server.gets)
    summary = download(_opts(root, server), _creds("bob"))
    assert summary.ok and summary.fetched > 0 and summary.skipped > 0
    fetched = {p for p, _ in server.gets[before:]}
    assert any(PE.slug in p for p in fetched) and not any("cxr-lt" in p for p in fetched)


def test_404_cut_transfers_503_and_bad_checksums(tree, server, tmp_path):
    root = tmp_path / "physionet"
    cxr_lt = "/files/cxr-lt-iccv-workshop-cvamd/2.0.0/cxr-lt-2024/labels.csv"
    vqa = "/files/mimic-ext-mimic-cxr-vqa/1.0.0/MIMIC-Ext-MIMIC-CXR-VQA/dataset/train.json"
    server.faults = {ZIP: {"cut_after": 100}, cxr_lt: {"status": 404}, vqa: {"status": 503},
                     "/files/cxr-cardiomegaly/1.0.0/CTRs.csv": {"corrupt": True}}
    summary = download(_opts(root, server, only=("metadata", "annotations")), _creds())
    # the cut transfer resumed where it stopped (Range) and verified; the 503 was retried
    assert [r for p, r in server.gets if p == ZIP] == [None, "bytes=100-"]
    assert (root / "mimic-cxr" / "2.1.0" / "mimic-cxr-reports.zip").is_file()
    assert layout.MIMIC_CXR_VQA.locate(root) is not None
    assert set(summary.failed) == {"cxr-lt-iccv-workshop-cvamd/2.0.0/cxr-lt-2024/labels.csv",
                                   "cxr-cardiomegaly/1.0.0/CTRs.csv"}
    assert "HTTP 404" in summary.failed["cxr-lt-iccv-workshop-cvamd/2.0.0/cxr-lt-2024/labels.csv"]
    assert "checksum mismatch" in summary.failed["cxr-cardiomegaly/1.0.0/CTRs.csv"]
    assert not (root / "cxr-cardiomegaly" / "1.0.0" / "CTRs.csv").exists()  # nothing corrupt under a final name
    assert not list(root.rglob("*.partial"))

    # a transfer cut with no retries left keeps its partial file, which the next run resumes
    server.faults = {"/files/chexmask-cxr-segmentation-data/1.0.0/OriginalResolution/MIMIC-CXR-JPG.csv":
                     {"cut_after": 200}, "/files/cxr-cardiomegaly/1.0.0/CTRs.csv": {"corrupt": True}}
    shutil.rmtree(root / "chexmask-cxr-segmentation-data")
    cut = download(_opts(root, server, only=("annotations",), retries=0), _creds())
    masks = root / "chexmask-cxr-segmentation-data" / "1.0.0" / "OriginalResolution" / "MIMIC-CXR-JPG.csv"
    assert "rerun to resume" in cut.failed[str(masks.relative_to(root))]
    assert masks.with_name(masks.name + ".partial").stat().st_size == 200 and not masks.exists()
    server.faults = {}
    before = len(server.gets)
    again = download(_opts(root, server), _creds())
    assert again.ok and masks.is_file() and not list(root.rglob("*.partial"))
    url = "/" + str(Path("files") / masks.relative_to(root))
    assert [r for p, r in server.gets[before:] if p == url] == ["bytes=200-"]  # resumed, not restarted


def test_dry_run_credentials_and_bad_options(tree, server, tmp_path, monkeypatch):
    root = tmp_path / "physionet"
    summary = download(_opts(root, server, dry_run=True), _creds())
    paths = {p for p, _, _ in summary.planned}
    assert "mimic-cxr/2.1.0/mimic-cxr-reports.zip" in paths and not any(p.endswith(".jpg") for p in paths)
    assert all(size and size > 0 and not present for _, size, present in summary.planned)
    assert any("images: listed once" in n for n in summary.notes)
    assert not root.exists()  # a dry run writes nothing, not even the root or the checksum lists

    with pytest.raises(ImaxError, match="https://"):
        check_base_url("http://physionet.example.org/files/")
    assert check_base_url("https://physionet.org/files") == "https://physionet.org/files/"
    from imax_hub.download import read_sums

    (tmp_path / "sums.txt").write_text("a" * 64 + " files/ok.jpg\n" + "b" * 64 + " ../../.bashrc\n")
    with pytest.raises(ImaxError, match="line 2: path '../../.bashrc' leaves the project folder"):
        read_sums(tmp_path / "sums.txt")
    (tmp_path / "sums.txt").write_text("not-a-hash files/ok.jpg\n")
    with pytest.raises(ImaxError, match="line 1: expected '<sha256> <path>'"):
        read_sums(tmp_path / "sums.txt")
    with pytest.raises(ImaxError, match="--only takes"):
        download(_opts(root, server, only=("pictures",)), _creds())
    monkeypatch.setenv("PHYSIONET_PASSWORD", "from-env")
    assert credentials("alice", server.url).password == "from-env"
    monkeypatch.delenv("PHYSIONET_PASSWORD")
    assert credentials("alice", server.url, ask=lambda prompt: "typed").password == "typed"
    assert "typed" not in repr(credentials("alice", server.url, ask=lambda prompt: "typed"))
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login carol password fromnetrc\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert credentials(None, server.url) == _creds("carol", "fromnetrc")


def test_ctrl_c_stops_the_transfers_and_the_rerun_resumes_them(tree, server, tmp_path):
    root = tmp_path / "physionet"
    masks = root / "chexmask-cxr-segmentation-data" / "1.0.0" / "OriginalResolution" / "MIMIC-CXR-JPG.csv"
    server.faults = {"/" + str(Path("files") / masks.relative_to(root)): {"cut_after": 300}}
    seen = []

    def interrupt_after_the_cut(n):
        seen.append(n)
        if masks.with_name(masks.name + ".partial").exists() and sum(seen) > 10_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download(_opts(root, server, only=("annotations",), retries=0), _creds(), on_bytes=interrupt_after_the_cut)
    assert not masks.exists()  # never a final name for an unfinished file
    before = len(server.gets)
    summary = download(_opts(root, server, only=("annotations",)), _creds())
    assert summary.ok and masks.is_file() and not list(root.rglob("*.partial"))
    url = "/" + str(Path("files") / masks.relative_to(root))
    assert [r for p, r in server.gets[before:] if p == url] == ["bytes=300-"]


def test_unreachable_server_fails_at_once_without_retrying(tmp_path, monkeypatch):
    """A refused connection (as offline: nothing listens there) is not retried: a clear error at once."""
    import socket

    import tenacity

    with socket.socket() as sock:  # a loopback port with no server behind it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    slept = []
    monkeypatch.setattr(tenacity.nap.time, "sleep", lambda s: slept.append(s))
    root = tmp_path / "physionet"
    opts = DownloadOptions(root=root, base_url=f"http://127.0.0.1:{port}/files/", jobs=2, backoff=30, dry_run=True,
                           **SELECT)
    with pytest.raises(ImaxError, match="cannot reach .*not retried"):
        download(opts, _creds())
    assert slept == [] and not root.exists()


def test_a_5xx_is_retried_by_tenacity_with_growing_waits(tree, server, tmp_path, monkeypatch):
    import tenacity

    slept = []
    monkeypatch.setattr(tenacity.nap.time, "sleep", lambda s: slept.append(s))
    ctr = "/files/cxr-cardiomegaly/1.0.0/CTRs.csv"
    server.faults = {ctr: {"status": 503, "times": 2}}
    summary = download(_opts(tmp_path / "physionet", server, only=("annotations",)), _creds())
    assert summary.ok and [p for p, _ in server.gets].count(ctr) == 3
    assert len(slept) == 2 and slept[1] > slept[0]


def test_a_checksum_failure_is_named_as_the_cause_before_image_selection(tree, server, tmp_path):
    meta = "/files/mimic-cxr-jpg/2.1.0/mimic-cxr-2.0.0-metadata.csv.gz"
    server.faults = {meta: {"corrupt": True}}
    with pytest.raises(ImaxError) as e:
        download(_opts(tmp_path / "physionet", server), _creds())
    assert "checksum mismatch" in str(e.value) and "mimic-cxr-2.0.0-metadata.csv.gz" in str(e.value)
    assert "cannot select the images yet" not in str(e.value)


def test_selection_phase_reports_progress(tree, server, tmp_path):
    root = tmp_path / "physionet"
    download(_opts(root, server, only=("metadata", "annotations")), _creds())
    phases = []
    download(_opts(root, server, only=("images",), dry_run=True), _creds(), tick=lambda p, d, t: phases.append(p))
    assert {"read metadata", "read sources", "select"} <= set(phases)
