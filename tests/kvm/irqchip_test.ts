/**
 * The in-kernel irqchip (KVM_CREATE_IRQCHIP): the VM and vCPU ioctls that reach it (IRQ_LINE,
 * IRQ_LINE_STATUS, GET/SET_IRQCHIP, SET_GSI_ROUTING, GET/SET_LAPIC, NMI) with Linux's errnos for bad
 * calls, and small guests (machine code with its assembly beside it) whose PIC and local APIC
 * accesses stay in the kernel while the interrupts they program arrive: an edge on a GSI wakes a
 * halted vCPU, the local APIC timer fires on the host clock, KVM_NMI goes through vector 2.
 */
import assert from "node:assert/strict";
import {
  decodeIrqchip,
  encodeIrqchip,
  ioctl,
  KVM,
  Kvm,
  KVM_EXIT,
  KVM_IRQ_ROUTING_IRQCHIP,
  KVM_IRQ_ROUTING_MSI,
  KVM_IRQCHIP_IOAPIC,
  KVM_IRQCHIP_PIC_MASTER,
  KVM_IRQCHIP_PIC_SLAVE,
  KVM_MP_STATE,
  type KvmPicState,
  type KvmVcpu,
  type KvmVm,
} from "../../lib/virt/kvm/mod.ts";
import { errnoOf, flatSegment, rootWith } from "./support/setup.ts";

const root = await rootWith(["kvm_intel"]);
const MEM = 0x10000, CODE = 0x1000, HANDLER = 0x1100, MARK = 0x500;

Deno.test("irqchip ioctl numbers match <linux/kvm.h>", () => {
  assert.equal(KVM.GET_IRQCHIP, 0xc208ae62);
  assert.equal(KVM.SET_IRQCHIP, 0x8208ae63);
  assert.equal(KVM.IRQ_LINE_STATUS, 0xc008ae67);
  assert.equal(KVM.SET_GSI_ROUTING, 0x4008ae6a);
  assert.equal(KVM.GET_LAPIC, 0x8400ae8e);
  assert.equal(KVM.SET_LAPIC, 0x4400ae8f);
  assert.equal(KVM.NMI, 0xae9a);
});

Deno.test("without KVM_CREATE_IRQCHIP: ENXIO for the chips, EINVAL for routing and the local APIC", () => {
  using kvm = Kvm.open({ root });
  using vm = kvm.createVm();
  const vcpu = vm.createVcpu(0);
  assert.equal(errnoOf(() => vm.getIrqchip({ chip_id: 0 })), "ENXIO");
  assert.equal(errnoOf(() => vm.setIrqchip({ chip_id: 0 })), "ENXIO");
  assert.equal(errnoOf(() => vm.irqLineStatus({ irq: 4, level: 1 })), "ENXIO");
  assert.equal(errnoOf(() => vm.setGsiRouting([])), "EINVAL");
  assert.equal(errnoOf(() => vcpu.getLapic()), "EINVAL");
  assert.equal(errnoOf(() => vcpu.setLapic(new Uint8Array(1024))), "EINVAL");
  vcpu.nmi(); // KVM_NMI needs no irqchip
});

