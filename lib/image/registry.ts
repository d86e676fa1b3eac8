/** The format registry under the name the qemu-img CLI imports; everything lives in formats.ts. */
export * from "./formats.ts";
