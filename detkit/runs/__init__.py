"""A run folder, apart from the Lightning that trains it: every name it holds (`layout`), one run
reopened (`run_dir.RunDir`), its lock (`lock`), its saved config read as data (`saved_config`,
`schema`), its checkpoints read (`checkpoints`), and the command line's run directory checked
before Hydra starts (`command_line`). Imports no Lightning."""
