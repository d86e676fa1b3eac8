/**
 * Hardware task switches under kvm_intel: the TASK_SWITCH exit (reason 9) is performed by L0's
 * emulator (lib/virt/kvm/intel/task_switch.ts, the CPU's own switch on the guest's state), counted
 * as insn_emulation, with EPT and with shadow paging: the old task's TSS gets the next EIP, busy
 * bits move, CR0.TS is set and the new task's CR3 becomes the guest's; a TSS too small for a
 * 32-bit task is the #TS the guest's handler sees, with TR unchanged.
 */
import assert from "node:assert/strict";
import { Kvm, KVM_EXIT, type KvmSegment } from "../../lib/virt/kvm/mod.ts";
import { rootWith } from "./support/setup.ts";

const shadowRoot = await rootWith(["kvm_intel", "ept=0"]);
const eptRoot = await rootWith(["kvm_intel"]);

const GDT = 0x500, IDT = 0x600, CODE = 0x1000, TASK_EIP = 0x1800, TS_HANDLER = 0x1900;
const TSS_A = 0x3000, TSS_B = 0x3100, TSS_SMALL = 0x3200;
const PD = 0x10000, PD_B = 0x14000, PT = 0x12000;
const SEL_A = 0x18, SEL_B = 0x20, SEL_SMALL = 0x28;

/** A 32-bit TSS descriptor (type 9 available, 11 busy) for base and limit below 64 KiB. */
function tssDescriptor(base: number, limit: number, type: number): bigint {
  return BigInt(limit) | (BigInt(base) << 16n) | (BigInt(0x80 | type) << 40n);
}

/** A flat protected-mode guest with paging on, its TR on TSS A, about to run `code`. */
function taskGuest(root: string, code: number[]) {
  const kvm = Kvm.open({ root });
  const vm = kvm.createVm();
  const mem = new Uint8Array(0x20000);
  const dv = new DataView(mem.buffer);
  dv.setBigUint64(GDT + 8, 0x00cf9a000000ffffn, true);
  dv.setBigUint64(GDT + 16, 0x00cf92000000ffffn, true);
  dv.setBigUint64(GDT + SEL_A, tssDescriptor(TSS_A, 0x67, 11), true);
  dv.setBigUint64(GDT + SEL_B, tssDescriptor(TSS_B, 0x67, 9), true);
  dv.setBigUint64(GDT + SEL_SMALL, tssDescriptor(TSS_SMALL, 0x20, 9), true);
  // IDT entry 10 (#TS): 32-bit interrupt gate; the handler pops the error code and halts.
  dv.setUint32(IDT + 10 * 8, (0x08 << 16) | TS_HANDLER, true);
  dv.setUint32(IDT + 10 * 8 + 4, 0x8e00, true);
  mem.set([0x58, 0xf4], TS_HANDLER);
  mem[TASK_EIP] = 0xf4;
  mem.set(code, CODE);
  // Two address spaces mapping the first 64 KiB the same way.
  for (let p = 0; p < 16; p++) dv.setUint32(PT + p * 4, (p << 12) | 3, true);
  dv.setUint32(PD, PT | 3, true);
  dv.setUint32(PD_B, PT | 3, true);
  // Task B: CR3, EIP, EFLAGS, ESP, segments, no LDT.
  dv.setUint32(TSS_B + 0x1c, PD_B, true);
  dv.setUint32(TSS_B + 0x20, TASK_EIP, true);
  dv.setUint32(TSS_B + 0x24, 2, true);
  dv.setUint32(TSS_B + 0x38, 0x7000, true);
  for (let s = 0; s < 6; s++) dv.setUint32(TSS_B + 0x48 + s * 4, s === 1 ? 0x08 : 0x10, true);
  vm.setUserMemoryRegion({
    slot: 0,
    flags: 0,
    guest_phys_addr: 0,
    memory_size: mem.length,
    userspace_addr: mem,
  });
  const vcpu = vm.createVcpu(0);
  vcpu.setCpuid2(kvm.getSupportedCpuid(256));
  const s = vcpu.getSregs();
  /** A segment register: code/data (system = 0 for a TSS) with 32-bit, page-granular defaults. */
  const seg = (type: number, selector: number, base = 0, limit = 0xffffffff, system = 0): KvmSegment => ({
    ...s.cs,
    base: BigInt(base),
    limit,
    selector,
    type,
    s: system ? 0 : 1,
    db: system ? 0 : 1,
    g: system ? 0 : 1,
  });
  const data = seg(3, 0x10);
  vcpu.setSregs({
    ...s,
    cs: seg(11, 0x08),
    ds: data,
    es: data,
    ss: data,
    fs: data,
    gs: data,
    tr: seg(11, SEL_A, TSS_A, 0x67, 1),
    gdt: { base: BigInt(GDT), limit: 0x2f },
    idt: { base: BigInt(IDT), limit: 256 * 8 - 1 },
    cr0: 0x80000011n,
    cr3: BigInt(PD),
  });
  vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(CODE), rsp: 0x8000n, rflags: 2n });
  return {
    vcpu,
    dv,
    [Symbol.dispose]() {
      vm.close();
      kvm.close();
    },
  };
}

for (const [name, root] of [["ept=0", shadowRoot], ["ept=1", eptRoot]] as const) {
  Deno.test(`${name}: a JMP to a TSS is performed by L0's emulator (insn_emulation), CR3 and all`, () => {
    using g = taskGuest(root, [0xea, 0, 0, 0, 0, SEL_B, 0]); // jmp SEL_B:0
    g.vcpu.run();
    assert.equal(g.vcpu.kvmRun.exit_reason, KVM_EXIT.HLT);
    const r = g.vcpu.getRegs(), s = g.vcpu.getSregs();
    assert.deepEqual([r.rip, r.rsp], [BigInt(TASK_EIP + 1), 0x7000n], "running task B");
    assert.deepEqual([s.tr.selector, s.tr.base, s.cr3], [SEL_B, BigInt(TSS_B), BigInt(PD_B)]);
    assert.equal(s.cr0 & 8n, 8n, "CR0.TS");
    assert.equal(g.dv.getUint32(TSS_A + 0x20, true), CODE + 7, "task A saved the EIP after the JMP");
    assert.equal(g.dv.getUint8(GDT + SEL_A + 5) & 0xf, 9, "task A no longer busy");
    assert.equal(g.dv.getUint8(GDT + SEL_B + 5) & 0xf, 11, "task B busy");
    assert.equal(g.vcpu.stats.exitReasons.TASK_SWITCH, 1);
    assert.equal(g.vcpu.stats.counters.insn_emulation, 1);
  });

  Deno.test(`${name}: a TSS below 0x67 bytes is a #TS with its selector, TR unchanged`, () => {
    using g = taskGuest(root, [0xea, 0, 0, 0, 0, SEL_SMALL, 0]); // jmp SEL_SMALL:0
    g.vcpu.run();
    assert.equal(g.vcpu.kvmRun.exit_reason, KVM_EXIT.HLT);
    const r = g.vcpu.getRegs(), s = g.vcpu.getSregs();
    assert.deepEqual([r.rip, r.rax], [BigInt(TS_HANDLER + 2), BigInt(SEL_SMALL)]);
    assert.deepEqual([s.tr.selector, s.cr3, s.cr0 & 8n], [SEL_A, BigInt(PD), 0n]);
    assert.equal(g.vcpu.stats.counters.insn_emulation, 1);
  });
}
