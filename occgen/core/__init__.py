"""Foundations every layer uses: errors, array contracts, image and file I/O (atomic writes in ``files``),
boxes and letterboxing (``geometry``), RNG streams, params plumbing."""