Deno.test("GET/SET_IRQCHIP: PIC and IOAPIC state round trips, in objects and in struct kvm_irqchip bytes", () => {
  using kvm = Kvm.open({ root });
  using vm = kvm.createVm();
  vm.createIrqchip();
  assert.equal(errnoOf(() => vm.getIrqchip({ chip_id: 3 })), "EINVAL");
  assert.equal(errnoOf(() => vm.setIrqchip({ chip_id: 7 })), "EINVAL");
  const master = vm.getIrqchip({ chip_id: KVM_IRQCHIP_PIC_MASTER }).pic!;
  assert.deepEqual([master.imr, master.irq_base, master.elcr_mask], [0, 0, 0xf8]);
  assert.equal(vm.getIrqchip({ chip_id: KVM_IRQCHIP_PIC_SLAVE }).pic!.elcr_mask, 0xde);
  const pic: KvmPicState = { ...master, irq_base: 0x20, imr: 0xfb, auto_eoi: 1, elcr: 0x08 };
  vm.setIrqchip({ chip_id: KVM_IRQCHIP_PIC_MASTER, pic });
  assert.deepEqual(vm.getIrqchip({ chip_id: KVM_IRQCHIP_PIC_MASTER }).pic, pic);
  const bytes = encodeIrqchip({ chip_id: KVM_IRQCHIP_PIC_MASTER, pic });
  assert.equal(bytes.length, 520);
  assert.deepEqual([bytes[8 + 2], bytes[8 + 5], bytes[8 + 10]], [0xfb, 0x20, 1], "imr, irq_base, auto_eoi");
  assert.deepEqual(ioctl(vm, KVM.GET_IRQCHIP, decodeIrqchip(bytes)), { chip_id: 0, pic });

  const ioapic = vm.getIrqchip({ chip_id: KVM_IRQCHIP_IOAPIC }).ioapic!;
  assert.equal(ioapic.base_address, 0xfec00000n);
  assert.equal(ioapic.redirtbl[5], 0x10000n, "masked after reset");
  ioapic.redirtbl[5] = 0x0300000000008031n; // dest 3, level-triggered, vector 0x31
  ioapic.id = 2;
  ioctl(vm, KVM.SET_IRQCHIP, decodeIrqchip(encodeIrqchip({ chip_id: KVM_IRQCHIP_IOAPIC, ioapic })));
  const back = vm.getIrqchip({ chip_id: KVM_IRQCHIP_IOAPIC }).ioapic!;
  assert.deepEqual([back.id, back.redirtbl[5]], [2, 0x0300000000008031n]);
});

Deno.test("KVM_IRQ_LINE_STATUS and KVM_SET_GSI_ROUTING: default routing, masking, bad entries", () => {
  using kvm = Kvm.open({ root });
  using vm = kvm.createVm();
  vm.createIrqchip();
  // GSI 4 reaches the PIC (unmasked after reset) and the IOAPIC (masked): delivered once.
  assert.equal(vm.irqLineStatus({ irq: 4, level: 1 }).status, 1);
  // GSI 20 goes to the IOAPIC only, whose pins start masked.
  assert.equal(vm.irqLineStatus({ irq: 20, level: 1 }).status, -1);
  assert.equal(vm.irqLineStatus({ irq: 100, level: 1 }).status, -1, "an unrouted GSI reaches nothing");
  const master = vm.getIrqchip({ chip_id: KVM_IRQCHIP_PIC_MASTER }).pic!;
  assert.equal(master.irr & 0x10, 0x10, "IRQ4 latched in the PIC");
  vm.setIrqchip({ chip_id: KVM_IRQCHIP_PIC_MASTER, pic: { ...master, imr: 0xff } });
  assert.equal(vm.irqLineStatus({ irq: 3, level: 1 }).status, -1);

  const chip = (gsi: number, irqchip: number, pin: number) => ({
    gsi,
    type: KVM_IRQ_ROUTING_IRQCHIP,
    flags: 0,
    irqchip,
    pin,
  });
  assert.equal(errnoOf(() => vm.setGsiRouting([chip(0, KVM_IRQCHIP_PIC_MASTER, 8)])), "EINVAL");
  assert.equal(errnoOf(() => vm.setGsiRouting([chip(0, KVM_IRQCHIP_IOAPIC, 24)])), "EINVAL");
  assert.equal(errnoOf(() => vm.setGsiRouting([chip(0, 3, 0)])), "EINVAL");
  assert.equal(errnoOf(() => vm.setGsiRouting([chip(4096, KVM_IRQCHIP_IOAPIC, 0)])), "EINVAL");
  assert.equal(
    errnoOf(() => vm.setGsiRouting([chip(1, KVM_IRQCHIP_IOAPIC, 1), chip(1, KVM_IRQCHIP_IOAPIC, 2)])),
    "EINVAL",
    "one GSI, two pins of one chip",
  );
  assert.equal(errnoOf(() => vm.setGsiRouting([], 1)), "EINVAL", "flags");
  // QEMU's pc table: GSI 0 reaches IOAPIC pin 2; an MSI route delivers straight to the local APIC.
  vm.setGsiRouting([
    chip(0, KVM_IRQCHIP_PIC_MASTER, 0),
    chip(0, KVM_IRQCHIP_IOAPIC, 2),
    { gsi: 30, type: KVM_IRQ_ROUTING_MSI, flags: 0, address_lo: 0xfee00000, address_hi: 0, data: 0x41 },
  ]);
  assert.equal(vm.irqLineStatus({ irq: 1, level: 1 }).status, -1, "GSI 1 is no longer routed");
});

