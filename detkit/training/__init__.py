"""Lightning glue: the module, the data module, callbacks and the config-to-run functions."""
