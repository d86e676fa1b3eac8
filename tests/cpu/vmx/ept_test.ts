/**
 * EPT execute permission and the EPT-violation qualification (Intel SDM Vol. 3C, "EPT
 * Violations" and Table 28-7): an instruction fetch needs X in every EPT entry used (bit 2 of
 * the qualification), bits 5:3 are the AND of R/W/X over those entries, and with EPT A/D on a
 * guest paging-structure read is treated as a write (bits 0 and 1, bit 8 clear).
 */
import assert from "node:assert/strict";
import { F } from "../../../lib/cpu/vmx/mod.ts";
import { DATA, enter, GUEST_CODE, type Machine, setup } from "./harness.ts";

const PML4 = DATA + 0x4000, PDPT = DATA + 0x5000, PD = DATA + 0x6000;
const READ = 1, WRITE = 2, FETCH = 4, LINEAR_VALID = 1 << 7, TRANSLATION = 1 << 8;

/** EPT mapping GPA 0-2 MiB to HPA 0 with the leaf's permissions `rwx`, A/D flags as asked. */
function ept(m: Machine, rwx: number, ad: boolean): number {
  m.bus.write32(PML4, PDPT | 7);
  m.bus.write32(PDPT, PD | 7);
  m.bus.write32(PD, rwx | (6 << 3) | 0x80);
  return PML4 | 6 | (3 << 3) | (ad ? 1 << 6 : 0);
}

function launch(rwx: number, ad: boolean, guest: number[]) {
  const { m, vmcs } = setup();
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, 0x04006172 | (1 << 7) | (1 << 31));
  vmcs.set(F.SECONDARY_VM_EXEC_CONTROL, 1 << 1);
  vmcs.set(F.EPT_POINTER, ept(m, rwx, ad));
  assert.equal(enter(m, vmcs, guest).flags, 0);
  return { m, vmcs };
}

Deno.test("EPT: fetching from a page without X is an EPT violation with the fetch bit and R/W/X ANDed", () => {
  const { vmcs } = launch(READ | WRITE, false, [0x0f, 0xa2]);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 48);
  assert.equal(vmcs.get(F.EXIT_QUALIFICATION), FETCH | (3 << 3) | LINEAR_VALID | TRANSLATION);
  assert.equal(vmcs.get(F.GUEST_PHYSICAL_ADDRESS), GUEST_CODE);
  assert.equal(vmcs.get(F.GUEST_LINEAR_ADDRESS), GUEST_CODE);
  assert.equal(vmcs.get(F.GUEST_RIP), GUEST_CODE);
  assert.equal(vmcs.get(F.VM_EXIT_INSTRUCTION_LEN), 0);
});

Deno.test("EPT: with X the same code runs (CPUID exits), and a data read of an X-only-less page is allowed", () => {
  const { vmcs } = launch(READ | WRITE | FETCH, false, [0xa1, 0x00, 0x60, 0, 0, 0x0f, 0xa2]);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 10);
});

Deno.test("EPT: an intermediate entry without X denies the fetch (the AND covers every level)", () => {
  const { m, vmcs } = setup();
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, 0x04006172 | (1 << 7) | (1 << 31));
  vmcs.set(F.SECONDARY_VM_EXEC_CONTROL, 1 << 1);
  vmcs.set(F.EPT_POINTER, ept(m, 7, false));
  m.bus.write32(PDPT, PD | READ | WRITE);
  assert.equal(enter(m, vmcs, [0x0f, 0xa2]).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 48);
  assert.equal(vmcs.get(F.EXIT_QUALIFICATION), FETCH | (3 << 3) | LINEAR_VALID | TRANSLATION);
});

Deno.test("EPT A/D: the guest's page-directory read needs W and reports read+write, not a translation", () => {
  const { vmcs } = launch(READ | FETCH, true, [0x0f, 0xa2]);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 48);
  assert.equal(vmcs.get(F.EXIT_QUALIFICATION), READ | WRITE | (5 << 3) | LINEAR_VALID);
  // The PDE for linear GUEST_CODE: CR3 (the harness's page directory at 0x10000), entry 0.
  assert.equal(vmcs.get(F.GUEST_PHYSICAL_ADDRESS), 0x10000);
  assert.equal(vmcs.get(F.GUEST_LINEAR_ADDRESS), GUEST_CODE);
});

Deno.test("EPT without A/D: the same read-only page tables are fine and the fetch is allowed", () => {
  const { vmcs } = launch(READ | FETCH, false, [0x0f, 0xa2]);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 10);
});