/** An irqchip VM with 64 KiB at 0 and `code` at 0x1000, `handler` at 0x1100. */
function irqchipGuest(
  code: number[],
  handler: number[],
  options: { protectedMode?: boolean; clock?: () => number } = {},
): { vm: KvmVm; vcpu: KvmVcpu; mem: Uint8Array; [Symbol.dispose](): void } {
  const kvm = Kvm.open({ root, hostClock: options.clock });
  const vm = kvm.createVm();
  vm.createIrqchip();
  const mem = new Uint8Array(MEM);
  mem.set(code, CODE);
  mem.set(handler, HANDLER);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guest_phys_addr: 0, memory_size: MEM, userspace_addr: mem });
  const vcpu = vm.createVcpu(0);
  vcpu.setCpuid2(kvm.getSupportedCpuid(256));
  const s = vcpu.getSregs();
  if (options.protectedMode) {
    // Flat 32-bit segments, no paging, the IDT at 0x2000, the GDT at 0x3000.
    const data = flatSegment(0x10, false);
    vcpu.setSregs({
      ...s,
      cr0: 0x11n,
      cs: flatSegment(0x08, true),
      ds: data,
      es: data,
      ss: data,
      idt: { base: 0x2000n, limit: 0x7ff },
      gdt: { base: 0x3000n, limit: 0x17 },
    });
    // GDT: null, flat code 0x08, flat data 0x10 (interrupt delivery loads CS from it).
    const gdt = new DataView(mem.buffer, 0x3000, 24);
    gdt.setBigUint64(8, 0x00cf9a000000ffffn, true);
    gdt.setBigUint64(16, 0x00cf92000000ffffn, true);
  } else {
    vcpu.setSregs({ ...s, cs: { ...s.cs, base: 0n, selector: 0 } });
  }
  vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(CODE), rsp: 0x8000n, rflags: 2n });
  return {
    vm,
    vcpu,
    mem,
    [Symbol.dispose]() {
      vm.close();
      kvm.close();
    },
  };
}

Deno.test("an edge on GSI 4 wakes the halted vCPU through the in-kernel PIC; PIC ports never exit", () => {
  using g = irqchipGuest(
    [
      ...[0xb0, 0x11, 0xe6, 0x20], // mov al, 0x11; out 0x20, al    ICW1
      ...[0xb0, 0x20, 0xe6, 0x21], // mov al, 0x20; out 0x21, al    ICW2: vectors 0x20-0x27
      ...[0xb0, 0x04, 0xe6, 0x21], // mov al, 0x04; out 0x21, al    ICW3
      ...[0xb0, 0x01, 0xe6, 0x21], // mov al, 0x01; out 0x21, al    ICW4
      ...[0xb0, 0xef, 0xe6, 0x21], // mov al, 0xef; out 0x21, al    unmask IRQ4
      0xfb, // sti
      0xf4, // hlt
      ...[0xe6, 0x10], // out 0x10, al
      0xf4, // hlt
    ],
    [
      ...[0xc6, 0x06, 0x00, 0x05, 0x42], // mov byte [0x500], 0x42
      ...[0xb0, 0x20, 0xe6, 0x20], // mov al, 0x20; out 0x20, al    EOI
      0xcf, // iret
    ],
  );
  new DataView(g.mem.buffer).setUint32(0x24 * 4, HANDLER, true); // IVT[0x24] = 0000:1100
  assert.equal(errnoOf(() => g.vcpu.run()), "EINTR", "halted in the kernel, nothing pending");
  assert.equal(g.vcpu.getMpState(), KVM_MP_STATE.HALTED);
  assert.equal(g.vcpu.blockedUntilNs, Infinity, "no kernel timer armed");
  assert.equal(g.vm.getIrqchip({ chip_id: KVM_IRQCHIP_PIC_MASTER }).pic!.irq_base, 0x20);
  g.vm.irqLine(4, 1);
  g.vm.irqLine(4, 0);
  g.vcpu.run();
  assert.equal(g.vcpu.kvmRun.exit_reason, KVM_EXIT.IO);
  assert.equal(g.vcpu.kvmRun.io.port, 0x10);
  assert.equal(g.mem[MARK], 0x42, "the handler ran");
  assert.equal(g.vm.getIrqchip({ chip_id: KVM_IRQCHIP_PIC_MASTER }).pic!.isr, 0, "EOI reached the PIC");
  const c = g.vcpu.stats.counters;
  assert.equal(c.io_exits, 1, "only port 0x10 left the kernel");
  assert.deepEqual([c.halt_exits, c.halt_wakeup, c.irq_injections], [1, 1, 1]);
});

