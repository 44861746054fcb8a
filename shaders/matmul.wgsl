// placeholder: matmul family, filled in by its owner
