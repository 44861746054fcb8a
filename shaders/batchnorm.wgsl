// placeholder: batchnorm family, filled in by its owner
