/** Machines: the PC board (-M pc) and the minimal test machine, with their loaders. */
export {};
