/**
 * VMX enabling and the VMCS-management instructions, against the SDM's pseudocode: CPUID and
 * capability MSRs, IA32_FEATURE_CONTROL, CR4.VMXE, VMXON/VMXOFF, VMCLEAR/VMPTRLD/VMPTRST,
 * VMREAD/VMWRITE, VMCALL in root, with every #UD/#GP/VMfailInvalid/VMfailValid(n) path.
 */
import assert from "node:assert/strict";
import { cpuid } from "../../../lib/cpu/models.ts";
import { F, VMCS_REVISION, vmxState } from "../../../lib/cpu/vmx/mod.ts";
import { asm, DATA, exec, type Machine, poke64, vmxMachine } from "./harness.ts";

const CF = 1, ZF = 0x40, GP = 13, UD = 6;
const VMXON_REGION = DATA + 0x1000, VMCS_A = DATA + 0x2000, VMCS_B = DATA + 0x3000;
const OPERAND = DATA; // m64 operands

const setFeatureControl = (
  v: number,
) => [...asm.mov("ecx", 0x3a), ...asm.mov("eax", v), ...asm.mov("edx", 0), ...asm.wrmsr()];
const setCr4 = (v: number) => [...asm.mov("eax", v), ...asm.movCr4Eax()];

/** A CPU in VMX root operation, VMXON region and two VMCS regions with the right revision. */
function inRoot(): Machine {
  const m = vmxMachine();
  for (const r of [VMXON_REGION, VMCS_A, VMCS_B]) m.bus.write32(r, VMCS_REVISION);
  poke64(m, OPERAND, VMXON_REGION);
  const r = exec(m, [...setFeatureControl(5), ...setCr4(0x2010), ...asm.vmxon(OPERAND)]);
  assert.deepEqual(r, { vector: -1, flags: 0 });
  return m;
}

/** Runs VMREAD of VM_INSTRUCTION_ERROR and returns it. */
function instructionError(m: Machine): number {
  const r = exec(m, [...asm.mov("ebx", F.VM_INSTRUCTION_ERROR), ...asm.vmread("eax", "ebx")]);
  assert.equal(r.flags, 0);
  return m.cpu.regs[0];
}

function load(m: Machine, vmcs: number) {
  poke64(m, OPERAND, vmcs);
  return exec(m, asm.vmptrld(OPERAND));
}

Deno.test("qemu32 reports no VMX; the capability MSRs and CR4.VMXE then #GP", () => {
  const m = vmxMachine(false);
  assert.equal(cpuid(m.cpu.model, 1, 0)[2] & 0x20, 0);
  assert.equal(exec(m, [...asm.mov("ecx", 0x480), ...asm.rdmsr()]).vector, GP);
  assert.equal(exec(m, setCr4(0x2010)).vector, GP);
  assert.equal(exec(m, setFeatureControl(5)).vector, GP);
  // Lock alone is fine without VMX.
  assert.equal(exec(m, setFeatureControl(1)).vector, -1);
});

Deno.test("capability MSRs: BASIC, controls, fixed bits, read-only", () => {
  const m = vmxMachine();
  const rd = (n: number) => {
    assert.equal(exec(m, [...asm.mov("ecx", n), ...asm.rdmsr()]).vector, -1);
    return (BigInt(m.cpu.regs[2] >>> 0) << 32n) | BigInt(m.cpu.regs[0] >>> 0);
  };
  const basic = rd(0x480);
  assert.equal(Number(basic & 0x7fffffffn), VMCS_REVISION);
  assert.equal(Number((basic >> 32n) & 0x1fffn), 4096);
  assert.equal(Number((basic >> 50n) & 0xfn), 6);
  assert.equal((basic >> 55n) & 1n, 1n);
  // allowed-0 bits are a subset of allowed-1 bits in every control MSR
  for (const n of [0x481, 0x482, 0x483, 0x484, 0x48b, 0x48d, 0x48e, 0x48f, 0x490]) {
    const v = rd(n), lo = v & 0xffffffffn, hi = v >> 32n;
    assert.equal(lo & hi, lo, `MSR ${n.toString(16)}`);
  }
  assert.equal(rd(0x486), 0x80000021n);
  assert.equal(rd(0x488), 0x2000n);
  assert.equal(
    exec(m, [...asm.mov("ecx", 0x480), ...asm.mov("eax", 0), ...asm.mov("edx", 0), ...asm.wrmsr()]).vector,
    GP,
  );
  assert.equal(exec(m, [...asm.mov("ecx", 0x492), ...asm.rdmsr()]).vector, GP);
});

