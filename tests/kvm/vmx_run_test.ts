/**
 * KVM_RUN through kvm_intel: small real-mode guests (machine code given byte by byte with its
 * assembly beside it) run in VMX non-root operation of the emulated CPU, and every exit comes
 * back in struct kvm_run as Linux fills it: port I/O (plain and string), MMIO reads and writes,
 * HLT, SHUTDOWN, FAIL_ENTRY, INTR; in-kernel handling of CPUID, MSRs and interrupts injected with
 * KVM_INTERRUPT; the module parameters that change it (unrestricted_guest, ignore_msrs).
 */
import assert from "node:assert/strict";
import {
  ioctl,
  KVM,
  Kvm,
  KVM_EXIT,
  KVM_EXIT_IO_IN,
  KVM_EXIT_IO_OUT,
  KVM_INTERNAL_ERROR,
  type KvmVcpu,
  type KvmVm,
} from "../../lib/virt/kvm/mod.ts";
import { errnoOf, kctl, rootWith } from "./support/setup.ts";

const MEM = 0x10000, CODE = 0x1000;

interface Guest {
  kvm: Kvm;
  vm: KvmVm;
  vcpu: KvmVcpu;
  mem: Uint8Array;
  [Symbol.dispose](): void;
}

/** A VM with 64 KiB of RAM at 0, `code` at 0x1000, the vCPU in real mode at 0000:1000. */
function guest(root: string, code: number[], setup?: (mem: Uint8Array) => void): Guest {
  const kvm = Kvm.open({ root });
  const vm = kvm.createVm();
  const mem = new Uint8Array(MEM);
  mem.set(code, CODE);
  setup?.(mem);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guest_phys_addr: 0, memory_size: MEM, userspace_addr: mem });
  const vcpu = vm.createVcpu(0);
  vcpu.setCpuid2(kvm.getSupportedCpuid(256));
  const s = vcpu.getSregs();
  vcpu.setSregs({ ...s, cs: { ...s.cs, base: 0n, selector: 0 } });
  vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(CODE), rsp: 0x8000n, rflags: 2n });
  return {
    kvm,
    vm,
    vcpu,
    mem,
    [Symbol.dispose]() {
      vm.close();
      kvm.close();
    },
  };
}

const root = await rootWith(["kvm_intel"]);

Deno.test("OUT and IN exit with kvm_run.io; IN data from the PIO page lands in AL; HLT exits", () => {
  // mov al, 0x41; out 0x80, al; in al, 0x60; mov bl, al; hlt
  using g = guest(root, [0xb0, 0x41, 0xe6, 0x80, 0xe4, 0x60, 0x88, 0xc3, 0xf4]);
  const run = g.vcpu.kvmRun;
  g.vcpu.run();
  assert.equal(run.exit_reason, KVM_EXIT.IO);
  assert.deepEqual(run.io, { direction: KVM_EXIT_IO_OUT, size: 1, port: 0x80, count: 1, data_offset: 4096 });
  assert.deepEqual([...run.ioData()], [0x41]);
  g.vcpu.run();
  assert.equal(run.exit_reason, KVM_EXIT.IO);
  assert.deepEqual(run.io, { direction: KVM_EXIT_IO_IN, size: 1, port: 0x60, count: 1, data_offset: 4096 });
  run.ioData()[0] = 0x5a;
  g.vcpu.run();
  assert.equal(run.exit_reason, KVM_EXIT.HLT);
  const regs = g.vcpu.getRegs();
  assert.equal(regs.rbx & 0xffn, 0x5an);
  assert.equal(regs.rip, BigInt(CODE + 9), "RIP is past the HLT");
});

Deno.test("REP OUTSB and REP INSB move a page of data through the PIO page", () => {
  // cld; mov si, 0x2000; mov cx, 3; mov dx, 0x3f8; rep outsb; mov di, 0x3000; mov cx, 2; rep insb; hlt
  const code = [0xfc, 0xbe, 0x00, 0x20, 0xb9, 0x03, 0x00, 0xba, 0xf8, 0x03, 0xf3, 0x6e];
  code.push(0xbf, 0x00, 0x30, 0xb9, 0x02, 0x00, 0xf3, 0x6c, 0xf4);
  using g = guest(root, code, (m) => m.set([0x68, 0x69, 0x0a], 0x2000));
  const run = g.vcpu.kvmRun;
  g.vcpu.run();
  assert.equal(run.exit_reason, KVM_EXIT.IO);
  assert.equal(run.io.count, 3);
  assert.equal(new TextDecoder().decode(run.ioData()), "hi\n");
  g.vcpu.run();
  assert.deepEqual(run.io, { direction: KVM_EXIT_IO_IN, size: 1, port: 0x3f8, count: 2, data_offset: 4096 });
  run.ioData().set([7, 9]);
  g.vcpu.run();
  assert.equal(run.exit_reason, KVM_EXIT.HLT);
  assert.deepEqual([...g.mem.subarray(0x3000, 0x3002)], [7, 9]);
  const regs = g.vcpu.getRegs();
  assert.equal(regs.rcx & 0xffffn, 0n);
  assert.equal(regs.rsi & 0xffffn, 0x2003n);
  assert.equal(regs.rdi & 0xffffn, 0x3002n);
});

