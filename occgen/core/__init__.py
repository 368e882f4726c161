"""Foundations every layer uses: errors, array contracts, image and file I/O (atomic writes in ``files``,
content fingerprints of source files with their per-user cache in ``fingerprint``),
boxes and letterboxing (``geometry``), names from untrusted input made into paths (``paths``), RNG streams,
params plumbing, label tables (``labels``) and a sample's named targets with the ops that move them
(``targets``)."""
