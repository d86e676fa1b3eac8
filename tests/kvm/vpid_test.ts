/**
 * kvm_intel's vpid parameter (Intel SDM Vol. 3C, "Caching Translation Information"): with vpid=1
 * (Linux's default) the guest runs under a VPID of its own, so VM exits and entries keep its TLB
 * entries, as on hardware: a page-table entry user space changes behind the guest's back stays
 * unseen until the guest invalidates it (INVLPG). With vpid=0 the guest runs as VPID 0, and every
 * entry flushes its entries, so the change is seen at the next KVM_RUN.
 */
import assert from "node:assert/strict";
import { Kvm, KVM_EXIT } from "../../lib/virt/kvm/mod.ts";
import { flatSegment as flat, rootWith } from "./support/setup.ts";

const MEM = 0x10000, CODE = 0x1000, PAGE_DIR = 0x2000, PT_LOW = 0x3000, PT_TEST = 0x4000;
const PAGE_A = 0x5000, PAGE_B = 0x6000, TEST = 0x400000;
const PTE = 3; // present, writable

/**
 * A paged 32-bit guest that reads the dword at linear TEST and writes it to port 0x80, forever
 * (each loop after an INVLPG of TEST when `invlpg`). Returns the values of its first two OUTs,
 * with TEST moved from PAGE_A (0xa) to PAGE_B (0xb) in its page table between them.
 */
function twoReads(root: string, invlpg: boolean): number[] {
  const mem = new Uint8Array(MEM), view = new DataView(mem.buffer);
  // loop: mov eax, [TEST]; out 0x80, eax; [invlpg [TEST];] jmp loop
  const code = [0xa1, 0x00, 0x00, 0x40, 0x00, 0xe7, 0x80];
  if (invlpg) code.push(0x0f, 0x01, 0x3d, 0x00, 0x00, 0x40, 0x00);
  code.push(0xeb, (-(code.length + 2)) & 0xff);
  mem.set(code, CODE);
  view.setUint32(PAGE_DIR, PT_LOW | PTE, true);
  view.setUint32(PAGE_DIR + (TEST >>> 22) * 4, PT_TEST | PTE, true);
  for (let p = 0; p < MEM; p += 0x1000) view.setUint32(PT_LOW + (p >>> 12) * 4, p | PTE, true);
  view.setUint32(PT_TEST, PAGE_A | PTE, true);
  view.setUint32(PAGE_A, 0xa, true);
  view.setUint32(PAGE_B, 0xb, true);
  const kvm = Kvm.open({ root });
  const vm = kvm.createVm();
  try {
    vm.setUserMemoryRegion({ slot: 0, flags: 0, guest_phys_addr: 0, memory_size: MEM, userspace_addr: mem });
    const vcpu = vm.createVcpu(0);
    vcpu.setCpuid2(kvm.getSupportedCpuid(256));
    const s = vcpu.getSregs(), data = flat(0x10, false);
    vcpu.setSregs({
      ...s,
      cs: flat(0x08, true),
      ds: data,
      es: data,
      ss: data,
      fs: data,
      gs: data,
      cr0: 0x80000011n,
      cr3: BigInt(PAGE_DIR),
    });
    vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(CODE), rsp: 0x8000n, rflags: 2n });
    const out: number[] = [];
    for (let k = 0; k < 2; k++) {
      vcpu.run();
      assert.equal(vcpu.kvmRun.exit_reason, KVM_EXIT.IO);
      out.push(new DataView(vcpu.kvmRun.ioData().slice().buffer).getUint32(0, true));
      view.setUint32(PT_TEST, PAGE_B | PTE, true);
    }
    return out;
  } finally {
    vm.close();
    kvm.close();
  }
}

Deno.test("vpid=1: the guest's TLB survives exits to user space; a changed PTE is seen after INVLPG", async () => {
  const root = await rootWith(["kvm_intel"]);
  assert.deepEqual(twoReads(root, false), [0xa, 0xa], "the stale entry is still used");
  assert.deepEqual(twoReads(root, true), [0xa, 0xb], "INVLPG dropped it");
});

Deno.test("vpid=0: every VM entry flushes the guest's TLB, so the changed PTE is seen at once", async () => {
  const root = await rootWith(["kvm_intel", "vpid=0"]);
  assert.deepEqual(twoReads(root, false), [0xa, 0xb]);
});
