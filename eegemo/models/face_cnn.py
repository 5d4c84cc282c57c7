"""Facial-expression CNNs: VGG, ResNet, Residual Masking Network, Residual Attention Network."""
