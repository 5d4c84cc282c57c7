"""Models for EEG band-power topomaps of shape (n_bands, H, W)."""
