"""Learning procedural memory: ProcMEM's Non-Parametric PPO and MemP's build / retrieve / update."""
