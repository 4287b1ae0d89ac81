"""Hugging Face datasets as input artifacts (read through :func:`cstool.io.artifacts.open_source`).

An input spec names a dataset in one of three ways:

* ``hf:OWNER/NAME:SPLIT`` or ``hf:OWNER/NAME:CONFIG:SPLIT``: a dataset on the Hub, loaded with
  ``datasets.load_dataset`` into its cache (``HF_DATASETS_CACHE``); with ``HF_HUB_OFFLINE=1`` /
  ``HF_DATASETS_OFFLINE=1`` only a cached copy is used, and a dataset not in the cache is a clear error.
* ``FOLDER`` or ``FOLDER:SPLIT``: a folder written by ``save_to_disk``; a ``Dataset`` is given as the
  folder, a ``DatasetDict`` needs its split (``FOLDER:train``). Its Arrow files are read memory-mapped.
* ``FOLDER`` or ``FOLDER:SPLIT``: a folder of data files that ``datasets.load_dataset(FOLDER)`` reads
  (JSON Lines, CSV, Parquet, text ...; splits from the file names, e.g. ``train.jsonl``, ``test.jsonl``).
  It is converted once into the datasets cache, then read memory-mapped. With one split the split may be
  left out. A folder with ``*.parquet`` files at its top level and no ``:SPLIT`` stays a folder of shards
  (read by :mod:`cstool.io.artifacts` as before).

Every dataset is read batch by batch from memory-mapped Arrow files, so memory stays flat in its size.
Importing ``datasets`` happens only when a dataset is opened.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

from cstool.base.console import log
from cstool.base.errors import InputError, first_line

HUB_PREFIX = "hf:"
HUB_FORMAT = "hf:OWNER/NAME[:CONFIG]:SPLIT"
OFFLINE_HINT = (
    "run once with HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 to cache it, or save it with Dataset.save_to_disk "
    "and give that folder"
)


@dataclass
class DatasetInput:
    """An opened dataset: its schema, how to read it (lazily, in batches) and its provenance record."""

    spec: str
    schema: pa.Schema
    record: dict
    batches: Callable[[int], Iterator[pa.RecordBatch]]
    num_rows: int | None


def local_path(spec: str) -> Path | None:
    """The local folder a dataset spec names (``FOLDER`` or ``FOLDER:SPLIT``, also ``hf:FOLDER:SPLIT``, which
    ``datasets.load_dataset`` reads as that folder), None for a Hub id."""
    if spec.startswith(HUB_PREFIX):
        name = spec[len(HUB_PREFIX) :].split(":")[0]
        return Path(name) if name and Path(name).is_dir() else None
    path = Path(spec)
    if not path.exists() and ":" in spec and Path(spec.rsplit(":", 1)[0]).is_dir():
        return Path(spec.rsplit(":", 1)[0])
    return path


MAX_LISTED = 100_000


def files_read(folder: Path) -> list[Path]:
    """The files a folder input may read that do not simply lie inside it, each to be compared with the
    outputs as the file it is: symlinks and hard links under it (they may be another name of an output),
    and the data files its ``save_to_disk`` ``state.json`` files name (they may lie outside it). Plain files
    inside the folder need no listing: an output inside the folder is refused as such. At most
    ``MAX_LISTED`` entries are looked at."""
    out: list[Path] = []
    todo, seen = [folder], 0
    while todo and seen < MAX_LISTED:
        try:
            entries = list(os.scandir(todo.pop()))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            path = Path(entry.path)
            try:
                if entry.is_symlink() or entry.is_file(follow_symlinks=False) and entry.stat().st_nlink > 1:
                    out.append(path)
                elif entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                    todo.append(path)
            except OSError:
                continue
            if entry.name == "state.json":
                with contextlib.suppress(InputError):
                    named = _read_json(path).get("_data_files")
                    if isinstance(named, list):
                        entries_named = [f.get("filename") for f in named if isinstance(f, dict)]
                        out += [path.parent / f for f in entries_named if isinstance(f, str) and f]
    return out


def open_dataset(spec: str) -> DatasetInput | None:
    """Open ``spec`` when it names a dataset; None when it is something else (a file, shard folder, glob)."""
    if spec.startswith(HUB_PREFIX):
        return _open_hub(spec)
    path, split = Path(spec), None
    if not path.exists() and ":" in spec:
        base, split = spec.rsplit(":", 1)
        path = Path(base)
        if not path.is_dir():
            return None
        if not split:
            raise InputError(f"{spec}: the split after ':' is empty", f"give {base}:SPLIT, e.g. {base}:train")
    if not path.is_dir():
        return None
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        return _open_saved(spec, path, split)
    if split is None and any(path.glob("*.parquet")):
        return None
    return _open_folder(spec, path, split)


# ---------------------------------------------------------------------------------------------------------
# save_to_disk folders: read the Arrow files directly, memory-mapped


def _open_saved(spec: str, path: Path, split: str | None) -> DatasetInput:
    if (path / "dataset_dict.json").is_file():
        splits = _read_json(path / "dataset_dict.json").get("splits") or []
        if split is None:
            raise InputError(
                f"{spec} is a DatasetDict (save_to_disk) with splits {', '.join(splits)}: name one",
                f"give {spec}:{splits[0] if splits else 'SPLIT'}",
            )
        if split not in splits:
            raise InputError(
                f"{spec}: no split {split!r} in {path}; its splits are {', '.join(splits)}",
                f"give {path}:{splits[0]}" if splits else "save the DatasetDict again",
            )
        folder = path / split
    else:
        folder = path
    state = _read_json(folder / "state.json")
    saved_split = state.get("_split")
    if folder == path and split is not None and split != saved_split:
        raise InputError(
            f"{spec}: {path} is a single Dataset (split {saved_split or 'not named'}), not a DatasetDict",
            f"give the folder without :{split}",
        )
    files = [folder / f["filename"] for f in state.get("_data_files") or []]
    missing = [str(f) for f in files if not f.is_file()]
    if not files or missing:
        raise InputError(
            f"{spec}: the save_to_disk folder {folder} lacks its data files {', '.join(missing)}".rstrip(),
            "save the dataset again with Dataset.save_to_disk",
        )
    try:
        schema = ipc.open_stream(pa.memory_map(str(files[0]))).schema
    except (pa.ArrowException, OSError) as e:
        raise InputError(
            f"{spec}: {files[0]} is not an Arrow file ({str(e).splitlines()[0]})", "save the dataset again"
        ) from None
    record = {
        "path": spec,
        "sha256": None,
        "provenance": None,
        "dataset": {
            "format": "save_to_disk",
            "folder": str(path),
            "split": split or saved_split,
            "fingerprint": state.get("_fingerprint"),
        },
    }

    def batches(batch_size: int) -> Iterator[pa.RecordBatch]:
        rows = 0
        for f in files:
            try:
                with pa.memory_map(str(f)) as mapped:  # batches are views of the file: no copy
                    for batch in ipc.open_stream(mapped):
                        for start in range(0, batch.num_rows, batch_size):
                            piece = batch.slice(start, batch_size)
                            rows += piece.num_rows
                            yield piece
            except (pa.ArrowException, OSError) as e:
                raise InputError(
                    f"{spec}: {f} cannot be read after {rows} rows ({first_line(e)})",
                    "save the dataset again with Dataset.save_to_disk",
                ) from None

    return DatasetInput(spec, schema, record, batches, _count_rows(files))


def _count_rows(files: list[Path]) -> int | None:
    """Rows of the Arrow stream files (zero-copy views of the mapped files: only the headers are read)."""
    try:
        total = 0
        for f in files:
            with pa.memory_map(str(f)) as mapped:
                total += sum(batch.num_rows for batch in ipc.open_stream(mapped))
        return total
    except (pa.ArrowException, OSError):
        return None  # a damaged file is reported, with its row count, when it is read


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read {path} ({e})", "save the dataset again with save_to_disk") from None


# ---------------------------------------------------------------------------------------------------------
# datasets.load_dataset: Hub ids and folders of data files


def _open_hub(spec: str) -> DatasetInput:
    parts = spec[len(HUB_PREFIX) :].split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise InputError(
            f"{spec}: a Hub dataset is given as {HUB_FORMAT} (the split is required)",
            "e.g. hf:ai4bharat/IndicCorpV2:hin_Deva:train",
        )
    name, config, split = (parts[0], None, parts[1]) if len(parts) == 2 else parts
    from cstool.base.offline import offline_reason

    datasets = _import_datasets()
    offline = offline_reason() or ("HF_HUB_OFFLINE=1" if datasets.config.HF_HUB_OFFLINE else None)
    try:
        with offline_mode(datasets, offline is not None):
            ds = datasets.load_dataset(name, config, split=split)
    except ConnectionError as e:
        why = f"offline mode is on ({offline})" if offline else f"the Hub cannot be reached ({first_line(e)})"
        raise InputError(f"{spec}: {why} and the dataset is not in the datasets cache", OFFLINE_HINT) from None
    except (ValueError, FileNotFoundError) as e:  # unknown config or split, no such dataset
        raise InputError(f"{spec}: {first_line(e)}", f"the form is {HUB_FORMAT}") from None
    return _loaded(spec, ds, {"format": "hub", "id": name, "config": ds.info.config_name, "split": split})


def _open_folder(spec: str, path: Path, split: str | None) -> DatasetInput:
    hint = "give a Parquet file, a folder of Parquet/JSON Lines/CSV files, or a save_to_disk folder"
    if not any(f.is_file() and not f.name.startswith(".") for f in path.rglob("*")):
        raise InputError(f"{spec} is a directory with no *.parquet files and no other data files", hint)
    datasets = _import_datasets()
    log(f"reading {path} with datasets (cached once as Arrow, then memory-mapped)")
    try:
        loaded = datasets.load_dataset(str(path), split=split)
    except ValueError as e:  # unknown split
        raise InputError(f"{spec}: {first_line(e)}", f"give {path}:SPLIT with a split the folder has") from None
    except (FileNotFoundError, datasets.exceptions.DatasetGenerationError) as e:
        raise InputError(f"{spec} is a folder datasets cannot load ({first_line(e)})", hint) from None
    if split is None:
        names = list(loaded)
        if len(names) != 1:
            raise InputError(f"{spec} holds the splits {', '.join(names)}: name one", f"give {spec}:{names[0]}")
        split, loaded = names[0], loaded[names[0]]
    info = {"format": "data files", "folder": str(path), "split": split}
    return _loaded(spec, loaded, info)


def _loaded(spec: str, ds: Any, info: dict) -> DatasetInput:
    """A ``datasets.Dataset`` (memory-mapped Arrow in the cache) read in batches."""
    info["fingerprint"] = ds._fingerprint
    record = {"path": spec, "sha256": None, "provenance": None, "dataset": info}
    arrow = ds.with_format("arrow")

    def batches(batch_size: int) -> Iterator[pa.RecordBatch]:
        for table in arrow.iter(batch_size=batch_size):
            yield from table.to_batches(max_chunksize=batch_size)

    return DatasetInput(spec, ds.features.arrow_schema, record, batches, ds.num_rows)


@contextlib.contextmanager
def offline_mode(datasets: Any, on: bool) -> Iterator[None]:
    """datasets and huggingface_hub in offline mode while loading (for $CSTOOL_OFFLINE, read after their import)."""
    import huggingface_hub.constants as hub

    saved = datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE
    if on:
        datasets.config.HF_HUB_OFFLINE = hub.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE = saved


def _import_datasets() -> Any:
    import datasets

    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    return datasets
