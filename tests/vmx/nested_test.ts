/**
 * Nested VMX (issue 6, part 4): the nasm hypervisor guest (tests/guests/vmx/hypervisor.asm) run
 * as L1 under the simulated kvm_intel with nested=1, through the KVM API as QEMU drives it (flat
 * 32-bit multiboot entry, COM1 and isa-debug-exit emulated in user space), must print exactly the
 * output it prints on bare VMX (tcg, tests/golden/vmx/hypervisor.txt): L0 emulates its VMX
 * instructions, runs its L2 on vmcs02 and reflects the exits it asked for. With nested=0 the same
 * guest finds no VMX.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PROJECT } from "../support/tools.ts";
import { Kvm, KVM_EXIT, KVM_EXIT_IO_IN, type KvmVcpu } from "../../lib/virt/kvm/mod.ts";
import { createMinimalMachine } from "../../lib/virt/machine/minimal.ts";
import { loadMultiboot, MULTIBOOT_CS, MULTIBOOT_DS } from "../../lib/virt/machine/multiboot.ts";
import { flatSegment as flat, rootWith } from "../kvm/support/setup.ts";

const IMAGE = Deno.readFileSync(join(PROJECT, "tests", "guests", "vmx", "hypervisor.bin"));
const RAM = 16 << 20;
const COM1 = 0x3f8, DEBUG_EXIT = 0xf4;

/** Runs the image as L1 under -accel kvm: its serial output, exit status and KVM exit count. */
export function runUnderKvm(
  root: string,
  image: Uint8Array,
  onIo?: (vcpu: KvmVcpu, port: number) => void,
): { serial: string; status: number; exits: number } {
  // The multiboot loader fills a RAM image exactly as for tcg; that RAM backs the memory slot.
  const staging = createMinimalMachine({ ramSize: RAM });
  const boot = loadMultiboot(staging.bus, image, {});
  const mem = new Uint8Array(RAM);
  mem.set(staging.bus.u8.subarray(0, RAM));
  const kvm = Kvm.open({ root });
  const vm = kvm.createVm();
  try {
    vm.setUserMemoryRegion({ slot: 0, flags: 0, guest_phys_addr: 0, memory_size: RAM, userspace_addr: mem });
    const vcpu = vm.createVcpu(0);
    vcpu.setCpuid2(kvm.getSupportedCpuid(256));
    const s = vcpu.getSregs();
    const data = flat(MULTIBOOT_DS, false);
    vcpu.setSregs({
      ...s,
      cs: flat(MULTIBOOT_CS, true),
      ds: data,
      es: data,
      fs: data,
      gs: data,
      ss: data,
      gdt: { base: BigInt(boot.gdtBase), limit: boot.gdtLimit },
      cr0: 0x11n,
    });
    vcpu.setRegs({
      ...vcpu.getRegs(),
      rip: BigInt(boot.entry),
      rax: BigInt(boot.regs.eax),
      rbx: BigInt(boot.regs.ebx),
      rflags: 2n,
    });
    const run = vcpu.kvmRun;
    let serial = "", exits = 0;
    for (;;) {
      vcpu.run();
      exits++;
      // Anything but port I/O ends the run: reported as a negative status.
      if (run.exit_reason !== KVM_EXIT.IO) return { serial, status: -run.exit_reason, exits };
      const io = run.io, bytes = run.ioData();
      onIo?.(vcpu, io.port);
      if (io.direction === KVM_EXIT_IO_IN) {
        // COM1's line status: the transmit holding register is always empty.
        bytes.fill(io.port === COM1 + 5 ? 0x20 : 0xff, 0, io.size * io.count);
      } else if (io.port === COM1) {
        serial += String.fromCharCode(...bytes.subarray(0, io.count));
      } else if (io.port === DEBUG_EXIT) {
        return { serial, status: (bytes[0] << 1) | 1, exits };
      }
    }
  } finally {
    vm.close();
    kvm.close();
  }
}

// vpid: L0 gives L2 a VPID of its own (vpid02) and emulates L1's INVVPID/INVEPT on it, so the
// translations L2 caches survive and go exactly as on bare VMX.
// vectoring: an event whose delivery an exit L1 handles cuts short reaches L1 in vmcs12's
// IDT-vectoring fields; one cut short by an exit L0 handles (an EPT02 fill) is delivered again.
// nmi_window: L1 gets virtual NMIs and NMI-window exiting, and the exit when L2's IRET opens it.
// With ept=0 L0 shadows L1's paging (its VMX operands are read through L1's own CR3, the nested VM
// exit hands L1's host CR0/CR3/CR4 to the shadow MMU) while L2 still runs under EPT.
for (const ept of ["ept=1", "ept=0"]) {
  for (const name of ["hypervisor", "vpid", "vectoring", "nmi_window"]) {
    nestedGuestTest(name, ept);
  }
}