Deno.test("MMIO outside every slot: writes and reads exit with kvm_run.mmio, read data reaches the guest", () => {
  // mov ax, 0x2000; mov ds, ax; mov word [0x10], 0xbeef; mov bx, [0x24]; hlt   (GPA 0x20010, 0x20024)
  const code = [
    0xb8,
    0x00,
    0x20,
    0x8e,
    0xd8,
    0xc7,
    0x06,
    0x10,
    0x00,
    0xef,
    0xbe,
    0x8b,
    0x1e,
    0x24,
    0x00,
    0xf4,
  ];
  using g = guest(root, code);
  const run = g.vcpu.kvmRun;
  g.vcpu.run();
  assert.equal(run.exit_reason, KVM_EXIT.MMIO);
  const w = run.mmio;
  assert.deepEqual([w.phys_addr, w.len, w.is_write, [...w.data.subarray(0, 2)]], [0x20010n, 2, 1, [
    0xef,
    0xbe,
  ]]);
  g.vcpu.run();
  assert.equal(run.exit_reason, KVM_EXIT.MMIO);
  assert.deepEqual([run.mmio.phys_addr, run.mmio.len, run.mmio.is_write], [0x20024n, 2, 0]);
  run.mmio.data.set([0x34, 0x12]);
  g.vcpu.run();
  assert.equal(run.exit_reason, KVM_EXIT.HLT);
  assert.equal(g.vcpu.getRegs().rbx & 0xffffn, 0x1234n);
});

Deno.test("CPUID is answered in the kernel from KVM_SET_CPUID2, with KVM's signature leaf", () => {
  // mov eax, 0x40000000; cpuid; hlt
  using g = guest(root, [0x66, 0xb8, 0x00, 0x00, 0x00, 0x40, 0x0f, 0xa2, 0xf4]);
  g.vcpu.run();
  assert.equal(g.vcpu.kvmRun.exit_reason, KVM_EXIT.HLT);
  const r = g.vcpu.getRegs();
  const sig = new Uint8Array(new Uint32Array([Number(r.rbx), Number(r.rcx), Number(r.rdx)]).buffer);
  assert.equal(new TextDecoder().decode(sig).replace(/\0+$/, ""), "KVMKVMKVM");
});

Deno.test("RDMSR of an unknown MSR is a #GP in the guest; with ignore_msrs it reads 0", async () => {
  // IVT[13] -> 0000:0x1800 where `out 0x80, al; hlt`; main: mov ecx, 0x12345; rdmsr; out 0x81, al; hlt
  const code = [0x66, 0xb9, 0x45, 0x23, 0x01, 0x00, 0x0f, 0x32, 0xe6, 0x81, 0xf4];
  const setup = (m: Uint8Array) => {
    m.set([0x00, 0x18, 0x00, 0x00], 13 * 4);
    m.set([0xe6, 0x80, 0xf4], 0x1800);
  };
  {
    using g = guest(root, code, setup);
    g.vcpu.run();
    assert.equal(g.vcpu.kvmRun.io.port, 0x80, "the #GP handler ran");
  }
  await kctl(root, ["param", "kvm", "ignore_msrs", "Y"]);
  try {
    using g = guest(root, code, setup);
    g.vcpu.setRegs({ ...g.vcpu.getRegs(), rax: 0x77n, rdx: 0x77n });
    g.vcpu.run();
    assert.equal(g.vcpu.kvmRun.io.port, 0x81, "RDMSR went on");
    assert.equal(g.vcpu.getRegs().rax, 0n);
  } finally {
    await kctl(root, ["param", "kvm", "ignore_msrs", "N"]);
  }
});

Deno.test("KVM_INTERRUPT injects through the real-mode IVT once IF is set", () => {
  // IVT[0x20] -> 0000:0x1800 (`out 0x80, al; hlt`); main: sti; jmp $
  using g = guest(root, [0xfb, 0xeb, 0xfe], (m) => {
    m.set([0x00, 0x18, 0x00, 0x00], 0x20 * 4);
    m.set([0xe6, 0x80, 0xf4], 0x1800);
  });
  g.vcpu.setSignalTimer(1000);
  assert.equal(errnoOf(() => g.vcpu.run()), "EINTR");
  assert.equal(g.vcpu.kvmRun.exit_reason, KVM_EXIT.INTR);
  assert.equal(g.vcpu.kvmRun.if_flag, 1);
  assert.equal(g.vcpu.kvmRun.ready_for_interrupt_injection, 1);
  g.vcpu.interrupt(0x20);
  g.vcpu.run();
  assert.equal(g.vcpu.kvmRun.exit_reason, KVM_EXIT.IO);
  assert.equal(g.vcpu.kvmRun.io.port, 0x80);
});

