"""Loading models from disk or the Hugging Face Hub: transformers models, tokenizers and peft adapters
(:mod:`cstool.models.hf`), the Hub cache (:mod:`cstool.models.hub`) and Stanza pipelines
(:mod:`cstool.models.stanza_pipelines`). Imports :mod:`cstool.base` and :mod:`cstool.io` only."""
