/**
 * VMLAUNCH/VMRESUME and VM exits, checked against the SDM: VMfailValid 4/5/7/8, guest-state
 * failure as an exit with bit 31 and reason 33, the instruction exits (CPUID, HLT, I/O, VMCALL,
 * CR access), exceptions through the exception bitmap, triple fault, event injection, and the
 * guest and host state moved at entry and exit.
 */
import assert from "node:assert/strict";
import { F, vmxState } from "../../../lib/cpu/vmx/mod.ts";
import { withFeatures } from "../../../lib/cpu/models.ts";
import {
  asm,
  CODE,
  DATA,
  enter,
  exec,
  GUEST_CODE,
  GUEST_STACK,
  HOST_STACK,
  OPERAND,
  poke64,
  setup,
  VECTOR_AT,
  VMCS_A,
} from "./harness.ts";

const CF = 1, ZF = 0x40;

Deno.test("VMLAUNCH runs the guest; CPUID, HLT, OUT and VMCALL exit with reason, length and qualification", () => {
  const { m, vmcs } = setup();
  // cpuid; hlt; out 0x80, al; in al, dx; vmcall
  const guest = [0x0f, 0xa2, 0xf4, 0xe6, 0x80, 0xec, 0x0f, 0x01, 0xc1];
  assert.equal(enter(m, vmcs, guest).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 10);
  assert.equal(vmcs.get(F.VM_EXIT_INSTRUCTION_LEN), 2);
  assert.equal(vmcs.get(F.GUEST_RIP), GUEST_CODE);
  assert.equal(m.cpu.eip, CODE + 4); // after the host's HLT
  assert.equal(m.cpu.regs[4], HOST_STACK);
  assert.equal(vmxState(m.cpu).nonRoot, false);
  const steps: [number, number, number][] = [
    [12, 0, 1],
    [30, (0x80 << 16) | 0x40, 2], // OUT imm8, byte
    [30, (0x1234 << 16) | 0x08, 1], // IN DX, byte
    [18, 0, 3],
  ];
  m.cpu.regs[2] = 0x1234;
  let rip = GUEST_CODE + 2;
  for (const [reason, qual, len] of steps) {
    vmcs.set(F.GUEST_RIP, rip);
    assert.equal(enter(m, vmcs, guest, true).flags, 0);
    assert.equal(vmcs.get(F.VM_EXIT_REASON), reason);
    assert.equal(vmcs.get(F.EXIT_QUALIFICATION) >>> 0, qual >>> 0);
    assert.equal(vmcs.get(F.VM_EXIT_INSTRUCTION_LEN), len);
    assert.equal(vmcs.get(F.GUEST_RIP), rip);
    rip += len;
  }
});

Deno.test("OUTS and INS exits report instruction information and the guest-linear address", () => {
  const { m, vmcs } = setup();
  // mov esi, 0x5000 ; fs outsb ; mov edi, 0x5100 ; rep insw (o16)
  const guest = [0xbe, 0x00, 0x50, 0, 0, 0x64, 0x6e, 0xbf, 0x00, 0x51, 0, 0, 0xf3, 0x66, 0x6d];
  m.cpu.regs[2] = 0x3f8;
  assert.equal(enter(m, vmcs, guest).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 30);
  assert.equal(vmcs.get(F.EXIT_QUALIFICATION) >>> 0, ((0x3f8 << 16) | 0x10) >>> 0);
  assert.equal(vmcs.get(F.VMX_INSTRUCTION_INFO), (1 << 7) | (4 << 15));
  assert.equal(vmcs.get(F.GUEST_LINEAR_ADDRESS), 0x5000);
  assert.equal(vmcs.get(F.VM_EXIT_INSTRUCTION_LEN), 2);
  vmcs.set(F.GUEST_RIP, GUEST_CODE + 7);
  assert.equal(enter(m, vmcs, guest, true).flags, 0);
  assert.equal(vmcs.get(F.EXIT_QUALIFICATION) >>> 0, ((0x3f8 << 16) | 0x39) >>> 0);
  assert.equal(vmcs.get(F.VMX_INSTRUCTION_INFO), 1 << 7);
  assert.equal(vmcs.get(F.GUEST_LINEAR_ADDRESS), 0x5100);
});

Deno.test("VMLAUNCH of a launched VMCS is VMfailValid(4), VMRESUME of a clear one (5)", () => {
  const { m, vmcs } = setup();
  assert.equal(enter(m, vmcs, [0xf4]).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 12);
  assert.equal(enter(m, vmcs, [0xf4]).flags, ZF);
  assert.equal(vmcs.get(F.VM_INSTRUCTION_ERROR), 4);
  vmcs.launchState = 0;
  assert.equal(enter(m, vmcs, [0xf4], true).flags, ZF);
  assert.equal(vmcs.get(F.VM_INSTRUCTION_ERROR), 5);
  poke64(m, OPERAND, VMCS_A);
  exec(m, asm.vmclear(OPERAND));
  assert.equal(enter(m, vmcs, [0xf4]).flags, CF);
});

