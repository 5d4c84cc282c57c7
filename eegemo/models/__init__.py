"""Model zoo for EEG topomaps and facial expressions, behind one registry."""

from .registry import create_model, get_entry, list_models, model_names, register_model

__all__ = ["create_model", "get_entry", "list_models", "model_names", "register_model"]