Deno.test("IA32_FEATURE_CONTROL: bit 1 (SMX) #GPs, lock freezes it", () => {
  const m = vmxMachine();
  assert.equal(exec(m, setFeatureControl(2)).vector, GP);
  assert.equal(exec(m, setFeatureControl(5)).vector, -1);
  assert.equal(exec(m, setFeatureControl(1)).vector, GP);
});

Deno.test("VMXON: #UD without CR4.VMXE, #GP without the feature-control bits or fixed CR0 bits", () => {
  const m = vmxMachine();
  m.bus.write32(VMXON_REGION, VMCS_REVISION);
  poke64(m, OPERAND, VMXON_REGION);
  assert.equal(exec(m, asm.vmxon(OPERAND)).vector, UD);
  assert.equal(exec(m, setCr4(0x2010)).vector, -1);
  assert.equal(exec(m, asm.vmxon(OPERAND)).vector, GP); // FEATURE_CONTROL unlocked
  assert.equal(exec(m, setFeatureControl(5)).vector, -1);
  m.cpu.cr[0] &= ~0x20; // NE clear: CR0_FIXED0
  assert.equal(exec(m, asm.vmxon(OPERAND)).vector, GP);
  m.cpu.cr[0] |= 0x20;
  // Other VMX instructions #UD outside VMX operation.
  for (const code of [asm.vmptrld(OPERAND), asm.vmxoff(), asm.vmcall(), asm.vmread("eax", "ebx")]) {
    assert.equal(exec(m, code).vector, UD);
  }
  assert.deepEqual(exec(m, asm.vmxon(OPERAND)), { vector: -1, flags: 0 });
  assert.equal(vmxState(m.cpu).operation, true);
});

Deno.test("VMXON: VMfailInvalid for a misaligned, above-4G or wrong-revision region", () => {
  const m = vmxMachine();
  exec(m, [...setFeatureControl(5), ...setCr4(0x2010)]);
  m.bus.write32(VMXON_REGION, VMCS_REVISION + 1);
  for (const [low, high] of [[VMXON_REGION + 8, 0], [VMXON_REGION, 1], [VMXON_REGION, 0]]) {
    poke64(m, OPERAND, low, high);
    assert.deepEqual(exec(m, asm.vmxon(OPERAND)), { vector: -1, flags: CF });
  }
  m.bus.write32(VMXON_REGION, (VMCS_REVISION | 0x80000000) >>> 0);
  assert.deepEqual(exec(m, asm.vmxon(OPERAND)), { vector: -1, flags: CF });
  assert.equal(vmxState(m.cpu).operation, false);
});

Deno.test("in VMX operation: CR4.VMXE and CR0.PE/PG/NE cannot be cleared; VMXON again fails", () => {
  const m = inRoot();
  assert.equal(exec(m, setCr4(0x10)).vector, GP);
  assert.equal(exec(m, [...asm.mov("eax", 0x80000011), ...asm.movCr0Eax()]).vector, GP);
  poke64(m, OPERAND, VMXON_REGION);
  // No current VMCS: VMfail(15) is VMfailInvalid.
  assert.deepEqual(exec(m, asm.vmxon(OPERAND)), { vector: -1, flags: CF });
  assert.equal(load(m, VMCS_A).flags, 0);
  poke64(m, OPERAND, VMXON_REGION);
  assert.deepEqual(exec(m, asm.vmxon(OPERAND)), { vector: -1, flags: ZF });
  assert.equal(instructionError(m), 15);
});