Deno.test("entry checks: bad controls fail with 7, bad host state with 8, bad guest state exits with 0x80000021", () => {
  const { m, vmcs } = setup();
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, 0x04006172 | (1 << 19)); // CR8-load exiting: no Intel 64
  assert.equal(enter(m, vmcs, [0xf4]).flags, ZF);
  assert.equal(vmcs.get(F.VM_INSTRUCTION_ERROR), 7);
  // TPR shadow: the threshold may not exceed VTPR[7:4]; VPID: 0 is not a guest's.
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, 0x04006172 | (1 << 21));
  vmcs.set(F.VIRTUAL_APIC_PAGE_ADDR, DATA + 0xa000);
  m.bus.write8(DATA + 0xa080, 0x20);
  vmcs.set(F.TPR_THRESHOLD, 3);
  assert.equal(enter(m, vmcs, [0xf4]).flags, ZF);
  assert.equal(vmcs.get(F.VM_INSTRUCTION_ERROR), 7);
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, 0x04006172 | (1 << 31));
  vmcs.set(F.SECONDARY_VM_EXEC_CONTROL, 1 << 5);
  assert.equal(enter(m, vmcs, [0xf4]).flags, ZF);
  assert.equal(vmcs.get(F.VM_INSTRUCTION_ERROR), 7);
  vmcs.set(F.VIRTUAL_PROCESSOR_ID, 1);
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, 0x04006172 | (1 << 7) | (1 << 21) | (1 << 31));
  vmcs.set(F.TPR_THRESHOLD, 2);
  assert.equal(enter(m, vmcs, [0xf4]).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 12);
  vmcs.launchState = 0;
  vmcs.set(F.SECONDARY_VM_EXEC_CONTROL, 0);
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, 0x04006170); // a default1 bit clear
  assert.equal(enter(m, vmcs, [0xf4]).flags, ZF);
  assert.equal(vmcs.get(F.VM_INSTRUCTION_ERROR), 7);
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, 0x04006172 | (1 << 7));
  vmcs.set(F.VM_ENTRY_INTR_INFO_FIELD, 0x80000100); // reserved type 1
  assert.equal(enter(m, vmcs, [0xf4]).flags, ZF);
  assert.equal(vmcs.get(F.VM_INSTRUCTION_ERROR), 7);
  vmcs.set(F.VM_ENTRY_INTR_INFO_FIELD, 0);
  vmcs.set(F.HOST_CS_SELECTOR, 0);
  assert.equal(enter(m, vmcs, [0xf4]).flags, ZF);
  assert.equal(vmcs.get(F.VM_INSTRUCTION_ERROR), 8);
  vmcs.set(F.HOST_CS_SELECTOR, 9); // RPL 1
  assert.equal(enter(m, vmcs, [0xf4]).flags, ZF);
  assert.equal(vmcs.get(F.VM_INSTRUCTION_ERROR), 8);
  vmcs.set(F.HOST_CS_SELECTOR, 8);
  vmcs.set(F.GUEST_RFLAGS, 0); // bit 1 must be 1
  assert.equal(enter(m, vmcs, [0xf4]).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON) >>> 0, 0x80000021);
  assert.equal(m.cpu.eip, CODE + 4);
  assert.equal(vmcs.launchState, 0);
  vmcs.set(F.GUEST_RFLAGS, 2);
  vmcs.set(F.VMCS_LINK_POINTER, 0);
  assert.equal(enter(m, vmcs, [0xf4]).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON) >>> 0, 0x80000021);
  assert.equal(vmcs.get(F.EXIT_QUALIFICATION), 4);
  vmcs.set(F.VMCS_LINK_POINTER, -1);
  vmcs.set(F.GUEST_CS_AR_BYTES, 0xc093); // data segment in CS
  assert.equal(enter(m, vmcs, [0xf4]).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON) >>> 0, 0x80000021);
});

