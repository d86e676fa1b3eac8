/** Disk images: the BlockDriver seam, the format registry and its formats (raw, qcow2). */
export * from "./block_driver.ts";
export * from "./formats.ts";
export * from "./create_options.ts";
export { HostFile } from "./host_file.ts";
export { isZero, RawDriver } from "./raw/raw.ts";
export { Qcow2Driver } from "./qcow2/driver.ts";
export type { AmendOptions } from "./qcow2/amend.ts";
export { compressCluster, loadCodecs } from "./qcow2/compress.ts";