Deno.test("KVM_NMI goes through IVT[2] even with IF clear; NMIs wait for the handler's IRET", () => {
  // IVT[2] -> 0000:0x1800 (`inc bl; out 0x80, al; iret`); main: cli; jmp $
  using g = guest(root, [0xfa, 0xeb, 0xfe], (m) => {
    m.set([0x00, 0x18, 0x00, 0x00], 2 * 4);
    m.set([0xfe, 0xc3, 0xe6, 0x80, 0xcf], 0x1800);
  });
  g.vcpu.setSignalTimer(1000);
  assert.equal(errnoOf(() => g.vcpu.run()), "EINTR");
  assert.equal(g.kvm.checkExtension(22), 1, "KVM_CAP_USER_NMI");
  assert.equal(ioctl(g.vcpu, KVM.NMI), 0);
  g.vcpu.nmi(); // two pending: one is injected, the other waits for the handler's IRET
  g.vcpu.run();
  assert.equal(g.vcpu.kvmRun.exit_reason, KVM_EXIT.IO);
  // A third while the handler runs: Linux keeps one NMI pending while one is handled (process_nmi).
  g.vcpu.nmi();
  g.vcpu.run();
  assert.equal(g.vcpu.kvmRun.exit_reason, KVM_EXIT.IO);
  assert.equal(Number(g.vcpu.getRegs().rbx & 0xffn), 2);
  // One interrupt frame (FLAGS, CS, IP) on the stack: the first handler returned before this one.
  assert.equal(g.vcpu.getRegs().rsp, 0x8000n - 6n);
  g.vcpu.setSignalTimer(1000);
  assert.equal(errnoOf(() => g.vcpu.run()), "EINTR");
  assert.equal(Number(g.vcpu.getRegs().rbx & 0xffn), 2, "two NMIs taken, the third merged");
});

Deno.test("a triple fault is KVM_EXIT_SHUTDOWN; a fetch from MMIO is an emulation failure", () => {
  {
    // int3 with an empty IDT: #GP, #DF, shutdown
    using g = guest(root, [0xcc]);
    const s = g.vcpu.getSregs();
    g.vcpu.setSregs({ ...s, idt: { base: 0n, limit: 0 } });
    g.vcpu.run();
    assert.equal(g.vcpu.kvmRun.exit_reason, KVM_EXIT.SHUTDOWN);
  }
  {
    // jmp 0x2000:0000 (no slot there)
    using g = guest(root, [0xea, 0x00, 0x00, 0x00, 0x20]);
    g.vcpu.run();
    assert.equal(g.vcpu.kvmRun.exit_reason, KVM_EXIT.INTERNAL_ERROR);
    assert.equal(g.vcpu.kvmRun.internal.suberror, KVM_INTERNAL_ERROR.EMULATION);
  }
});

Deno.test("unrestricted_guest=0 refuses real mode: KVM_EXIT_FAIL_ENTRY with invalid guest state", async () => {
  const strict = await rootWith(["kvm_intel", "unrestricted_guest=0"]);
  using g = guest(strict, [0xf4]);
  g.vcpu.run();
  assert.equal(g.vcpu.kvmRun.exit_reason, KVM_EXIT.FAIL_ENTRY);
  assert.equal(g.vcpu.kvmRun.fail_entry.hardware_entry_failure_reason, 0x80000021n);
});

Deno.test("the signal timer ends a busy guest's KVM_RUN with EINTR after that many instructions", () => {
  using g = guest(root, [0xeb, 0xfe]); // jmp $
  g.vcpu.setSignalTimer(5000);
  assert.equal(errnoOf(() => g.vcpu.run()), "EINTR");
  assert.equal(g.vcpu.kvmRun.exit_reason, KVM_EXIT.INTR);
  assert.equal(g.vcpu.instructions, 5000);
  assert.equal(g.vcpu.getRegs().rip, BigInt(CODE));
});

Deno.test("with the in-kernel irqchip HLT stays in the kernel: halt polling per halt_poll_ns, then EINTR", async () => {
  const polling = await rootWith(["kvm_intel"]);
  for (const pollNs of ["200000", "0"]) {
    await kctl(polling, ["param", "kvm", "halt_poll_ns", pollNs]);
    using kvm = Kvm.open({ root: polling });
    using vm = kvm.createVm();
    vm.createIrqchip();
    const mem = new Uint8Array(MEM);
    mem.set([0xf4], CODE); // hlt
    vm.setUserMemoryRegion({ slot: 0, flags: 0, guest_phys_addr: 0, memory_size: MEM, userspace_addr: mem });
    const vcpu = vm.createVcpu(0);
    const s = vcpu.getSregs();
    vcpu.setSregs({ ...s, cs: { ...s.cs, base: 0n, selector: 0 } });
    vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(CODE), rflags: 2n });
    assert.equal(errnoOf(() => vcpu.run()), "EINTR");
    assert.equal(vcpu.kvmRun.exit_reason, KVM_EXIT.INTR);
    assert.equal(vcpu.getMpState(), 3, "KVM_MP_STATE_HALTED");
    const c = vcpu.stats.counters;
    assert.equal(c.halt_exits, 1);
    assert.equal(c.halt_attempted_poll, pollNs === "0" ? 0 : 1);
    assert.equal(c.halt_poll_fail_ns, Number(pollNs));
    assert.equal(errnoOf(() => vcpu.run()), "EINTR", "still halted");
  }
});