Deno.test("an interrupt raised while an MMIO read is out in user space comes after that read completes", () => {
  using g = irqchipGuest(
    [
      ...[0xb0, 0x11, 0xe6, 0x20, 0xb0, 0x20, 0xe6, 0x21], // ICW1, ICW2 = 0x20
      ...[0xb0, 0x04, 0xe6, 0x21, 0xb0, 0x01, 0xe6, 0x21], // ICW3, ICW4
      ...[0xb0, 0xef, 0xe6, 0x21], // unmask IRQ4
      ...[0xb8, 0x00, 0xd0, 0x8e, 0xd8], // mov ax, 0xd000; mov ds, ax   (no memory there)
      ...[0xfb, 0x90], // sti; nop   (the STI shadow is over before the read)
      ...[0xa0, 0x00, 0x00], // mov al, [0]    MMIO read
      ...[0xe6, 0x10], // out 0x10, al
      0xf4, // hlt
    ],
    [
      ...[0x2e, 0xc6, 0x06, 0x00, 0x05, 0x42], // mov byte [cs:0x500], 0x42
      ...[0x50, 0xb0, 0x20, 0xe6, 0x20, 0x58], // push ax; mov al, 0x20; out 0x20, al; pop ax
      0xcf, // iret
    ],
  );
  new DataView(g.mem.buffer).setUint32(0x24 * 4, HANDLER, true);
  g.vcpu.run();
  assert.equal(g.vcpu.kvmRun.exit_reason, KVM_EXIT.MMIO);
  assert.equal(g.vcpu.kvmRun.mmio.phys_addr, 0xd0000n);
  g.vm.irqLine(4, 1);
  g.vm.irqLine(4, 0);
  g.vcpu.kvmRun.mmio.data[0] = 0x5a;
  g.vcpu.run();
  assert.equal(g.vcpu.kvmRun.exit_reason, KVM_EXIT.IO);
  assert.deepEqual(
    [g.vcpu.kvmRun.io.port, g.vcpu.kvmRun.ioData()[0]],
    [0x10, 0x5a],
    "the read got its data once",
  );
  assert.equal(g.mem[MARK], 0x42, "and the interrupt came before the OUT");
});

