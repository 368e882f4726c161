"""NatOcc hands: the 11k Hands loader (:mod:`.elevenk`), matting (:mod:`.matting`, stage :mod:`.stage`),
finger direction (:mod:`.orientation`), the matted-hands occluder source (:mod:`.source`) and drawn
demo / fixture hands (:mod:`.synthetic`)."""
