"""The local Mesos master: the v1 scheduler and operator HTTP APIs over N emulated agents."""