Deno.test("exception bitmap, #PF error-code mask/match, triple fault, event injection", () => {
  const { m, vmcs } = setup();
  vmcs.set(F.EXCEPTION_BITMAP, 1 << 6);
  assert.equal(enter(m, vmcs, [0x0f, 0x0b]).flags, 0); // ud2
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 0);
  assert.equal(vmcs.get(F.VM_EXIT_INTR_INFO) >>> 0, 0x80000306);
  assert.equal(vmcs.get(F.GUEST_RIP), GUEST_CODE);
  // #GP(0x18) from a bad far load: the error code is reported.
  vmcs.set(F.EXCEPTION_BITMAP, 1 << 13);
  vmcs.launchState = 0;
  // mov ax, 0x1b ; mov ds, ax  (selector 0x18 is past the GDT limit)
  assert.equal(enter(m, vmcs, [0x66, 0xb8, 0x1b, 0x00, 0x8e, 0xd8]).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_INTR_INFO) >>> 0, 0x80000b0d);
  assert.equal(vmcs.get(F.VM_EXIT_INTR_ERROR_CODE), 0x18);
  // Not in the bitmap: delivered through the guest IDT (the stub stores 6 and halts -> HLT exit).
  vmcs.set(F.EXCEPTION_BITMAP, 0);
  vmcs.launchState = 0;
  assert.equal(enter(m, vmcs, [0x0f, 0x0b]).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 12);
  assert.equal(m.bus.read8(VECTOR_AT), 6);
  // #PF filtered by error-code mask/match: with bit 14 set, only writes (P=0, W/R=1) exit.
  m.bus.write32(0x10000 + 4, 0); // the identity PDE for 4-8 MiB: not present
  m.cpu.flushTlb();
  vmcs.set(F.EXCEPTION_BITMAP, 1 << 14);
  vmcs.set(F.PAGE_FAULT_ERROR_CODE_MASK, 2);
  vmcs.set(F.PAGE_FAULT_ERROR_CODE_MATCH, 2);
  vmcs.launchState = 0;
  assert.equal(enter(m, vmcs, [0xa3, 0x10, 0x00, 0x40, 0x00]).flags, 0); // mov [0x400010], eax
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 0);
  assert.equal(vmcs.get(F.VM_EXIT_INTR_INFO) >>> 0, 0x80000b0e);
  assert.equal(vmcs.get(F.VM_EXIT_INTR_ERROR_CODE), 2);
  assert.equal(vmcs.get(F.EXIT_QUALIFICATION), 0x400010);
  vmcs.launchState = 0;
  assert.equal(enter(m, vmcs, [0xa1, 0x10, 0x00, 0x40, 0x00]).flags, 0); // mov eax, [0x400010]
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 12);
  assert.equal(m.bus.read8(VECTOR_AT), 14);
  vmcs.set(F.EXCEPTION_BITMAP, 0);
  // Triple fault: no usable IDT.
  vmcs.set(F.GUEST_IDTR_LIMIT, 0);
  vmcs.launchState = 0;
  assert.equal(enter(m, vmcs, [0x0f, 0x0b]).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 2);
  assert.equal(m.bus.resetRequested, false);
  // Injection of #BP (type 6, software exception, length 1) through the guest IDT.
  vmcs.set(F.GUEST_IDTR_LIMIT, 32 * 8 - 1);
  vmcs.set(F.VM_ENTRY_INTR_INFO_FIELD, 0x80000603);
  vmcs.set(F.VM_ENTRY_INSTRUCTION_LEN, 1);
  vmcs.launchState = 0;
  assert.equal(enter(m, vmcs, [0xcc]).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 12);
  assert.equal(m.bus.read8(VECTOR_AT), 3);
  assert.equal(m.bus.read32(GUEST_STACK - 12), GUEST_CODE + 1); // pushed EIP is after the INT3
  assert.equal(vmcs.get(F.VM_ENTRY_INTR_INFO_FIELD) >>> 31, 0);
});

Deno.test("CR access: CR0 guest/host mask and read shadow, CR3-load exiting", () => {
  const { m, vmcs } = setup();
  const cr0 = m.cpu.cr[0];
  vmcs.set(F.CR0_GUEST_HOST_MASK, 0x8);
  vmcs.set(F.CR0_READ_SHADOW, 0x8);
  // mov eax, cr0 ; mov ebx, eax ; and eax, ~8 ; mov cr0, eax
  const guest = [0x0f, 0x20, 0xc0, 0x89, 0xc3, 0x83, 0xe0, 0xf7, 0x0f, 0x22, 0xc0];
  assert.equal(enter(m, vmcs, guest).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 28);
  assert.equal(vmcs.get(F.EXIT_QUALIFICATION), 0); // CR0, MOV to, EAX
  assert.equal(vmcs.get(F.GUEST_RIP), GUEST_CODE + 8);
  assert.equal(m.cpu.regs[3] >>> 0, (cr0 | 8) >>> 0); // the shadow's TS was read
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, 0x04006172 | (1 << 7) | (1 << 15));
  vmcs.launchState = 0;
  // mov cr3, ecx
  assert.equal(enter(m, vmcs, [0x0f, 0x22, 0xd9]).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 28);
  assert.equal(vmcs.get(F.EXIT_QUALIFICATION), 0x103);
});

Deno.test("VMX-preemption timer: value 0 exits before the first guest instruction, and the value is saved", () => {
  const { m, vmcs } = setup();
  vmcs.set(F.PIN_BASED_VM_EXEC_CONTROL, 0x16 | (1 << 6));
  vmcs.set(F.VM_EXIT_CONTROLS, 0x00036dfb | (1 << 22));
  vmcs.set(F.VMX_PREEMPTION_TIMER_VALUE, 0);
  assert.equal(enter(m, vmcs, [0x0f, 0xa2]).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 52);
  assert.equal(vmcs.get(F.GUEST_RIP), GUEST_CODE);
  // A large value: CPUID exits first and the saved value has not reached zero.
  vmcs.set(F.VMX_PREEMPTION_TIMER_VALUE, 0x10000000);
  assert.equal(enter(m, vmcs, [0x0f, 0xa2], true).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 10);
  assert.ok(vmcs.get(F.VMX_PREEMPTION_TIMER_VALUE) > 0);
  assert.ok(vmcs.get(F.VMX_PREEMPTION_TIMER_VALUE) <= 0x10000000);
});