Deno.test("VMPTRLD/VMPTRST/VMCLEAR and their error numbers", () => {
  const m = inRoot();
  // VMPTRST without a current VMCS stores FFFFFFFF_FFFFFFFF.
  assert.equal(exec(m, asm.vmptrst(OPERAND + 8)).flags, 0);
  assert.equal(m.bus.read32(OPERAND + 8), 0xffffffff);
  assert.equal(m.bus.read32(OPERAND + 12), 0xffffffff);
  // Without a current VMCS every failure is VMfailInvalid.
  assert.equal(load(m, VMXON_REGION).flags, CF);
  assert.equal(load(m, VMCS_A + 4).flags, CF);
  assert.equal(load(m, VMCS_A).flags, 0);
  assert.equal(exec(m, asm.vmptrst(OPERAND + 8)).flags, 0);
  assert.equal(m.bus.read32(OPERAND + 8), VMCS_A);
  assert.equal(m.bus.read32(OPERAND + 12), 0);
  // With one, VMfailValid and the error number.
  assert.equal(load(m, VMCS_B + 0x10).flags, ZF);
  assert.equal(instructionError(m), 9);
  assert.equal(load(m, VMXON_REGION).flags, ZF);
  assert.equal(instructionError(m), 10);
  m.bus.write32(VMCS_B, 0x1234);
  assert.equal(load(m, VMCS_B).flags, ZF);
  assert.equal(instructionError(m), 11);
  m.bus.write32(VMCS_B, VMCS_REVISION);
  poke64(m, OPERAND, VMCS_B + 8);
  assert.equal(exec(m, asm.vmclear(OPERAND)).flags, ZF);
  assert.equal(instructionError(m), 2);
  poke64(m, OPERAND, VMXON_REGION);
  assert.equal(exec(m, asm.vmclear(OPERAND)).flags, ZF);
  assert.equal(instructionError(m), 3);
  // Clearing another VMCS keeps the current one; clearing the current one drops it.
  poke64(m, OPERAND, VMCS_B);
  assert.equal(exec(m, asm.vmclear(OPERAND)).flags, 0);
  assert.equal(vmxState(m.cpu).currentVmcs, VMCS_A);
  poke64(m, OPERAND, VMCS_A);
  assert.equal(exec(m, asm.vmclear(OPERAND)).flags, 0);
  assert.equal(vmxState(m.cpu).currentVmcs, -1);
  assert.equal(exec(m, asm.vmread("eax", "ebx")).flags, CF);
});

Deno.test("VMREAD/VMWRITE: widths, 64-bit halves, error 12 and 13, VMCS kept in memory", () => {
  const m = inRoot();
  assert.equal(load(m, VMCS_A).flags, 0);
  const write = (field: number, v: number) =>
    exec(m, [...asm.mov("ebx", field), ...asm.mov("eax", v), ...asm.vmwrite("ebx", "eax")]);
  const read = (field: number) => {
    const r = exec(m, [...asm.mov("ebx", field), ...asm.mov("eax", 0x5a5a5a5a), ...asm.vmread("eax", "ebx")]);
    return { flags: r.flags, value: m.cpu.regs[0] >>> 0 };
  };
  assert.equal(write(F.GUEST_CS_SELECTOR, 0x12345678).flags, 0);
  assert.deepEqual(read(F.GUEST_CS_SELECTOR), { flags: 0, value: 0x5678 });
  assert.equal(write(F.GUEST_RIP, 0xdeadbeef).flags, 0);
  assert.deepEqual(read(F.GUEST_RIP), { flags: 0, value: 0xdeadbeef });
  assert.equal(write(F.EPT_POINTER + 1, 0x11).flags, 0); // high half
  assert.equal(write(F.EPT_POINTER, 0x22).flags, 0); // full: clears the high half
  assert.deepEqual(read(F.EPT_POINTER + 1), { flags: 0, value: 0 });
  assert.equal(write(F.EPT_POINTER + 1, 0x33).flags, 0);
  assert.deepEqual(read(F.EPT_POINTER), { flags: 0, value: 0x22 });
  assert.deepEqual(read(F.EPT_POINTER + 1), { flags: 0, value: 0x33 });
  // Unsupported components: unknown index, high access of a 32-bit field, bits above 14.
  for (const bad of [0x4830, F.GUEST_CS_LIMIT + 1, 0x10000 | F.GUEST_RIP, 0x8000]) {
    assert.equal(read(bad).flags, ZF);
    assert.equal(instructionError(m), 12);
  }
  assert.equal(write(F.VM_EXIT_REASON, 1).flags, ZF);
  assert.equal(instructionError(m), 13);
  assert.equal(write(F.EXIT_QUALIFICATION, 1).flags, ZF);
  // VMCLEAR then VMPTRLD of the same region: the data is still there.
  poke64(m, OPERAND, VMCS_A);
  assert.equal(exec(m, asm.vmclear(OPERAND)).flags, 0);
  assert.equal(load(m, VMCS_A).flags, 0);
  assert.deepEqual(read(F.GUEST_RIP), { flags: 0, value: 0xdeadbeef });
  // VMCALL in root operation: VMfailValid(1).
  assert.equal(exec(m, asm.vmcall()).flags, ZF);
  assert.equal(instructionError(m), 1);
});

