/**
 * VMCS shadowing on the emulated CPU (tcg), checked against the SDM (Vol. 3C 25.10 "VMCS Types",
 * 27.2.1.1/27.3.1.5 entry checks, 30.3 VMPTRLD/VMREAD/VMWRITE/VMLAUNCH): a shadow VMCS (revision
 * with bit 31) can be made current and filled but not entered; in non-root operation with the
 * "VMCS shadowing" control, VMREAD/VMWRITE of a field whose bitmap bit is clear access the VMCS the
 * link pointer names without a VM exit, and every other field exits as before.
 */
import assert from "node:assert/strict";
import { currentVmcs, F, VMCS_REVISION } from "../../../lib/cpu/vmx/mod.ts";
import { asm, DATA, enter, exec, GUEST_CODE, OPERAND, poke64, setup, VMCS_A } from "./harness.ts";

const CF = 1, ZF = 0x40;
const SHADOW = DATA + 0x5000, READ_BITMAP = DATA + 0x6000, WRITE_BITMAP = DATA + 0x7000;
const SEC_SHADOW_VMCS = 1 << 14, CPU_ACTIVATE_SECONDARY = 1 << 31;
const EXIT_VMREAD = 23, EXIT_VMWRITE = 25;

type Machine = ReturnType<typeof setup>["m"];

/** VMPTRLD of a region (OPERAND + 8 holds its address); the result flags. */
function load(m: Machine, region: number): number {
  poke64(m, OPERAND + 8, region);
  return exec(m, asm.vmptrld(OPERAND + 8)).flags;
}

/** Both bitmaps exit for every field except those listed, which go to the shadow VMCS. */
function bitmaps(m: Machine, read: number[], write: number[]): void {
  for (const [base, fields] of [[READ_BITMAP, read], [WRITE_BITMAP, write]] as const) {
    for (let k = 0; k < 4096; k += 4) m.bus.write32(base + k, -1);
    for (const f of fields) m.bus.write8(base + (f >> 3), m.bus.read8(base + (f >> 3)) & ~(1 << (f & 7)));
  }
}

/** The setup's VMCS with shadowing on, the link pointer at SHADOW, which holds GUEST_RIP 0x1234. */
function shadowed(linkRevision = (VMCS_REVISION | 0x80000000) >>> 0) {
  const { m } = setup();
  m.bus.write32(SHADOW, linkRevision);
  // A shadow VMCS is made current like any other and filled with VMWRITE; it cannot be entered.
  assert.equal(load(m, SHADOW), 0);
  assert.equal(
    exec(m, [...asm.mov("ebx", F.GUEST_RIP), ...asm.mov("eax", 0x1234), ...asm.vmwrite("ebx", "eax")]).flags,
    0,
  );
  if (linkRevision & 0x80000000) assert.equal(exec(m, asm.vmlaunch()).flags, CF);
  poke64(m, OPERAND + 8, SHADOW);
  assert.equal(exec(m, asm.vmclear(OPERAND + 8)).flags, 0);
  assert.equal(load(m, VMCS_A), 0);
  const vmcs = currentVmcs(m.cpu);
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, vmcs.get(F.CPU_BASED_VM_EXEC_CONTROL) | CPU_ACTIVATE_SECONDARY);
  vmcs.set(F.SECONDARY_VM_EXEC_CONTROL, SEC_SHADOW_VMCS);
  vmcs.set(F.VMREAD_BITMAP, READ_BITMAP);
  vmcs.set(F.VMWRITE_BITMAP, WRITE_BITMAP);
  vmcs.set(F.VMCS_LINK_POINTER, SHADOW);
  vmcs.set(F.VMCS_LINK_POINTER + 1, 0);
  bitmaps(m, [F.GUEST_RIP, F.VM_EXIT_REASON], [F.GUEST_RIP]);
  return { m, vmcs };
}

// mov ebx, GUEST_RIP ; vmread eax, ebx ; mov ecx, 0x5678 ; vmwrite ebx, ecx ;
// mov ebx, GUEST_RFLAGS ; vmread edx, ebx (its bitmap bit is set: exits)
/** Where GUEST's last VMREAD (of GUEST_RFLAGS) is: after three MOVs and two VMREAD/VMWRITEs. */
const GUEST_RIP_OF_EXIT = GUEST_CODE + 5 + 3 + 5 + 3 + 5;
const GUEST = [
  ...asm.mov("ebx", F.GUEST_RIP),
  ...asm.vmread("eax", "ebx"),
  ...asm.mov("ecx", 0x5678),
  ...asm.vmwrite("ebx", "ecx"),
  ...asm.mov("ebx", F.GUEST_RFLAGS),
  ...asm.vmread("edx", "ebx"),
];

