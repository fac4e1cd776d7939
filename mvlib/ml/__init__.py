"""The models, the losses (eqs. 1-5), training and its distributed (torchrun) form."""
