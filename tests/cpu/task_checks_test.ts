/**
 * The task-switch checks guests against qemu-system-i386 7.2: we follow the SDM (goldens
 * task_checks.sdm.txt, task_gate_fault.sdm.txt) on DR7, on the #GP for an EIP beyond the new CS
 * limit and on a fault after a task gate's switch (the new task's, not a #DF); the rest is QEMU's.
 */
import { differsOnlyWhereDocumented } from "./sdm_differences.ts";

Deno.test("task_checks guest: differs from QEMU exactly on the lines it documents", () => {
  differsOnlyWhereDocumented("cpu/task_checks");
});

Deno.test("task_gate_fault guest: a fault after a task gate's switch is the new task's, not a #DF", () => {
  differsOnlyWhereDocumented("cpu/task_gate_fault");
});
