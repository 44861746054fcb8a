// placeholder: pairwise family, filled in by its owner
