"""Prepare face folders: face masks from a parser or landmarks, and FFHQ-style alignment."""
