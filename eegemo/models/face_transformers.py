"""Facial-expression transformers and ConvNeXt built with timm, sized for 48x48 inputs."""
