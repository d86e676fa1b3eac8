/** PC devices and the Bus they share with the CPU. */
export * from "./bus.ts";
