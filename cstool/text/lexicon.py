"""Bilingual lexicons for code-switching: loading and vectorised lookup.

Formats
* TSV with a header naming ``source`` and ``target`` (and optionally ``upos``; other columns such as
  ``gloss`` are ignored), e.g. ``hi-en.wiktionary.tsv``.
* MUSE-style two-column files without a header: ``source target`` separated by a tab (then either side may
  hold several words) or by whitespace (then each side is one word).

Entries are normalised (surrounding and repeated whitespace collapsed; UPOS upper-cased); exact duplicates
of (source, target, upos) are dropped and counted. ``X``, ``_`` or an empty UPOS mean "no part of speech":
such entries are found only by the UPOS-less lookups. Several targets for one source are *senses*; the
stage chooses among them with the row's seeded generator. A multi-word *source* is a phrase, matched on
lower-cased consecutive tokens of one sentence (longest match first, left to right). A multi-word *target*
replaces one token (or phrase) with several tokens.

Lookup order for one token (first hit wins): (form, UPOS) → (lower-cased form, UPOS) → (lemma, UPOS), then
form → lower-cased form → lemma without UPOS (skipped with ``strict_pos``). All lookups run over a whole
batch at once with Arrow's hash-based ``index_in``.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cstool.base.console import warn
from cstool.base.errors import InputError
from cstool.io import conllu
from cstool.io.lines import utf8_lines

UPOS_TAGS = conllu.UPOS_TAGS  # UD's 17 tags
NO_UPOS = {"", "_", "X"}
_MAX_REPORTED = 3
_COLUMNS = ("source", "target", "upos")
_BUCKETS = len(UPOS_TAGS) + 1  # UPOS indices of upos_index: the 17 tags, then "other"
EXPECTED = (
    "a UTF-8 file, either tab-separated with a first line naming the columns source and target (and optionally "
    "upos; others are ignored), or MUSE-style 'source target' lines without a header"
)
# column names of other tools' lexicons: a first line made only of these is a header, not an entry
_HEADER_WORDS = {
    "src", "tgt", "word", "words", "translation", "translations", "source_word", "target_word", "src_word",
    "tgt_word", "pos", "tag", "gloss", "lemma", "lang", "language", "english", "meaning",
}  # fmt: skip


def _first_seen(codes: np.ndarray) -> np.ndarray:
    """Positions of the first occurrence of each distinct value of ``codes``, in the order they occur."""
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64)
    _, first = np.unique(codes, return_index=True)
    return np.sort(first)


def _codes(values: pa.Array) -> tuple[np.ndarray, int]:
    """Dictionary codes of ``values`` in first-seen order (nulls: the last code), and how many codes there are."""
    index, dictionary = encoded(values)
    n = len(dictionary)
    return np.where(index < 0, n, index), n + 1


def _group(keys: pa.Array, targets: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray, pa.Array, np.ndarray]:
    """One lookup table: its distinct keys in first-seen order; each key's candidate targets (distinct, in
    first-seen order) as (start, count) into the returned targets array; and the row of each key's first
    occurrence in ``keys`` (for columns that travel with the key)."""
    empty = np.zeros(0, dtype=np.int64)
    if len(keys) == 0:
        return pa.array([], pa.string()), empty, empty, pa.array([], pa.string()), empty
    kid, _ = _codes(keys)
    tid, n_targets = _codes(targets)
    pairs = _first_seen(kid * n_targets + tid)  # first occurrence of each (key, target)
    pairs = pairs[np.argsort(kid[pairs], kind="stable")]  # grouped by key, keys in first-seen order
    _, starts, counts = np.unique(kid[pairs], return_index=True, return_counts=True)
    key_rows = pairs[starts]
    return (
        keys.take(pa.array(key_rows)),
        starts.astype(np.int64),
        counts.astype(np.int64),
        targets.take(pa.array(pairs)),
        key_rows,
    )


class Lexicon:
    """A loaded lexicon: Arrow key sets for lookup, and the candidate table they point into.

    Candidates live in one array ``targets`` (a target may repeat across groups); group ``g`` owns
    ``targets[group_start[g] : group_start[g] + group_count[g]]``. Each target's words live in
    ``target_words[word_start[c] : word_start[c] + word_count[c]]``. Built column-wise with Arrow and numpy
    (about 300 bytes an entry, the strings included), so a lexicon of millions of entries loads.
    """

    def __init__(
        self,
        path: str,
        entries: list[tuple[str, str, str | None]] | pa.Table,
        *,
        duplicates: int,
        bad_lines: int,
    ):
        if not isinstance(entries, pa.Table):
            columns = list(zip(*entries)) if entries else [[], [], []]
            entries = pa.table({name: pa.array(list(col), pa.string()) for name, col in zip(_COLUMNS, columns)})
        self.path = path
        self.entries = entries.num_rows
        self.duplicates = duplicates
        self.bad_lines = bad_lines
        source, target, upos = (entries.column(c).combine_chunks() for c in _COLUMNS)
        lower = pc.utf8_lower(source)
        phrase = pc.match_substring(source, " ").to_numpy(zero_copy_only=False)
        has_upos = pc.is_valid(upos).to_numpy(zero_copy_only=False)

        def with_upos(values: pa.Array) -> pa.Array:
            return pc.binary_join_element_wise(values, upos, "\t")

        word, word_pos = ~phrase, ~phrase & has_upos
        phrase_pos = phrase & has_upos
        selections = {
            "pos": (with_upos(source), word_pos),
            "pos_lower": (with_upos(lower), word_pos),
            "any": (source, word),
            "any_lower": (lower, word),
            "phrase": (lower, phrase),
            "phrase_pos": (with_upos(lower), phrase_pos),
        }
        targets: list[pa.Array] = []
        starts: list[np.ndarray] = []
        counts: list[np.ndarray] = []
        # table → (keys, id of its first group); the (source, UPOS) tables are looked up through _by_upos only
        self._keys: dict[str, tuple[pa.Array, int]] = {}
        dense_rows: dict[str, tuple[np.ndarray, int]] = {}
        offset = n_groups = 0
        for name, (keys, mask) in selections.items():
            taken = np.flatnonzero(mask)
            keys_, start, count, cands, key_rows = _group(keys.take(pa.array(taken)), target.take(pa.array(taken)))
            if name in ("pos", "pos_lower"):
                dense_rows[name] = (taken[key_rows], n_groups)
            else:
                self._keys[name] = (keys_, n_groups)
            starts.append(start + offset)
            counts.append(count)
            targets.append(cands)
            offset += len(cands)
            n_groups += len(keys_)
        self.targets = pa.concat_arrays(targets)
        self.group_start = np.concatenate(starts).astype(np.int64)
        self.group_count = np.concatenate(counts).astype(np.int32)
        words = pc.split_pattern(self.targets, " ")
        self.word_count = pc.list_value_length(words).to_numpy().astype(np.int32)
        self.word_start = words.offsets.to_numpy()[:-1].astype(np.int64) - words.offsets[0].as_py()
        self.target_words = pc.list_flatten(words)
        phrase_keys = self._keys["phrase"][0]
        phrase_words = pc.split_pattern(phrase_keys, " ")
        self.phrase_lengths = sorted(set(pc.list_value_length(phrase_words).to_pylist()))
        self._phrase_first = pc.unique(pc.list_element(phrase_words, 0)) if len(phrase_keys) else phrase_keys
        self._phrase_pairs = (
            pc.unique(
                pc.binary_join_element_wise(pc.list_element(phrase_words, 0), pc.list_element(phrase_words, 1), " ")
            )
            if len(phrase_keys)
            else phrase_keys
        )
        # (source, UPOS) tables over their distinct sources: the sorted codes source id × 18 + UPOS index, and
        # the group of each (a sparse [source, UPOS] → group map: most sources have one or two tags)
        self._by_upos: dict[str, tuple[pa.Array, np.ndarray, np.ndarray]] = {}
        for name, column in (("pos", source), ("pos_lower", lower)):
            key_rows, first_group = dense_rows[name]
            key_sources, key_upos = column.take(pa.array(key_rows)), upos.take(pa.array(key_rows))
            sid, distinct = encoded(key_sources)  # distinct: the sources, first seen first
            codes = sid * _BUCKETS + upos_index(key_upos)
            order = np.argsort(codes, kind="stable")
            self._by_upos[name] = (distinct, codes[order], (first_group + order).astype(np.int64))
        pa.default_memory_pool().release_unused()  # the build's temporaries go back to the system

    @property
    def sources(self) -> pa.Array:
        """The distinct single-word sources, then the phrases (for messages about the lexicon's script)."""
        return pa.concat_arrays([self._keys["any"][0], self._keys["phrase"][0]])

    def __len__(self) -> int:
        return self.entries

    def _find(self, values: pa.Array, table: str) -> np.ndarray:
        keys, first_group = self._keys[table]
        if len(keys) == 0:
            return np.full(len(values), -1, dtype=np.int64)
        idx = pc.fill_null(pc.index_in(values, value_set=keys), -1).to_numpy().astype(np.int64)
        return np.where(idx >= 0, first_group + idx, -1)

    def _find_encoded(self, values: tuple[np.ndarray, pa.Array], table: str) -> np.ndarray:
        """:meth:`_find` over dictionary-encoded values: each distinct value is hashed once."""
        index, dictionary = values
        return _gather(self._find(dictionary, table), index)

    def _find_with_upos(self, values: tuple[np.ndarray, pa.Array], bucket: np.ndarray, table: str) -> np.ndarray:
        """Group of each (value, UPOS) pair in a (source, UPOS) table; ``bucket``: UPOS index, 17 = other."""
        index, dictionary = values
        sources, codes, groups = self._by_upos[table]
        if len(sources) == 0:
            return np.full(len(index), -1, dtype=np.int64)
        sid = _gather(pc.fill_null(pc.index_in(dictionary, value_set=sources), -1).to_numpy(), index)
        code = np.maximum(sid, 0).astype(np.int64) * _BUCKETS + bucket
        at = np.minimum(np.searchsorted(codes, code), len(codes) - 1)
        return np.where((sid >= 0) & (codes[at] == code), groups[at], -1)

    def lookup(
        self,
        forms: pa.Array,
        lower: pa.Array,
        upos: pa.Array,
        lemmas: pa.Array | None,
        *,
        strict_pos: bool,
        bucket: np.ndarray | None = None,
    ) -> np.ndarray:
        """Group id of every token (``-1``: not in the lexicon), in the documented lookup order.

        ``forms``, ``lower`` and ``lemmas`` may be dictionary arrays (then only their dictionaries are
        hashed); ``bucket`` is the UPOS index of each token (17 for other tags), computed from ``upos``
        when not given.
        """
        if bucket is None:
            bucket = upos_index(upos)
        forms_, lower_ = encoded(forms), encoded(lower)
        lemmas_ = encoded(lemmas) if lemmas is not None else None
        steps = [
            lambda: self._find_with_upos(forms_, bucket, "pos"),
            lambda: self._find_with_upos(lower_, bucket, "pos_lower"),
        ]
        if lemmas_ is not None:
            steps.append(lambda: self._find_with_upos(lemmas_, bucket, "pos"))
        if not strict_pos:
            steps += [lambda: self._find_encoded(forms_, "any"), lambda: self._find_encoded(lower_, "any_lower")]
            if lemmas_ is not None:
                steps.append(lambda: self._find_encoded(lemmas_, "any"))
        found = np.full(len(forms), -1, dtype=np.int64)
        for step in steps:
            hit = step()
            found = np.where(found >= 0, found, hit)
        return found

    def match_phrases(
        self, lower: pa.Array, row: np.ndarray, upos: pa.Array, *, strict_pos: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Non-overlapping phrase matches as arrays (start, length, group), longest first, left to right.

        A phrase lies within one sentence (``row`` gives each token's row). Under ``strict_pos`` the
        entry's UPOS must equal the phrase's last token's UPOS.
        """
        empty = np.zeros(0, dtype=np.int64)
        if not self.phrase_lengths or len(lower) == 0:
            return empty, empty, empty
        n = len(lower)
        index, dictionary = encoded(lower)
        first = pc.fill_null(pc.is_in(dictionary, value_set=self._phrase_first), False).to_numpy(zero_copy_only=False)
        starts = np.flatnonzero(_gather(first, index, False))
        starts = starts[(starts + 1 < n) & (row[np.minimum(starts + 1, n - 1)] == row[starts])]
        if len(starts) == 0:
            return empty, empty, empty

        def at(positions: np.ndarray) -> pa.Array:  # the lower-cased tokens at these positions
            i = index[positions]
            return dictionary.take(pa.array(i, mask=i < 0))

        pairs = pc.binary_join_element_wise(at(starts), at(starts + 1), " ")
        starts = starts[
            pc.fill_null(pc.is_in(pairs, value_set=self._phrase_pairs), False).to_numpy(zero_copy_only=False)
        ]
        found: list[tuple[int, int, int]] = []
        for k in self.phrase_lengths:
            s = starts[starts + k - 1 < n]
            s = s[row[s + k - 1] == row[s]]
            if len(s) == 0:
                continue
            parts = [at(s + j) for j in range(k)]
            key = pc.binary_join_element_wise(*parts, " ")
            if strict_pos:
                key = pc.binary_join_element_wise(key, upos.take(pa.array(s + k - 1)), "\t")
            groups = self._find(key, "phrase_pos" if strict_pos else "phrase")
            hit = groups >= 0
            found += zip(s[hit].tolist(), [k] * int(hit.sum()), groups[hit].tolist())
        if not found:
            return empty, empty, empty
        found.sort(key=lambda m: (m[0], -m[1]))
        kept: list[tuple[int, int, int]] = []
        free_from = 0
        for start, k, g in found:
            if start >= free_from:
                kept.append((start, k, g))
                free_from = start + k
        arr = np.array(kept, dtype=np.int64)
        return arr[:, 0], arr[:, 1], arr[:, 2]


def upos_index(upos: pa.Array) -> np.ndarray:
    """Index of each UPOS tag in UPOS_TAGS; 17 for a null or any other tag."""
    return pc.fill_null(pc.index_in(upos, value_set=pa.array(UPOS_TAGS)), len(UPOS_TAGS)).to_numpy().astype(np.int64)


def encoded(values: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """(index per value, -1 for null; dictionary) of a string array or a dictionary array."""
    if not isinstance(values, pa.DictionaryArray):
        values = pc.dictionary_encode(values)
    index = values.indices
    return pc.fill_null(index, -1).to_numpy().astype(np.int64) if index.null_count else index.to_numpy().astype(
        np.int64
    ), values.dictionary


def _gather(per_value: np.ndarray, index: np.ndarray, missing=-1) -> np.ndarray:
    """``per_value[index]``, with ``missing`` where the index is -1 (a null)."""
    if len(per_value) == 0:
        return np.full(len(index), missing, dtype=per_value.dtype)
    out = per_value[np.maximum(index, 0)]
    if (index < 0).any():
        out[index < 0] = missing
    return out


# ---------------------------------------------------------------------------------------------------------
# Loading


def _norm(text: str) -> str:
    return " ".join(text.split())


def _header(line: str) -> dict[str, int] | None:
    names = [c.strip().lower() for c in line.split("\t")]
    if "source" in names and "target" in names:
        return {n: i for i, n in enumerate(names) if n in ("source", "target", "upos")}
    return None


def _parse(line: str, columns: dict[str, int] | None) -> tuple[str, str, str | None] | str:
    """An entry, or the reason the line is bad."""
    if columns is None:
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) != 2:
            return f"expected 2 columns (source, target), found {len(parts)}"
        source, target, upos = _norm(parts[0]), _norm(parts[1]), None
    else:
        parts = line.split("\t")
        need = max(columns["source"], columns["target"]) + 1
        if len(parts) < need:
            return f"expected at least {need} tab-separated columns, found {len(parts)}"
        source, target = _norm(parts[columns["source"]]), _norm(parts[columns["target"]])
        upos = parts[columns["upos"]].strip().upper() if "upos" in columns and columns["upos"] < len(parts) else ""
        if upos not in NO_UPOS and upos not in UPOS_TAGS:
            return f"unknown UPOS {upos!r}"
        upos = None if upos in NO_UPOS else upos
    if not source or not target:
        return "empty source or target"
    return source, target, upos


def _encoding_problem(path: Path) -> InputError | None:
    """UTF-16/32 (by byte-order mark, or NUL bytes), which would otherwise read as garbled lines."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    boms = (
        (b"\xff\xfe\x00\x00", "UTF-32"),
        (b"\x00\x00\xfe\xff", "UTF-32"),
        (b"\xff\xfe", "UTF-16"),
        (b"\xfe\xff", "UTF-16"),
    )
    found = next((name for bom, name in boms if head.startswith(bom)), None)
    if found is None and b"\x00" in head:
        found = "UTF-16 or UTF-32 (NUL bytes)"
    if found is None:
        return None
    return InputError(
        f"lexicon {path} is encoded as {found}; expected {EXPECTED}",
        f"convert it to UTF-8, e.g. iconv -f {found.split()[0]} -t UTF-8 {path} > {path.stem}.utf8{path.suffix}",
    )


def _format_problem(path: Path, first: str, columns: dict[str, int] | None) -> InputError | None:
    """The file-wide reason the first data line (``first``, after any header) cannot be read, or None."""
    if columns is not None:
        return None
    cells = first.split("\t")
    found = None
    words = first.split()
    if "\t" not in first and "," in first and (len(words) != 2 or words[0].endswith(",")):
        found = f"comma-separated values (CSV) on line 1: {first[:60]!r}"
        hint = "save it tab-separated (e.g. a spreadsheet's 'Save as TSV') with the header source<TAB>target[<TAB>upos]"
    elif len(cells) >= 3 and cells[2].strip().upper() in {*UPOS_TAGS, *NO_UPOS}:
        found = f"{len(cells)} tab-separated columns but no header line (line 1: {first[:60]!r})"
        hint = "add a first line naming the columns, e.g. source<TAB>target<TAB>upos"
    elif len(cells) >= 2 and {c.strip().lower() for c in cells} <= _HEADER_WORDS | {"source", "target", "upos"}:
        found = f"a header line that does not name both source and target: {first[:60]!r}"
        hint = "name the columns in the first line source, target and optionally upos (other names are ignored)"
    elif len(cells) >= 3:
        found = f"{len(cells)} tab-separated columns and a first line that is not a header: {first[:60]!r}"
        hint = "add a first line naming the columns, e.g. source<TAB>target<TAB>upos"
    if found is None:
        return None
    return InputError(f"lexicon {path} holds {found}; expected {EXPECTED}", hint)


def load_lexicon(path: str | Path, *, skip_bad_lines: bool = False) -> Lexicon:
    """Read a lexicon file. Bad lines raise InputError with file:line, or are counted with ``skip_bad_lines``.

    A file in another format than :data:`EXPECTED` (UTF-16, CSV, TSV without or with a wrong header) raises one
    InputError naming what was expected and what was found, not one per line."""
    table, duplicates, bad_lines = read_entry_table(path, skip_bad_lines=skip_bad_lines)
    return Lexicon(str(path), table, duplicates=duplicates, bad_lines=bad_lines)


def read_entries(
    path: str | Path, *, skip_bad_lines: bool = False
) -> tuple[list[tuple[str, str, str | None]], int, int]:
    """The distinct (source, target, UPOS or None) entries of a lexicon file, duplicates and bad lines."""
    table, duplicates, bad_lines = read_entry_table(path, skip_bad_lines=skip_bad_lines)
    return list(zip(*(table.column(c).to_pylist() for c in _COLUMNS))), duplicates, bad_lines


_CHUNK = 100_000  # parsed lines held as Python strings before they move into Arrow arrays


def read_entry_table(path: str | Path, *, skip_bad_lines: bool = False) -> tuple[pa.Table, int, int]:
    """:func:`read_entries` as a table (``source``, ``target``, ``upos``; in file order, exact duplicates
    dropped), read in chunks so memory stays near the size of the strings."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"lexicon {path} does not exist", "give --lexicon a TSV (source, target[, upos]) or MUSE file")
    if problem := _encoding_problem(path):
        raise problem
    chunks: list[pa.Table] = []
    pending: tuple[list, list, list] = ([], [], [])
    bad: list[str] = []
    n_bad = 0
    columns: dict[str, int] | None = None
    first = True

    def flush() -> None:
        if pending[0]:
            chunks.append(pa.table({c: pa.array(v, pa.string()) for c, v in zip(_COLUMNS, pending)}))
            for values in pending:
                values.clear()

    for lineno, line in utf8_lines(path, bad="none"):
        if line is None:
            n_bad += 1
            if len(bad) < _MAX_REPORTED:
                bad.append(f"{path}:{lineno}: not valid UTF-8")
            continue
        if not line.strip():
            continue
        if first:
            first = False
            columns = _header(line)
            if columns is not None:
                continue
            if problem := _format_problem(path, line, columns):
                raise problem
        parsed = _parse(line, columns)
        if isinstance(parsed, str):
            n_bad += 1
            if len(bad) < _MAX_REPORTED:
                bad.append(f"{path}:{lineno}: {parsed}")
            continue
        for values, value in zip(pending, parsed):
            values.append(value)
        if len(pending[0]) >= _CHUNK:
            flush()
    flush()
    if n_bad and not skip_bad_lines:
        more = f" (and {n_bad - _MAX_REPORTED} more bad lines)" if n_bad > _MAX_REPORTED else ""
        raise InputError(
            "; ".join(bad[:_MAX_REPORTED]) + more, "fix these lines, or pass --skip-bad-lines to count and skip them"
        )
    if n_bad:
        warn(f"skipped {n_bad} bad lexicon lines (first: {bad[0]})")
    if not chunks:
        raise InputError(
            f"lexicon {path} has no entries",
            "give a TSV with a header (source, target[, upos]) or MUSE-style 'source target' lines",
        )
    table = pa.concat_tables(chunks).combine_chunks()
    code = np.zeros(table.num_rows, dtype=np.int64)
    for c in _COLUMNS:
        values, n = _codes(table.column(c).combine_chunks())
        code = code * n + values
    keep = _first_seen(code)
    return table.take(pa.array(keep)), table.num_rows - len(keep), n_bad


def script_counts(words: list[str], sample: int = 2000) -> dict[str, int]:
    """How many of the first ``sample`` words begin (at their first letter) in each Unicode script."""
    counts: dict[str, int] = {}
    for w in words[:sample]:
        for ch in w:
            if ch.isalpha():
                script = unicodedata.name(ch, "UNKNOWN").split(" ")[0]
                counts[script] = counts.get(script, 0) + 1
                break
    return counts


def dominant_script(words: list[str], sample: int = 2000) -> str:
    """The Unicode script most letters of ``words`` are written in (e.g. LATIN, DEVANAGARI), for messages."""
    counts = script_counts(words, sample)
    return max(counts, key=counts.get) if counts else "UNKNOWN"