Deno.test("EPT: translation with 2 MiB pages, accessed/dirty flags, violation and misconfiguration", () => {
  const { m, vmcs } = setup();
  const PML4 = DATA + 0x4000, PDPT = DATA + 0x5000, PD = DATA + 0x6000;
  m.bus.write32(PML4, PDPT | 7);
  m.bus.write32(PDPT, PD | 7);
  m.bus.write32(PD, 0 | 7 | (6 << 3) | 0x80); // GPA 0-2 MiB -> HPA 0, RWX, WB
  m.bus.write32(PD + 8, 0 | 5 | (6 << 3) | 0x80); // GPA 2-4 MiB -> HPA 0, read/execute only
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, 0x04006172 | (1 << 7) | (1 << 31));
  vmcs.set(F.SECONDARY_VM_EXEC_CONTROL, 1 << 1);
  vmcs.set(F.EPT_POINTER, PML4 | 6 | (3 << 3) | (1 << 6));
  // mov eax, [0x200010] ; mov [0x200010], eax
  const guest = [0xa1, 0x10, 0x00, 0x20, 0x00, 0xa3, 0x10, 0x00, 0x20, 0x00];
  m.bus.write32(0x10, 0x600d);
  assert.equal(enter(m, vmcs, guest).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 48);
  assert.equal(vmcs.get(F.EXIT_QUALIFICATION), 2 | (5 << 3) | (1 << 7) | (1 << 8));
  assert.equal(vmcs.get(F.GUEST_PHYSICAL_ADDRESS), 0x200010);
  assert.equal(vmcs.get(F.GUEST_LINEAR_ADDRESS), 0x200010);
  assert.equal(vmcs.get(F.GUEST_RIP), GUEST_CODE + 5);
  assert.equal(m.cpu.regs[0], 0x600d); // the read went through GPA 0x200010 -> HPA 0x10
  assert.equal(m.bus.read32(PD) & 0x300, 0x300); // accessed, and dirty (the guest's page-table A/D writes)
  assert.equal(m.bus.read32(PD + 8) & 0x300, 0x100); // read only: accessed, not dirty
  // Misconfiguration: write without read.
  m.bus.write32(PD + 8, 2 | (6 << 3) | 0x80);
  vmcs.launchState = 0;
  assert.equal(enter(m, vmcs, guest).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 49);
  assert.equal(vmcs.get(F.GUEST_PHYSICAL_ADDRESS), 0x200010);
  // A bad EPTP (walk length 3 instead of 4) fails the entry with error 7.
  vmcs.set(F.EPT_POINTER, PML4 | 6 | (2 << 3));
  vmcs.launchState = 0;
  assert.equal(enter(m, vmcs, guest).flags, ZF);
  assert.equal(vmcs.get(F.VM_INSTRUCTION_ERROR), 7);
});

Deno.test("RDMSR/WRMSR exit unless the MSR bitmap clears them; RDTSC, INVLPG, MOV DR and I/O-bitmap exits", () => {
  const { m, vmcs } = setup();
  const MSR_BITMAP = DATA + 0x7000, IO_A = DATA + 0x8000, IO_B = DATA + 0x9000;
  const proc = 0x04006172 | (1 << 7);
  // mov ecx, 0x174 ; rdmsr ; wrmsr ; rdtsc ; invlpg [0x1234] ; mov eax, dr7 ; out 0x81, al ; out 0x80, al
  const guest = [
    ...asm.mov("ecx", 0x174),
    ...asm.rdmsr(),
    ...asm.wrmsr(),
    0x0f,
    0x31,
    0x0f,
    0x01,
    0x3d,
    0x34,
    0x12,
    0,
    0,
    0x0f,
    0x21,
    0xf8,
    0xe6,
    0x81,
    0xe6,
    0x80,
  ];
  const at = (n: number) => GUEST_CODE + n;
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, proc);
  assert.equal(enter(m, vmcs, guest).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 31); // no MSR bitmaps: every RDMSR exits
  assert.equal(vmcs.get(F.GUEST_RIP), at(5));
  // With MSR bitmaps: reads of 0x174 pass, writes exit (write-low quarter, bit 0x174).
  m.bus.write8(MSR_BITMAP + 0x800 + (0x174 >> 3), 1 << (0x174 & 7));
  vmcs.set(F.MSR_BITMAP, MSR_BITMAP);
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, proc | (1 << 28) | (1 << 12) | (1 << 9) | (1 << 23) | (1 << 25));
  vmcs.set(F.IO_BITMAP_A, IO_A);
  vmcs.set(F.IO_BITMAP_B, IO_B);
  m.bus.write8(IO_A + (0x80 >> 3), 1 << (0x80 & 7));
  const expect: [number, number, number][] = [
    [32, 0, 7],
    [16, 0, 9],
    [14, 0x1234, 11],
    [29, 7 | (1 << 4), 18],
    [30, (0x80 << 16) | 0x40, 23], // port 0x81 (clear in bitmap A) did not exit
  ];
  vmcs.set(F.GUEST_RIP, at(5));
  for (const [reason, qual, rip] of expect) {
    assert.equal(enter(m, vmcs, guest, true).flags, 0);
    assert.equal(vmcs.get(F.VM_EXIT_REASON), reason);
    assert.equal(vmcs.get(F.EXIT_QUALIFICATION), qual);
    assert.equal(vmcs.get(F.GUEST_RIP), at(rip));
    vmcs.set(F.GUEST_RIP, at(rip + vmcs.get(F.VM_EXIT_INSTRUCTION_LEN)));
  }
});

