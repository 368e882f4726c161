"""Prepare hand cut-outs: read 11k Hands and matte each photo to an RGBA cut-out."""
