// placeholder: philox family, filled in by its owner
