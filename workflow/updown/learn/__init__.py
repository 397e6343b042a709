"""Label, features, split and train: what is learned, from what, on which rows."""
