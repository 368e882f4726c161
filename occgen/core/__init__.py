"""Foundations every layer uses: errors, array contracts, image and file I/O, RNG streams, params plumbing,
label tables (``labels``) and a sample's named targets with the ops that move them (``targets``)."""
