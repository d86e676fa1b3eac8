/**
 * The VMX MSR lists (Intel SDM Vol. 3C): the VM-entry MSR-load list is written after guest state,
 * a bad entry fails the entry as an exit with reason 0x80000022 and the 1-based entry number as
 * qualification (entries before it stay loaded); the VM-exit MSR-store list saves guest MSRs and
 * the VM-exit MSR-load list restores host ones; a misaligned list fails VMLAUNCH with error 7, and
 * a failure while exiting is a VMX abort with the indicator in the VMCS region.
 */
import assert from "node:assert/strict";
import { F } from "../../../lib/cpu/vmx/mod.ts";
import { DATA, enter, type Machine, setup, VMCS_A } from "./harness.ts";

const ZF = 0x40;
const ENTRY_LIST = DATA + 0x7000, STORE_LIST = DATA + 0x7100, EXIT_LIST = DATA + 0x7200;
const SYSENTER_CS = 0x174, PAT = 0x277, MTRR_DEF_TYPE = 0x2ff, FS_BASE = 0xc0000100;
const CPUID = [0x0f, 0xa2];

function list(m: Machine, at: number, entries: [number, bigint, number?][]): void {
  entries.forEach(([index, value, reserved], k) => {
    m.bus.write32(at + k * 16, index);
    m.bus.write32(at + k * 16 + 4, reserved ?? 0);
    m.bus.write32(at + k * 16 + 8, Number(value & 0xffffffffn));
    m.bus.write32(at + k * 16 + 12, Number(value >> 32n));
  });
}

Deno.test("MSR lists: entry load, exit store and exit load move MSRs between guest and host", () => {
  const { m, vmcs } = setup();
  m.cpu.msrs.set(PAT, 0x0007040600070406n);
  list(m, ENTRY_LIST, [[SYSENTER_CS, 0x1234n], [PAT, 0x0606060606060606n]]);
  list(m, STORE_LIST, [[SYSENTER_CS, 0n], [PAT, 0n]]);
  list(m, EXIT_LIST, [[PAT, 0x0007040600070406n], [MTRR_DEF_TYPE, 0xc06n]]);
  vmcs.set(F.VM_ENTRY_MSR_LOAD_ADDR, ENTRY_LIST);
  vmcs.set(F.VM_ENTRY_MSR_LOAD_COUNT, 2);
  vmcs.set(F.VM_EXIT_MSR_STORE_ADDR, STORE_LIST);
  vmcs.set(F.VM_EXIT_MSR_STORE_COUNT, 2);
  vmcs.set(F.VM_EXIT_MSR_LOAD_ADDR, EXIT_LIST);
  vmcs.set(F.VM_EXIT_MSR_LOAD_COUNT, 2);
  assert.equal(enter(m, vmcs, CPUID).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 10);
  // The store list saw the guest's values (loaded at entry) ...
  assert.equal(m.bus.read32(STORE_LIST + 8), 0x1234);
  assert.equal(m.bus.read32(STORE_LIST + 16 + 8), 0x06060606);
  assert.equal(m.bus.read32(STORE_LIST + 16 + 12), 0x06060606);
  // ... the saved guest SYSENTER_CS field too; host state and the exit load list won afterwards.
  assert.equal(vmcs.get(F.GUEST_SYSENTER_CS), 0x1234);
  assert.equal(m.cpu.msrs.get(SYSENTER_CS), 0n);
  assert.equal(m.cpu.msrs.get(PAT), 0x0007040600070406n);
  assert.equal(m.cpu.msrs.get(MTRR_DEF_TYPE), 0xc06n);
});

Deno.test("MSR lists: a bad entry-load entry fails the entry with reason 34 and its number", () => {
  const cases: [string, [number, bigint, number?][], number][] = [
    ["an MSR WRMSR would #GP on (FS_BASE: no Intel 64)", [[SYSENTER_CS, 0x10n], [FS_BASE, 0n]], 2],
    ["reserved bits 63:32 of the entry", [[SYSENTER_CS, 0x10n, 1]], 1],
    ["the x2APIC range", [[SYSENTER_CS, 0x10n], [PAT, 6n], [0x808, 0n]], 3],
    ["IA32_SMBASE", [[0x9e, 0n]], 1],
  ];
  for (const [what, entries, failing] of cases) {
    const { m, vmcs } = setup();
    list(m, ENTRY_LIST, entries);
    vmcs.set(F.VM_ENTRY_MSR_LOAD_ADDR, ENTRY_LIST);
    vmcs.set(F.VM_ENTRY_MSR_LOAD_COUNT, entries.length);
    assert.equal(enter(m, vmcs, CPUID).flags, 0, what);
    assert.equal(vmcs.get(F.VM_EXIT_REASON) >>> 0, 0x80000022, what);
    assert.equal(vmcs.get(F.EXIT_QUALIFICATION), failing, what);
    assert.equal(vmcs.launchState, 0, what); // a failed entry leaves the VMCS clear
    // Entries before the failing one were loaded; then host state (HOST_IA32_SYSENTER_CS = 0) came back.
    if (failing === 3) assert.equal(m.cpu.msrs.get(PAT), 6n, what);
    assert.equal(m.cpu.msrs.get(SYSENTER_CS) ?? 0n, 0n, what);
  }
});

Deno.test("MSR lists: a list address that is not 16-byte aligned fails VMLAUNCH with error 7", () => {
  for (
    const [address, count] of [[F.VM_ENTRY_MSR_LOAD_ADDR, F.VM_ENTRY_MSR_LOAD_COUNT], [
      F.VM_EXIT_MSR_STORE_ADDR,
      F.VM_EXIT_MSR_STORE_COUNT,
    ], [F.VM_EXIT_MSR_LOAD_ADDR, F.VM_EXIT_MSR_LOAD_COUNT]]
  ) {
    const { m, vmcs } = setup();
    vmcs.set(address, ENTRY_LIST + 8);
    vmcs.set(count, 1);
    assert.equal(enter(m, vmcs, CPUID).flags, ZF);
    assert.equal(vmcs.get(F.VM_INSTRUCTION_ERROR), 7);
    // A count of 0 makes the address irrelevant.
    vmcs.set(count, 0);
    assert.equal(enter(m, vmcs, CPUID).flags, 0);
    assert.equal(vmcs.get(F.VM_EXIT_REASON), 10);
  }
});

Deno.test("MSR lists: a failing exit-store or exit-load entry is a VMX abort (indicator 1 or 4)", () => {
  for (
    const [address, count, indicator] of [
      [F.VM_EXIT_MSR_STORE_ADDR, F.VM_EXIT_MSR_STORE_COUNT, 1],
      [F.VM_EXIT_MSR_LOAD_ADDR, F.VM_EXIT_MSR_LOAD_COUNT, 4],
    ]
  ) {
    const { m, vmcs } = setup();
    list(m, EXIT_LIST, [[FS_BASE, 0n]]);
    vmcs.set(address, EXIT_LIST);
    vmcs.set(count, 1);
    enter(m, vmcs, CPUID);
    assert.equal(m.bus.read32(VMCS_A + 4), indicator);
    assert.equal(m.bus.resetRequested, true);
  }
});
