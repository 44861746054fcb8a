// placeholder: random family, filled in by its owner
