"""Write a treebank or a lexicon in another Brahmic script, for a sequence whose last language uses a script that
no earlier task uses (docs/results/ud.md, "Sequences").

    python transliterate.py IN.conllu OUT.conllu --to telugu     # FORM, LEMMA and the `# text =` line
    python transliterate.py IN.tsv OUT.tsv --to telugu           # the `source` column of a lexicon TSV

Devanagari → the target script with indic-transliteration (MIT, PyPI), letter for letter; characters the target
script lacks stay as they are, and the share of letters left in Devanagari is printed. The output is written to a
temporary file and renamed, so Make never sees a half-written one.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _converter(script: str):
    from indic_transliteration import sanscript

    target = getattr(sanscript, script.upper(), None)
    if target is None or target not in sanscript.SCHEMES:
        raise SystemExit(f"unknown script {script!r}: give one of indic-transliteration's, e.g. telugu, kannada")
    return lambda text: sanscript.transliterate(text, sanscript.DEVANAGARI, target)


def _conllu_line(line: str, convert) -> str:
    if line.startswith("# text = "):
        return "# text = " + convert(line[len("# text = ") :])
    if not line.strip() or line.startswith("#"):
        return line
    cols = line.split("\t")
    if len(cols) == 10:
        cols[1], cols[2] = convert(cols[1]), (cols[2] if cols[2] == "_" else convert(cols[2]))
    return "\t".join(cols)


def _lexicon_lines(lines: list[str], convert) -> list[str]:
    header = lines[0].split("\t")
    if "source" not in header:
        raise SystemExit("the lexicon TSV needs a header with a `source` column")
    col = header.index("source")
    out = [lines[0]]
    for line in lines[1:]:
        cols = line.split("\t")
        if len(cols) > col:
            cols[col] = convert(cols[col])
        out.append("\t".join(cols))
    return out


def devanagari_share(text: str) -> float:
    letters = [c for c in text if c.isalpha() or 0x0900 <= ord(c) <= 0x0DFF]
    return sum(0x0900 <= ord(c) <= 0x097F for c in letters) / max(1, len(letters))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--to", required=True, help="target script (indic-transliteration's name)")
    args = parser.parse_args(argv)
    convert = _converter(args.to)
    lines = args.input.read_text(encoding="utf-8").split("\n")
    if args.input.suffix == ".conllu":
        out = [_conllu_line(line, convert) for line in lines]
    else:
        out = _lexicon_lines(lines, convert)
    text = "\n".join(out)
    tmp = args.output.with_name(f".{args.output.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, args.output)
    print(f"{args.output}: {devanagari_share(text):.2%} of letters left in Devanagari", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
