/**
 * The task-switch checks guest against qemu-system-i386 7.2: we follow the SDM (golden
 * task_checks.sdm.txt) on DR7 and on the #GP for an EIP beyond the new CS limit; the rest is QEMU's.
 */
import { differsOnlyWhereDocumented } from "./sdm_differences.ts";

Deno.test("task_checks guest: differs from QEMU exactly on the lines it documents", () => {
  differsOnlyWhereDocumented("cpu/task_checks");
});
