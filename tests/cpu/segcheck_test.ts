/**
 * The segment-check guest against qemu-system-i386 7.2, whose TCG checks no limits or rights on data
 * accesses: we follow the SDM (golden segcheck.sdm.txt); the cases that pass are QEMU's byte for byte.
 */
import { differsOnlyWhereDocumented } from "./sdm_differences.ts";

Deno.test("segcheck guest: differs from QEMU exactly on the lines it documents", () => {
  differsOnlyWhereDocumented("cpu/segcheck");
});