Deno.test("the local APIC timer fires on the host clock; APIC MMIO stays in the kernel; GET/SET_LAPIC", () => {
  let now = 0;
  using g = irqchipGuest(
    [
      ...[0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00], // mov dword [0xfee000f0], 0x1ff  SVR
      ...[0xc7, 0x05, 0xe0, 0x03, 0xe0, 0xfe, 0x0b, 0x00, 0x00, 0x00], // mov dword [0xfee003e0], 0xb    divide by 1
      ...[0xc7, 0x05, 0x20, 0x03, 0xe0, 0xfe, 0x40, 0x00, 0x00, 0x00], // mov dword [0xfee00320], 0x40   LVT timer
      ...[0xc7, 0x05, 0x80, 0x03, 0xe0, 0xfe, 0xe8, 0x03, 0x00, 0x00], // mov dword [0xfee00380], 1000   TMICT
      0xfb, // sti
      0xf4, // hlt
      ...[0xa1, 0x90, 0x03, 0xe0, 0xfe], // mov eax, [0xfee00390]   TMCCT
      ...[0xe6, 0x10], // out 0x10, al
      0xf4, // hlt
    ],
    [
      ...[0xc6, 0x05, 0x00, 0x05, 0x00, 0x00, 0x77], // mov byte [0x500], 0x77
      ...[0xc7, 0x05, 0xb0, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00], // mov dword [0xfee000b0], 0  EOI
      0xcf, // iret
    ],
    { protectedMode: true, clock: () => now },
  );
  // IDT[0x40]: a 32-bit interrupt gate to 0x08:0x1100.
  const idt = new DataView(g.mem.buffer, 0x2000 + 0x40 * 8, 8);
  idt.setUint16(0, HANDLER, true);
  idt.setUint16(2, 0x08, true);
  idt.setUint16(4, 0x8e00, true);
  assert.equal(errnoOf(() => g.vcpu.run()), "EINTR");
  assert.equal(g.vcpu.blockedUntilNs, 1001, "(TMICT + 1) ns at divide-by-1");
  const regs = g.vcpu.getLapic();
  const reg = (off: number) => new DataView(regs.buffer).getUint32(off, true);
  assert.deepEqual([reg(0xf0), reg(0x320), reg(0x380), reg(0x390)], [0x1ff, 0x40, 1000, 1000]);
  now = 1000;
  assert.equal(errnoOf(() => g.vcpu.run()), "EINTR", "not yet due");
  now = 2000;
  g.vcpu.run();
  assert.equal(g.vcpu.kvmRun.exit_reason, KVM_EXIT.IO);
  assert.equal(g.mem[MARK], 0x77);
  assert.equal(g.vcpu.getRegs().rax & 0xffn, 0n, "TMCCT reads 0 after expiry");
  const c = g.vcpu.stats.counters;
  assert.equal(c.io_exits, 1);
  assert.equal(c.mmio_exits ?? 0, 0, "APIC accesses never reach user space");
  // SET_LAPIC loads a page: TPR and the spurious vector come back as written.
  const page = g.vcpu.getLapic();
  new DataView(page.buffer).setUint32(0x80, 0x30, true);
  new DataView(page.buffer).setUint32(0xf0, 0x1ef, true);
  g.vcpu.setLapic(page);
  const after = new DataView(g.vcpu.getLapic().buffer);
  assert.deepEqual([after.getUint32(0x80, true), after.getUint32(0xf0, true)], [0x30, 0x1ef]);
});

Deno.test("KVM_NMI is delivered through vector 2 at the next entry", () => {
  using kvm = Kvm.open({ root });
  using vm = kvm.createVm();
  const mem = new Uint8Array(MEM);
  mem.set([0xe6, 0x10], CODE); // out 0x10, al
  mem.set([0xe6, 0x12, 0xcf], HANDLER); // out 0x12, al; iret
  new DataView(mem.buffer).setUint32(2 * 4, HANDLER, true); // IVT[2]
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guest_phys_addr: 0, memory_size: MEM, userspace_addr: mem });
  const vcpu = vm.createVcpu(0);
  const s = vcpu.getSregs();
  vcpu.setSregs({ ...s, cs: { ...s.cs, base: 0n, selector: 0 } });
  vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(CODE), rsp: 0x8000n, rflags: 2n });
  ioctl(vcpu, KVM.NMI);
  vcpu.run();
  assert.equal(vcpu.kvmRun.io.port, 0x12, "the NMI handler runs first, even with IF clear");
  vcpu.run();
  assert.equal(vcpu.kvmRun.io.port, 0x10);
  assert.equal(vcpu.stats.counters.nmi_injections, 1);
});

