// placeholder: loss family, filled in by its owner
