// placeholder: optimizer family, filled in by its owner
