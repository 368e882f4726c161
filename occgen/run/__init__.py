"""Running recipes at scale: parallel generation into stores, recode, export, preview, the dataset report page,
the per-sample quality audit (:mod:`occgen.run.audit`).

Exports: every ``occgen export`` format runs through one framework (:mod:`occgen.run.export_base`: settings,
chunks, markers, one resume rule); a new format is one ``ExportWriter`` there (write one chunk, finish). They
read any store or mix through the dataset protocol (:mod:`occgen.store.dataset`), never by its type.
Clips: :mod:`occgen.run.clips` (``generate --frames``), :mod:`occgen.run.export_video`, :mod:`occgen.run.clip_preview`.
"""
