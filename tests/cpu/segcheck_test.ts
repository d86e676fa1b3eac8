/**
 * The segment-check guests against qemu-system-i386 7.2, whose TCG checks no limits or rights on data
 * accesses: we follow the SDM (goldens segcheck.sdm.txt, segcheck_real.sdm.txt, segcheck_stack.sdm.txt); the cases that pass
 * are QEMU's byte for byte.
 */
import { differsOnlyWhereDocumented } from "./sdm_differences.ts";

Deno.test("segcheck guest: differs from QEMU exactly on the lines it documents", () => {
  differsOnlyWhereDocumented("cpu/segcheck");
});

Deno.test("segcheck_real guest (real mode): differs from QEMU exactly on the lines it documents", () => {
  differsOnlyWhereDocumented("cpu/segcheck_real");
});

Deno.test("segcheck_stack guest (#SS from ring 3, PUSHA, far CALL, INT, x87 stores): differs from QEMU exactly on the lines it documents", () => {
  differsOnlyWhereDocumented("cpu/segcheck_stack");
});
