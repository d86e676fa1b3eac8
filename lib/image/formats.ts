/**
 * The format registry (registry.ts) with the compression codecs loaded, so that any image,
 * compressed clusters included, reads and writes synchronously: what library users such as
 * qemu-system import. qemu-img imports registry.ts and loads the codecs only for subcommands that
 * move guest data, as loading them is most of a metadata-only command's start-up time.
 */
import { loadCodecs } from "./qcow2/compress.ts";

export * from "./registry.ts";

await loadCodecs();
