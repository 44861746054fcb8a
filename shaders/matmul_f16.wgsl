// placeholder: matmul_f16 family, filled in by its owner