Deno.test("external-interrupt exiting with acknowledge on exit, interrupt window, NMI exiting", () => {
  const { m, vmcs } = setup();
  let acks = 0;
  m.bus.interruptController = { acknowledge: () => (acks++, 0x30) };
  // sti ; nop ; jmp $
  const guest = [0xfb, 0x90, 0xeb, 0xfe];
  vmcs.set(F.PIN_BASED_VM_EXEC_CONTROL, 0x16 | 1);
  vmcs.set(F.VM_EXIT_CONTROLS, 0x00036dfb | (1 << 15));
  m.bus.setIntr(true);
  assert.equal(enter(m, vmcs, guest).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 1);
  assert.equal(vmcs.get(F.VM_EXIT_INTR_INFO) >>> 0, 0x80000030);
  assert.equal(vmcs.get(F.GUEST_RIP), GUEST_CODE); // IF=0 does not hold it back
  assert.equal(acks, 1);
  // Without acknowledge-on-exit the interrupt stays pending and the info is invalid.
  vmcs.set(F.VM_EXIT_CONTROLS, 0x00036dfb);
  vmcs.launchState = 0;
  assert.equal(enter(m, vmcs, guest).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 1);
  assert.equal(vmcs.get(F.VM_EXIT_INTR_INFO), 0);
  assert.equal(acks, 1);
  m.bus.setIntr(false);
  // Interrupt window: exits once STI's shadow has passed (after the NOP).
  vmcs.set(F.PIN_BASED_VM_EXEC_CONTROL, 0x16);
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, 0x04006172 | (1 << 2));
  vmcs.launchState = 0;
  assert.equal(enter(m, vmcs, guest).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 7);
  assert.equal(vmcs.get(F.GUEST_RIP), GUEST_CODE + 2);
  // NMI exiting: the NMI exits as exception-or-NMI with type 2.
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, 0x04006172);
  vmcs.set(F.PIN_BASED_VM_EXEC_CONTROL, 0x16 | (1 << 3));
  // The host is in an NMI handler (NMIs blocked), so the NMI waits for the guest, whose
  // interruptibility state does not block it.
  m.cpu.nmiBlocked = true;
  m.bus.raiseNmi();
  vmcs.launchState = 0;
  assert.equal(enter(m, vmcs, guest).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 0);
  assert.equal(vmcs.get(F.VM_EXIT_INTR_INFO) >>> 0, 0x80000202);
  assert.equal(m.cpu.nmiBlocked, true);
});

Deno.test("unrestricted guest: a real-mode L2 under EPT; refused without EPT or without the control", () => {
  const { m, vmcs } = setup();
  const PML4 = DATA + 0x4000, PDPT = DATA + 0x5000, PD = DATA + 0x6000;
  m.bus.write32(PML4, PDPT | 7);
  m.bus.write32(PDPT, PD | 7);
  m.bus.write32(PD, 0 | 7 | (6 << 3) | 0x80);
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, 0x04006172 | (1 << 7) | (1 << 24) | (1 << 31));
  vmcs.set(F.SECONDARY_VM_EXEC_CONTROL, (1 << 1) | (1 << 7));
  vmcs.set(F.EPT_POINTER, PML4 | 6 | (3 << 3));
  vmcs.set(F.GUEST_CR0, 0x30); // real mode: PE and PG clear
  for (const s of ["ES", "CS", "SS", "DS", "FS", "GS"]) {
    vmcs.set(F[`GUEST_${s}_SELECTOR`], s === "CS" ? GUEST_CODE >> 4 : 0);
    vmcs.set(F[`GUEST_${s}_BASE`], s === "CS" ? GUEST_CODE : 0);
    vmcs.set(F[`GUEST_${s}_LIMIT`], 0xffff);
    vmcs.set(F[`GUEST_${s}_AR_BYTES`], 0x93);
  }
  // mov al, 0x42 ; out 0x80, al ; hlt  (16-bit code at CS:0)
  const guest = [0xb0, 0x42, 0xe6, 0x80, 0xf4];
  guest.forEach((b, k) => m.bus.write8(GUEST_CODE + k, b));
  const launch = () => {
    vmcs.set(F.GUEST_RIP, 0);
    vmcs.set(F.GUEST_RSP, 0x7000);
    vmcs.set(F.HOST_RIP, CODE + 3);
    vmcs.launchState = 0;
    return exec(m, asm.vmlaunch());
  };
  assert.equal(launch().flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 30);
  assert.equal(vmcs.get(F.EXIT_QUALIFICATION), (0x80 << 16) | 0x40);
  assert.equal(vmcs.get(F.GUEST_RIP), 2);
  assert.equal(vmcs.get(F.GUEST_CR0), 0x30);
  assert.equal(vmcs.get(F.GUEST_CS_BASE), GUEST_CODE);
  vmcs.set(F.GUEST_RIP, 4);
  vmcs.set(F.HOST_RIP, CODE + 3);
  assert.equal(exec(m, asm.vmresume()).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 12);
  // Unrestricted guest without EPT: a control error.
  vmcs.set(F.SECONDARY_VM_EXEC_CONTROL, 1 << 7);
  assert.equal(launch().flags, ZF);
  assert.equal(vmcs.get(F.VM_INSTRUCTION_ERROR), 7);
  // Real mode without unrestricted guest: invalid guest state.
  vmcs.set(F.SECONDARY_VM_EXEC_CONTROL, 1 << 1);
  assert.equal(launch().flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON) >>> 0, 0x80000021);
});

