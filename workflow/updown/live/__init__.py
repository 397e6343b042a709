"""The live loop: the journal of predictions, the champion that answers, alias moves and the
monitor that scores the journal against what happened."""
