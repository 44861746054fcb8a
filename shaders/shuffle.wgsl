// placeholder: shuffle family, filled in by its owner
