"""The recipes shipped with eegemo: ``--config NAME`` reads ``NAME.toml`` from this folder."""
