// placeholder: probe family, filled in by its owner