Deno.test("onExit: an L0 in TypeScript hears each exit after host state is loaded", () => {
  const { m, vmcs } = setup();
  const heard: number[] = [];
  vmxState(m.cpu).onExit = (e) => heard.push(e.reason, m.cpu.vmxNonRoot ? 1 : 0);
  assert.equal(enter(m, vmcs, [0x0f, 0xa2]).flags, 0);
  assert.deepEqual(heard, [10, 0]);
});

Deno.test("VMX instructions in the guest exit with instruction information and the displacement", () => {
  const { m, vmcs } = setup();
  const cases: [number[], number, number, number][] = [
    // vmread eax, ecx: register form (bit 10), Reg1 = EAX (6:3), Reg2 = ECX (31:28)
    [[0x0f, 0x78, 0xc8], 23, 0, (1 << 28) | (1 << 10)],
    // vmwrite edx, [ebx+0x20]: Reg2 = EDX, 32-bit address, DS, no index, base EBX
    [[0x0f, 0x79, 0x53, 0x20], 25, 0x20, (2 << 28) | (1 << 7) | (3 << 15) | (1 << 22) | (3 << 23)],
    // vmptrst [ebx+esi*4+0x10]: scaling 2, index ESI, base EBX
    [[0x0f, 0xc7, 0x7c, 0xb3, 0x10], 22, 0x10, 2 | (1 << 7) | (3 << 15) | (6 << 18) | (3 << 23)],
    // vmxon [0x1234]: no base, no index
    [[0xf3, 0x0f, 0xc7, 0x35, 0x34, 0x12, 0, 0], 27, 0x1234, (1 << 7) | (3 << 15) | (1 << 22) | (1 << 27)],
    // vmclear ss:[esp]: SS, base ESP
    [[0x66, 0x0f, 0xc7, 0x34, 0x24], 19, 0, (1 << 7) | (2 << 15) | (1 << 22) | (4 << 23)],
    // invvpid ecx, es:[edx]: Reg2 = ECX (the type)
    [[0x26, 0x66, 0x0f, 0x38, 0x81, 0x0a], 53, 0, (1 << 28) | (1 << 7) | (1 << 22) | (2 << 23)],
  ];
  for (const [code, reason, qualification, info] of cases) {
    vmcs.launchState = 0;
    assert.equal(enter(m, vmcs, code).flags, 0);
    assert.equal(vmcs.get(F.VM_EXIT_REASON), reason, `reason ${reason}`);
    assert.equal(vmcs.get(F.EXIT_QUALIFICATION), qualification, `reason ${reason}`);
    assert.equal(vmcs.get(F.VMX_INSTRUCTION_INFO) >>> 0, info >>> 0, `reason ${reason}`);
    assert.equal(vmcs.get(F.VM_EXIT_INSTRUCTION_LEN), code.length, `reason ${reason}`);
  }
});

Deno.test("PAUSE exits with PAUSE exiting (reason 40, length 2) and is a NOP without it", () => {
  const { m, vmcs } = setup();
  const base = 0x04006172 | (1 << 7) | (1 << 24);
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, base | (1 << 30));
  // pause; cpuid
  assert.equal(enter(m, vmcs, [0xf3, 0x90, 0x0f, 0xa2]).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 40);
  assert.equal(vmcs.get(F.VM_EXIT_INSTRUCTION_LEN), 2);
  assert.equal(vmcs.get(F.EXIT_QUALIFICATION), 0);
  assert.equal(vmcs.get(F.GUEST_RIP), GUEST_CODE);
  // A plain NOP (90) never exits; PAUSE without the control runs on to CPUID.
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, base);
  vmcs.launchState = 0;
  assert.equal(enter(m, vmcs, [0x90, 0xf3, 0x90, 0x0f, 0xa2]).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 10);
  assert.equal(vmcs.get(F.GUEST_RIP), GUEST_CODE + 3);
});

