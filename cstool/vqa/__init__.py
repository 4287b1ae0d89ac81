"""Visual question answering: the VQA artifact and its importers (``data``, ``easyvqa``), vision-language
models (``model``) and the training side of replay-train's ``--task-type vqa`` (``train``).

Answer normalisation, accuracy and batched generation live in :mod:`cstool.vqa.metrics` and
:mod:`cstool.vqa.generate`, shared with ``cstool eval --task vqa``.
"""