Deno.test("KVM_CREATE_PIT2: the PIT's ports stay in the kernel; its ticks wake the vCPU, late ones are reinjected; GET/SET_PIT2, REINJECT_CONTROL", () => {
  let now = 0;
  using g = irqchipGuest(
    [
      ...[0xb0, 0x11, 0xe6, 0x20, 0xb0, 0x20, 0xe6, 0x21], // ICW1, ICW2 = 0x20
      ...[0xb0, 0x04, 0xe6, 0x21, 0xb0, 0x01, 0xe6, 0x21], // ICW3, ICW4
      ...[0xb0, 0xfe, 0xe6, 0x21], // unmask IRQ0 only
      ...[0xb0, 0x34, 0xe6, 0x43], // mov al, 0x34; out 0x43, al    channel 0, LSB then MSB, mode 2
      ...[0xb0, 0xa9, 0xe6, 0x40], // mov al, 0xa9; out 0x40, al
      ...[0xb0, 0x04, 0xe6, 0x40], // mov al, 0x04; out 0x40, al    count 1193: a tick a millisecond
      0xfb, // sti
      0xf4, // hlt
      ...[0xeb, 0xfd], // jmp short hlt
    ],
    [
      ...[0xfe, 0x06, 0x00, 0x05], // inc byte [0x500]
      ...[0xb0, 0x20, 0xe6, 0x20], // mov al, 0x20; out 0x20, al    EOI
      0xcf, // iret
    ],
    { clock: () => now },
  );
  assert.equal(KVM.GET_PIT2, 0x8070ae9f);
  assert.equal(KVM.SET_PIT2, 0x4070aea0);
  assert.equal(KVM.REINJECT_CONTROL, 0xae71);
  assert.equal(errnoOf(() => g.vm.reinjectControl({ pit_reinject: 0 })), "ENXIO", "no PIT yet");
  assert.equal(errnoOf(() => g.vm.getPit2()), "ENXIO", "before KVM_CREATE_PIT2");
  g.vm.createPit2({ flags: 0 });
  new DataView(g.mem.buffer).setUint32(0x20 * 4, HANDLER, true); // IVT[0x20] = 0000:1100
  assert.equal(errnoOf(() => g.vcpu.run()), "EINTR", "halted until the next tick");
  // The 8254 starts mode 2 with OUT high: loading the count is IRQ0's first rising edge.
  assert.equal(g.mem[MARK], 1, "the edge of the count's load");
  assert.ok(g.vcpu.blockedUntilNs < 1e6, `the PIT's hrtimer wakes it (${g.vcpu.blockedUntilNs} ns)`);
  const state = g.vm.getPit2();
  const ch0 = state.channels[0];
  assert.deepEqual([ch0.mode, ch0.count, ch0.rw_mode, ch0.gate], [2, 1193, 3, 1]);
  assert.deepEqual([state.channels[1].mode, state.flags], [0xff, 0], "channel 1 holds no count");
  now = 1_500_000;
  assert.equal(errnoOf(() => g.vcpu.run()), "EINTR");
  assert.equal(g.mem[MARK], 2, "one tick by 1.5 ms");
  // Four ticks fall due before the vCPU runs again: the first waits in the IRR, the other three
  // are kept and raised one by one as the PIC acknowledges IRQ0 (reinjection).
  now = 5_500_000;
  assert.equal(errnoOf(() => g.vcpu.run()), "EINTR");
  assert.equal(g.mem[MARK], 6, "none merged");
  // KVM_REINJECT_CONTROL off: late ticks merge into the one waiting (lost_tick_policy=discard).
  g.vm.reinjectControl({ pit_reinject: 0 });
  now = 9_500_000;
  assert.equal(errnoOf(() => g.vcpu.run()), "EINTR");
  assert.equal(g.mem[MARK], 7, "four ticks due, one taken");
  g.vm.reinjectControl({ pit_reinject: 1 });
  // The HPET's legacy replacement owns IRQ0: the PIT's channel 0 goes silent.
  g.vm.setPit2({ ...g.vm.getPit2(), flags: 1 });
  now = 20_000_000;
  assert.equal(errnoOf(() => g.vcpu.run()), "EINTR");
  assert.equal(g.mem[MARK], 7, "no tick under KVM_PIT_FLAGS_HPET_LEGACY");
  g.vm.setPit2({ ...g.vm.getPit2(), flags: 0 });
  now = 21_500_000;
  assert.equal(errnoOf(() => g.vcpu.run()), "EINTR");
  assert.equal(g.mem[MARK], 8, "SET_PIT2 restarted the count at 20 ms: one tick by 21.5 ms");
  assert.equal(g.vcpu.stats.counters.io_exits ?? 0, 0, "PIT and PIC ports never left the kernel");
});