Deno.test("monitor trap flag: an exit (reason 37) after each guest instruction, at the next one's address", () => {
  const { m, vmcs } = setup();
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, 0x04006172 | (1 << 7) | (1 << 24) | (1 << 27));
  // inc eax; inc eax; nop; cpuid
  const guest = [0x40, 0x40, 0x90, 0x0f, 0xa2];
  m.cpu.regs[0] = 0;
  assert.equal(enter(m, vmcs, guest).flags, 0);
  const rips: number[] = [];
  for (let k = 0; k < 3; k++) {
    assert.equal(vmcs.get(F.VM_EXIT_REASON), 37);
    assert.equal(vmcs.get(F.EXIT_QUALIFICATION), 0);
    rips.push(vmcs.get(F.GUEST_RIP) - GUEST_CODE);
    assert.equal(enter(m, vmcs, guest, true).flags, 0);
  }
  assert.deepEqual(rips, [1, 2, 3]);
  // The instruction at 3 is CPUID, which exits by itself before the MTF would.
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 10);
  assert.equal(m.cpu.regs[0], 2); // both INCs ran once each, one per MTF exit
  // Without the control the same code runs straight to CPUID.
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, 0x04006172 | (1 << 7) | (1 << 24));
  vmcs.launchState = 0;
  assert.equal(enter(m, vmcs, guest).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 10);
  assert.equal(vmcs.get(F.GUEST_RIP), GUEST_CODE + 3);
});

Deno.test("MONITOR and MWAIT: #UD without CPUID.MONITOR, exits 39 and 36 (armed bit) by control, NOPs otherwise", () => {
  const { m, vmcs } = setup();
  const base = 0x04006172 | (1 << 7) | (1 << 24);
  // monitor; mwait; cpuid (EAX = ECX = EDX = 0)
  const guest = [0x0f, 0x01, 0xc8, 0x0f, 0x01, 0xc9, 0x0f, 0xa2];
  m.cpu.regs[0] = m.cpu.regs[1] = m.cpu.regs[2] = 0;
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, base | (1 << 29) | (1 << 10));
  vmcs.set(F.EXCEPTION_BITMAP, 1 << 6);
  // qemu32 has no MONITOR: the #UD comes before any VMX exit.
  assert.equal(enter(m, vmcs, guest).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 0);
  assert.equal(vmcs.get(F.VM_EXIT_INTR_INFO) & 0xff, 6);
  m.cpu.model = withFeatures(m.cpu.model, { monitor: true });
  vmcs.launchState = 0;
  assert.equal(enter(m, vmcs, guest).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 39);
  assert.equal(vmcs.get(F.VM_EXIT_INSTRUCTION_LEN), 3);
  // MONITOR exited, so nothing was armed: MWAIT's qualification bit 0 is clear.
  vmcs.set(F.GUEST_RIP, GUEST_CODE + 3);
  assert.equal(enter(m, vmcs, guest, true).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 36);
  assert.equal(vmcs.get(F.EXIT_QUALIFICATION), 0);
  // With MONITOR running in the guest, MWAIT exits with the monitor armed.
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, base | (1 << 10));
  vmcs.launchState = 0;
  assert.equal(enter(m, vmcs, guest).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 36);
  assert.equal(vmcs.get(F.EXIT_QUALIFICATION), 1);
  // Without either control both are NOPs and CPUID exits.
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, base);
  vmcs.launchState = 0;
  assert.equal(enter(m, vmcs, guest).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 10);
  assert.equal(vmcs.get(F.GUEST_RIP), GUEST_CODE + 6);
});

Deno.test("descriptor-table exiting: GDTR/IDTR (46) and LDTR/TR (47) accesses with instruction information", () => {
  const { m, vmcs } = setup();
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, 0x04006172 | (1 << 7) | (1 << 24) | (1 << 31));
  vmcs.set(F.SECONDARY_VM_EXEC_CONTROL, 1 << 2);
  const mem32 = (1 << 7) | (3 << 15); // 32-bit address size, DS
  const cases: [number[], number, number, number][] = [
    // sgdt [ebx+8]: identity 0, operand size 32 (bit 11), base EBX, no index
    [[0x0f, 0x01, 0x43, 0x08], 46, 8, mem32 | (1 << 11) | (1 << 22) | (3 << 23)],
    // o16 sidt [0x1234]: identity 1, operand size 16
    [[0x66, 0x0f, 0x01, 0x0d, 0x34, 0x12, 0, 0], 46, 0x1234, (1 << 28) | mem32 | (1 << 22) | (1 << 27)],
    // lgdt [esi]: identity 2
    [[0x0f, 0x01, 0x16], 46, 0, (2 << 28) | mem32 | (1 << 11) | (1 << 22) | (6 << 23)],
    // lidt [eax+ecx*2]: identity 3, scaling 1, index ECX, base EAX
    [[0x0f, 0x01, 0x1c, 0x48], 46, 0, (3 << 28) | 1 | mem32 | (1 << 11) | (1 << 18) | (0 << 23)],
    // sldt edx: identity 0, register form (bit 10), Reg1 = EDX
    [[0x0f, 0x00, 0xc2], 47, 0, (1 << 10) | (2 << 3)],
    // str [ecx]: identity 1
    [[0x0f, 0x00, 0x09], 47, 0, (1 << 28) | mem32 | (1 << 22) | (1 << 23)],
    // lldt ax: identity 2
    [[0x0f, 0x00, 0xd0], 47, 0, (2 << 28) | (1 << 10)],
    // ltr bx: identity 3
    [[0x0f, 0x00, 0xdb], 47, 0, (3 << 28) | (1 << 10) | (3 << 3)],
  ];
  for (const [code, reason, qualification, info] of cases) {
    vmcs.launchState = 0;
    assert.equal(enter(m, vmcs, code).flags, 0);
    assert.equal(vmcs.get(F.VM_EXIT_REASON), reason, code.join(","));
    assert.equal(vmcs.get(F.EXIT_QUALIFICATION), qualification, code.join(","));
    assert.equal(vmcs.get(F.VMX_INSTRUCTION_INFO) >>> 0, info >>> 0, code.join(","));
    assert.equal(vmcs.get(F.VM_EXIT_INSTRUCTION_LEN), code.length, code.join(","));
  }
  // Without the control SGDT runs (then CPUID exits).
  vmcs.set(F.SECONDARY_VM_EXEC_CONTROL, 0);
  vmcs.launchState = 0;
  m.cpu.regs[3] = DATA;
  assert.equal(enter(m, vmcs, [0x0f, 0x01, 0x43, 0x08, 0x0f, 0xa2]).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 10);
  assert.equal(m.bus.read16(DATA + 8), 23); // the guest's GDT limit
});

