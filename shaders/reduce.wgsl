// placeholder: reduce family, filled in by its owner
