"""``imax relocate``: rewrite the absolute image paths of a build after the PhysioNet tree moved."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from imax_hub.build import manifest as build_manifest
from imax_hub.build.folder import write_card
from imax_hub.errors import ImaxError
from imax_hub.files import sha256_file
from imax_hub.sources import layout, mimic_cxr_jpg


def relocate(folder: Path, physionet_root: Path, *, allow_missing_images: bool = False) -> int:
    """Rewrite ``image.path`` in every shard to lie under the new root; returns the rows rewritten.

    Each shard is rewritten to a temporary file and renamed over the old one; the manifest and card
    (with a new fingerprint) are written last.
    """
    manifest = build_manifest.read_manifest(folder)
    if manifest["images"]["embedded"]:
        raise ImaxError(f"{folder} embeds its images; its paths are relative and need no relocation")
    layout.require(layout.MIMIC_CXR_JPG, physionet_root)
    jpg_root = mimic_cxr_jpg.jpg_root(physionet_root).resolve()
    rewritten = 0
    new_shards = []
    checked: set[str] = set()  # an image appears in several task shards: look it up once
    for shard in manifest["shards"]:
        path = folder / shard["path"]
        table = pq.read_table(path)
        rel = table.column("image_path")
        if not allow_missing_images:
            for p in set(pc.unique(rel).to_pylist()) - checked:
                checked.add(p)
                if not (jpg_root / p).is_file():
                    raise ImaxError(f"{jpg_root / p} does not exist; is {physionet_root} the moved tree? "
                                    "(--allow-missing-images to relocate anyway)")
        paths = pc.binary_join_element_wise(pa.scalar(str(jpg_root)), rel, "/")
        image = table.column("image").combine_chunks()
        new_image = pa.StructArray.from_arrays([image.field("bytes"), paths.combine_chunks()], fields=list(image.type))
        table = table.set_column(table.schema.get_field_index("image"), table.schema.field("image"), new_image)
        tmp = path.with_suffix(".parquet.tmp")
        pq.write_table(table, tmp, compression="zstd", row_group_size=10_000)
        os.replace(tmp, path)
        rewritten += table.num_rows
        new_shards.append({**shard, "bytes": path.stat().st_size, "sha256": sha256_file(path)})
    manifest["shards"] = new_shards
    manifest["physionet_root"] = str(physionet_root.resolve())
    manifest["jpg_root"] = str(jpg_root)
    manifest["fingerprint"] = build_manifest.fingerprint(new_shards)
    stats = json.loads((folder / "stats" / "stats.json").read_text())
    build_manifest.write_manifest(folder, manifest)
    write_card(folder, manifest, stats)
    return rewritten
