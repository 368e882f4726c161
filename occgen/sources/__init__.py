"""Runtime readers behind one registry: faces, textures, random shapes, matted hands, object cut-outs."""