function nestedGuestTest(name: string, ept: string): void {
  Deno.test(`nested=1 ${ept}: the VMX ${name} guest prints under -accel kvm exactly what it prints on tcg`, async () => {
    const root = await rootWith(["kvm_intel", "nested=1", ept]);
    const r = runUnderKvm(root, Deno.readFileSync(join(PROJECT, "tests", "guests", "vmx", `${name}.bin`)));
    assert.equal(
      r.serial,
      Deno.readTextFileSync(join(PROJECT, "tests", "golden", "vmx", `${name}.txt`)),
      `status ${r.status}`,
    );
    assert.equal(
      String(r.status),
      Deno.readTextFileSync(join(PROJECT, "tests", "golden", "vmx", `${name}.exit`)).trim(),
    );
    await Deno.remove(root, { recursive: true });
  });
}

Deno.test("nested=0: the same guest sees no VMX (CPUID.1:ECX.VMX clear)", async () => {
  const root = await rootWith(["kvm_intel", "nested=0"]);
  const r = runUnderKvm(root, IMAGE);
  // RDMSR of IA32_VMX_BASIC then #GPs; with no IDT the guest cannot go on (no isa-debug-exit).
  assert.equal(r.serial, "cpuid.1:ecx.vmx=00000000\n");
  assert.ok(r.status < 0, `status ${r.status}`);
});

Deno.test("nested=1: KVM_GET_REGS/SREGS while L2 runs show L2's registers; setting them back changes nothing", async () => {
  const root = await rootWith(["kvm_intel", "nested=1"]);
  const image = Deno.readFileSync(join(PROJECT, "tests", "guests", "vmx", "vectoring.bin"));
  const seen: { port: number; cr3: bigint; idt: bigint; rsp: bigint; rax: bigint }[] = [];
  const r = runUnderKvm(root, image, (vcpu, port) => {
    const regs = vcpu.getRegs(), sregs = vcpu.getSregs();
    if (port === 0x80 || (seen.length && seen.length < 2)) {
      seen.push({ port, cr3: sregs.cr3, idt: sregs.idt.base, rsp: regs.rsp, rax: regs.rax });
    }
    // What QEMU's kvm_arch_put_registers does after a change: the same state back.
    vcpu.setRegs(regs);
    vcpu.setSregs(sregs);
  });
  // L2's port 0x80 write (L1's I/O bitmaps let it through to user space): L2's page directory,
  // IDT, stack and EAX (tests/guests/vmx/vectoring.asm); L1's print of the exit that follows: L1's.
  assert.deepEqual(seen, [
    { port: 0x80, cr3: 0x201000n, idt: 0xa00000n, rsp: 0xc01000n, rax: 0x12345678n },
    { port: COM1 + 5, cr3: 0x200000n, idt: 0n, rsp: seen[1]?.rsp, rax: seen[1]?.rax },
  ]);
  assert.equal(r.serial, Deno.readTextFileSync(join(PROJECT, "tests", "golden", "vmx", "vectoring.txt")));
  await Deno.remove(root, { recursive: true });
});

Deno.test("nested=1 vpid=0: L1 is offered no VPID or INVVPID, and a vmcs12 with VPID fails VMLAUNCH (error 7)", async () => {
  const capabilities = async (vpid: string) => {
    const root = await rootWith(["kvm_intel", "nested=1", vpid]);
    const kvm = Kvm.open({ root });
    const vm = kvm.createVm();
    try {
      const entries = [{ index: 0x48b, data: 0n }, { index: 0x48c, data: 0n }];
      vm.createVcpu(0).getMsrs(entries);
      // PROCBASED_CTLS2 allowed-1 bit 5 (enable VPID); EPT_VPID_CAP bit 32 (INVVPID).
      return { vpid: (entries[0].data >> 37n) & 1n, invvpid: (entries[1].data >> 32n) & 1n };
    } finally {
      vm.close();
      kvm.close();
      await Deno.remove(root, { recursive: true });
    }
  };
  assert.deepEqual(await capabilities("vpid=1"), { vpid: 1n, invvpid: 1n });
  assert.deepEqual(await capabilities("vpid=0"), { vpid: 0n, invvpid: 0n });
  const root = await rootWith(["kvm_intel", "nested=1", "vpid=0"]);
  const r = runUnderKvm(root, Deno.readFileSync(join(PROJECT, "tests", "guests", "vmx", "vpid.bin")));
  // The guest's first VMLAUNCH fails (VMfailValid), and it exits with code 1: status 3.
  assert.equal(r.serial, "vpid 1, first read: vm entry failed\n");
  assert.equal(r.status, 3);
  await Deno.remove(root, { recursive: true });
});
