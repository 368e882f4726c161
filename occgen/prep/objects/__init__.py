"""Prepare object cut-outs: extract COCO instances with pycocotools and super-resolve them."""
