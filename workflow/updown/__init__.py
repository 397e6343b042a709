"""updown: acquire, validate, label, featurise, train, evaluate, track and predict price direction."""

__version__ = "0.1.0"
