"""CoNLL-U reader: words, multi-word tokens, empty nodes, text rebuilding, malformed input."""

from __future__ import annotations

import pytest

from cstool.base.errors import InputError
from cstool.io.conllu import read_conllu

from .conftest import TINY_CONLLU, shared_file

MWT = """# sent_id = s1
1-2\tvámonos\t_\t_\t_\t_\t_\t_\t_\t_
1\tvamos\tir\tVERB\t_\t_\t0\troot\t_\t_
2\tnos\tnosotros\tPRON\t_\t_\t1\tobj\t_\tSpaceAfter=No
3\t!\t!\tPUNCT\t_\t_\t1\tpunct\t_\t_
3.1\tghost\t_\tX\t_\t_\t_\t_\t_\t_

# sent_id = s2
# text = Given text.
1\tGiven\tgive\tVERB\t_\t_\t0\troot\t_\t_
2\ttext\t_\tNOUN\t_\t_\t1\tobj\t_\tSpaceAfter=No
3\t.\t.\tPUNCT\t_\t_\t1\tpunct\t_\t_
"""


def test_multiword_tokens_empty_nodes_and_text(tmp_path):
    f = tmp_path / "x.conllu"
    f.write_text(MWT)
    s1, s2 = read_conllu(f)
    assert s1.sent_id == "s1" and s1.forms == ["vamos", "nos", "!"] and s1.upos == ["VERB", "PRON", "PUNCT"]
    assert s1.text == "vámonos !"  # rebuilt from the surface token of the 1-2 range, empty node skipped
    assert s2.text == "Given text." and s2.lemmas == ["give", None, "."]


@pytest.mark.parametrize(
    "body, message",
    [
        ("1\tonly\tfour\tcols\n", "x.conllu:1: expected 10 tab-separated columns, found 4"),
        ("1\ta\t_\tX\t_\t_\t_\t_\t_\t_\n3\tb\t_\tX\t_\t_\t_\t_\t_\t_\n", "x.conllu:2: word id 3 out of sequence"),
        ("a\tb\t_\tX\t_\t_\t_\t_\t_\t_\n", "x.conllu:1: bad word id 'a'"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, body, message):
    f = tmp_path / "x.conllu"
    f.write_text(body)
    with pytest.raises(InputError, match=message):
        list(read_conllu(f))


def test_non_utf8_names_the_line(tmp_path):
    f = tmp_path / "x.conllu"
    f.write_bytes(b"# ok\n1\t\xff\t_\tX\t_\t_\t_\t_\t_\t_\n")
    with pytest.raises(InputError, match="x.conllu:2: not valid UTF-8"):
        list(read_conllu(f))


def test_fixture_and_real_treebanks_parse():
    assert len(list(read_conllu(TINY_CONLLU))) == 60
    mr = list(read_conllu(shared_file("ud/mr_ufal-ud-train.conllu")))
    assert len(mr) == 373
    hiencs = list(read_conllu(shared_file("ud/qhe_hiencs-ud-train.conllu")))
    assert len(hiencs) == 1448 and hiencs[0].misc[:3] == ["en", "en", "hi"]
