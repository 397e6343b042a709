"""A sweep: many configurations scored on the validation block, one winner scored on test once."""