Deno.test("task switches exit with reason 9: new TSS selector and source (CALL 0, IRET 1, JMP 2, IDT 3)", () => {
  const { m, vmcs } = setup();
  const TSS_SEL = 0x20, TR_BASE = 0x7000;
  // An available 32-bit TSS at 0x7800 (selector 0x20) and the current task's TSS at TR_BASE.
  m.bus.write32(0x2000 + TSS_SEL, 0x78000067);
  m.bus.write32(0x2000 + TSS_SEL + 4, 0x00008900);
  vmcs.set(F.GUEST_GDTR_LIMIT, 0x2f);
  vmcs.set(F.GUEST_TR_BASE, TR_BASE);
  m.bus.write32(TR_BASE, TSS_SEL); // back link, for IRET with NT
  // Task gates: INT 0x1e (DPL 3) and #DF.
  const taskGate = (v: number, dpl: number) => {
    m.bus.write32(0x3000 + v * 8, TSS_SEL << 16);
    m.bus.write32(0x3000 + v * 8 + 4, 0x8500 | (dpl << 13));
  };
  taskGate(0x1e, 3);
  taskGate(8, 0);
  const cases: [string, number[], number, number, number][] = [
    ["call far", [0x9a, 0, 0, 0, 0, TSS_SEL, 0], 2, 0x00000020, 7],
    ["jmp far", [0xea, 0, 0, 0, 0, TSS_SEL, 0], 2, 0x80000020, 7],
    ["iret with NT", [0xcf], 0x4002, 0x40000020, 1],
  ];
  for (const [what, guest, rflags, qualification, length] of cases) {
    vmcs.set(F.GUEST_RFLAGS, rflags);
    vmcs.launchState = 0;
    assert.equal(enter(m, vmcs, guest).flags, 0, what);
    assert.equal(vmcs.get(F.VM_EXIT_REASON), 9, what);
    assert.equal(vmcs.get(F.EXIT_QUALIFICATION) >>> 0, qualification, what);
    assert.equal(vmcs.get(F.VM_EXIT_INSTRUCTION_LEN), length, what);
    assert.equal(vmcs.get(F.GUEST_RIP), GUEST_CODE, what);
    assert.equal(vmcs.get(F.GUEST_TR_SELECTOR), 0x18, what); // no switch happened
    assert.equal(vmcs.get(F.IDT_VECTORING_INFO_FIELD), 0, what);
  }
  // INT 0x1e through the task gate: the software interrupt is the IDT-vectoring information.
  vmcs.set(F.GUEST_RFLAGS, 2);
  vmcs.launchState = 0;
  assert.equal(enter(m, vmcs, [0xcd, 0x1e]).flags, 0);
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 9);
  assert.equal(vmcs.get(F.EXIT_QUALIFICATION) >>> 0, 0xc0000020);
  assert.equal(vmcs.get(F.IDT_VECTORING_INFO_FIELD) >>> 0, 0x8000041e);
  assert.equal(vmcs.get(F.VM_EXIT_INSTRUCTION_LEN), 2);
  assert.equal(vmcs.get(F.GUEST_RIP), GUEST_CODE);
  // #GP (selector 0x30 past the GDT limit) with a not-present #GP gate: #NP, then #DF through
  // its task gate: a task switch exit reporting the #DF, not a triple fault.
  m.bus.write32(0x3000 + 13 * 8 + 4, 0);
  vmcs.launchState = 0;
  assert.equal(enter(m, vmcs, [0x66, 0xb8, 0x33, 0x00, 0x8e, 0xd8]).flags, 0); // mov ax, 0x33 ; mov ds, ax
  assert.equal(vmcs.get(F.VM_EXIT_REASON), 9);
  assert.equal(vmcs.get(F.EXIT_QUALIFICATION) >>> 0, 0xc0000020);
  assert.equal(vmcs.get(F.IDT_VECTORING_INFO_FIELD) >>> 0, 0x80000b08);
  assert.equal(vmcs.get(F.IDT_VECTORING_ERROR_CODE), 0);
  assert.equal(vmcs.get(F.GUEST_RIP), GUEST_CODE + 4);
});
