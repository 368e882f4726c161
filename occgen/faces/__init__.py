"""Face preparation: masks for faces without parsing annotations, and FFHQ-style alignment.

- :mod:`occgen.faces.bisenet`: the face-parsing network (loads the public 19-class checkpoint strictly);
- :mod:`occgen.faces.parsing`: parser labels → visible-face mask, by the CelebAMask-HQ rule;
- :mod:`occgen.faces.landmarks`: 68 landmarks → face polygon → mask (an approximation), optional dlib detector;
- :mod:`occgen.faces.align`: the FFHQ oriented crop from eyes and mouth;
- :mod:`occgen.faces.stage`: the folder loops behind ``occgen faces masks`` and ``occgen faces align``.
"""
