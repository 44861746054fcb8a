// placeholder: layout family, filled in by its owner
