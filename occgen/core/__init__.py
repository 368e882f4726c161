"""Foundations every layer uses: errors, array contracts, image and file I/O, RNG streams, params plumbing."""
