/** Disk images: the BlockDriver seam and its formats (raw, qcow2). */
export * from "./block_driver.ts";
