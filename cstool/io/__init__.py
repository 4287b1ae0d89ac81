"""Reading and writing artifacts: schemas, Parquet/Arrow/IPC streams, CoNLL-U and text lines, Hugging Face
datasets as inputs, atomic writes, output checks, locks and run records. Imports only :mod:`cstool.base`."""
