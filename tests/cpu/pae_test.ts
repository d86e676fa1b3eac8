/**
 * The PAE paging guest against qemu-system-i386 7.2: we follow the SDM (golden pae.sdm.txt) in
 * setting the present bit of a reserved-bit #PF's error code, as hardware and KVM do; the rest is
 * QEMU's.
 */
import { differsOnlyWhereDocumented } from "./sdm_differences.ts";

Deno.test("pae guest: differs from QEMU exactly on the lines it documents (RSVD faults are present)", () => {
  differsOnlyWhereDocumented("cpu/pae");
});