Deno.test("VMXOFF leaves VMX operation; CR4.VMXE can be cleared again", () => {
  const m = inRoot();
  assert.deepEqual(exec(m, asm.vmxoff()), { vector: -1, flags: 0 });
  assert.equal(vmxState(m.cpu).operation, false);
  assert.equal(exec(m, asm.vmxoff()).vector, UD);
  assert.equal(exec(m, setCr4(0x10)).vector, -1);
});

Deno.test("INVEPT/INVVPID: #UD without 66 or outside VMX operation, VMfail(28) for bad operands", () => {
  const m = inRoot();
  assert.equal(load(m, VMCS_A).flags, 0);
  const invept = (type: number, prefix = true) => [
    ...asm.mov("ecx", type),
    ...(prefix ? [0x66] : []),
    0x0f,
    0x38,
    0x80,
    0x0d,
    ...[OPERAND & 0xff, (OPERAND >> 8) & 0xff, (OPERAND >> 16) & 0xff, 0],
  ];
  poke64(m, OPERAND, DATA + 0x4000 | 0x1e);
  poke64(m, OPERAND + 8, 0);
  assert.deepEqual(exec(m, invept(1)), { vector: -1, flags: 0 });
  assert.deepEqual(exec(m, invept(2)), { vector: -1, flags: 0 });
  assert.equal(exec(m, invept(3)).flags, ZF);
  assert.equal(instructionError(m), 28);
  poke64(m, OPERAND, DATA + 0x4000 | 0x16); // walk length 3
  assert.equal(exec(m, invept(1)).flags, ZF);
  assert.equal(instructionError(m), 28);
  assert.equal(exec(m, invept(1, false)).vector, UD);
  // INVVPID (66 0F 38 81): VPID 0 only with type 2; reserved descriptor bits VMfail(28).
  const invvpid = (type: number, vpid: number) => {
    poke64(m, OPERAND, vpid);
    poke64(m, OPERAND + 8, 0x1000);
    return exec(m, [
      ...asm.mov("ecx", type),
      0x66,
      0x0f,
      0x38,
      0x81,
      0x0d,
      OPERAND & 0xff,
      (OPERAND >> 8) & 0xff,
      (OPERAND >> 16) & 0xff,
      0,
    ]);
  };
  assert.deepEqual(invvpid(2, 0), { vector: -1, flags: 0 });
  assert.deepEqual(invvpid(0, 1), { vector: -1, flags: 0 });
  assert.equal(invvpid(1, 0).flags, ZF);
  assert.equal(instructionError(m), 28);
  assert.equal(invvpid(1, 0x10001).flags, ZF);
  assert.equal(invvpid(4, 1).flags, ZF);
  exec(m, asm.vmxoff());
  assert.equal(exec(m, invept(2)).vector, UD);
});

Deno.test("RESET leaves VMX operation", () => {
  const m = inRoot();
  assert.equal(load(m, VMCS_A).flags, 0);
  m.cpu.reset();
  assert.equal(vmxState(m.cpu).operation, false);
  assert.equal(vmxState(m.cpu).currentVmcs, -1);
  assert.equal(m.cpu.vmxNonRoot, false);
});
