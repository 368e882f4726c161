"""Running recipes at scale: parallel generation into stores, recode, export, preview."""