Deno.test("IA32_VMX_PROCBASED_CTLS2 offers VMCS shadowing (allowed-1 bit 14)", () => {
  const { m } = setup();
  exec(m, [...asm.mov("ecx", 0x48b), ...asm.rdmsr()]);
  assert.equal((m.cpu.regs[2] >>> 14) & 1, 1);
});

Deno.test("non-root VMREAD/VMWRITE of a field clear in the bitmaps uses the shadow VMCS, without an exit", () => {
  const { m, vmcs } = shadowed();
  assert.equal(enter(m, vmcs, GUEST).flags, 0);
  // The first VM exit is the VMREAD of GUEST_RFLAGS (bitmap bit set), after the shadowed pair.
  assert.equal(vmcs.get(F.VM_EXIT_REASON), EXIT_VMREAD);
  assert.equal(vmcs.get(F.GUEST_RIP), GUEST_RIP_OF_EXIT);
  assert.equal(m.cpu.regs[0], 0x1234, "VMREAD read the shadow VMCS's GUEST_RIP");
  assert.equal(vmcs.get(F.GUEST_RFLAGS) & (CF | ZF), 0, "VMsucceed");
  // The shadow VMCS holds the guest's VMWRITE; the current VMCS's own GUEST_RIP is the guest's.
  assert.equal(load(m, SHADOW), 0);
  assert.equal(exec(m, [...asm.mov("ebx", F.GUEST_RIP), ...asm.vmread("eax", "ebx")]).flags, 0);
  assert.equal(m.cpu.regs[0], 0x5678);
});

Deno.test("non-root VMWRITE of a field set in the VMWRITE bitmap exits (reason 25) though VMREAD of it does not", () => {
  const { m, vmcs } = shadowed();
  bitmaps(m, [F.GUEST_RIP], []);
  assert.equal(enter(m, vmcs, GUEST).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), EXIT_VMWRITE);
  assert.equal(vmcs.get(F.GUEST_RIP), GUEST_CODE + 5 + 3 + 5);
  assert.equal(m.cpu.regs[0], 0x1234);
});

Deno.test("a link pointer of FFFFFFFF_FFFFFFFFH under VMCS shadowing: a shadowed VMREAD is VMfailInvalid", () => {
  const { m, vmcs } = shadowed();
  vmcs.set(F.VMCS_LINK_POINTER, -1);
  vmcs.set(F.VMCS_LINK_POINTER + 1, -1);
  // vmread eax, ebx (shadowed, fails with CF) ; pushfd ; pop edx ; cpuid (exits)
  m.cpu.regs[0] = 0x7777;
  const guest = [...asm.mov("ebx", F.GUEST_RIP), ...asm.vmread("eax", "ebx"), 0x9c, 0x5a, 0x0f, 0xa2];
  assert.equal(enter(m, vmcs, guest).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 10);
  assert.equal(m.cpu.regs[0], 0x7777);
  assert.equal(m.cpu.regs[2] & (CF | ZF), CF);
});

Deno.test("VM entry under VMCS shadowing: link pointer must name a shadow VMCS, bitmaps must be 4K-aligned", () => {
  // A link pointer whose region is an ordinary VMCS (bit 31 clear): guest-state failure, qualification 4.
  const plain = shadowed(VMCS_REVISION);
  assert.equal(enter(plain.m, plain.vmcs, GUEST).flags, 0);
  assert.equal(plain.vmcs.get(F.VM_EXIT_REASON) >>> 0, (0x80000000 | 33) >>> 0);
  assert.equal(plain.vmcs.get(F.EXIT_QUALIFICATION), 4);
  // An unaligned VMWRITE bitmap: VMfailValid(7), invalid control field.
  const { m, vmcs } = shadowed();
  vmcs.set(F.VMWRITE_BITMAP, WRITE_BITMAP + 8);
  assert.equal(enter(m, vmcs, GUEST).flags, ZF);
  assert.equal(vmcs.get(F.VM_INSTRUCTION_ERROR), 7);
});
