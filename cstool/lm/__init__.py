"""Language-model mechanics: KD losses, Trainer subclasses and packing, scoring, tokenizers, the top-k cache."""
