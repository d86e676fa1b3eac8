/**
 * kvm_intel ept=0: shadow paging (lib/virt/kvm/intel/shadow_mmu.ts). Paging guests print under
 * -enable-kvm exactly what they print under tcg; through the KVM API, a small protected-mode
 * guest with its own page tables shows what the shadow MMU must keep exact (the guest's CR3 and
 * CR2, accessed/dirty flags, a reflected #PF's error code, MMIO behind a guest mapping) and the
 * statistics Linux keeps for it, with 32-bit and with PAE guest paging (PDPTEs loaded at MOV to CR3,
 * a reserved bit there a #GP); real mode is refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Kvm, KVM_EXIT, type KvmSegment } from "../../lib/virt/kvm/mod.ts";
import { HEADLESS_DEBUG_EXIT, PROJECT } from "../support/tools.ts";
import { rootWith } from "./support/setup.ts";

const shadowRoot = await rootWith(["kvm_intel", "ept=0"]);
const eptRoot = await rootWith(["kvm_intel"]);
const decoder = new TextDecoder();

async function qemu(root: string | undefined, args: string[]) {
  const task: string = JSON.parse(Deno.readTextFileSync(join(PROJECT, "deno.json"))).tasks["qemu-system"];
  const words = task.split(/\s+/).slice(2).map((w) => (w.startsWith("cli/") ? join(PROJECT, w) : w));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...words, ...(root ? ["-enable-kvm"] : []), ...args],
    env: root ? { KVM_CTL_ROOT: root } : {},
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

for (
  const guest of [
    "kvm/shadow",
    "cpu/paging",
    "cpu/pae",
    "cpu/exceptions",
    "cpu/rings",
    "cpu/v86",
    "cpu/vme",
    "cpu/smc",
    "bench/cpu",
  ]
) {
  Deno.test(`ept=0: ${guest} prints under -enable-kvm what it prints under tcg`, async () => {
    const args = [...HEADLESS_DEBUG_EXIT, "-kernel", join(PROJECT, "tests", "guests", `${guest}.bin`)];
    const tcg = await qemu(undefined, args);
    assert.equal(tcg.code, 1, tcg.stderr);
    assert.deepEqual(await qemu(shadowRoot, args), tcg);
  });
}

Deno.test("ept=1: cpu/pae (PAE paging through EPT) prints under -enable-kvm what it prints under tcg", async () => {
  const args = [...HEADLESS_DEBUG_EXIT, "-kernel", join(PROJECT, "tests", "guests", "cpu/pae.bin")];
  const tcg = await qemu(undefined, args);
  assert.equal(tcg.code, 1, tcg.stderr);
  assert.deepEqual(await qemu(eptRoot, args), tcg);
});

// Hardware task switches exit (TASK_SWITCH, reason 9) and kvm_intel's emulator performs them on the
// guest's state (faults before and after the switch commits included): with the shadow MMU a new
// task's CR3 is the guest's, not the CPU's.
for (const guest of ["cpu/tasks", "cpu/tasks16", "cpu/task_checks", "cpu/task_gate_fault"]) {
  for (const [name, root] of [["ept=0", shadowRoot], ["ept=1", eptRoot]] as const) {
    Deno.test(`${name}: ${guest} (task switches) prints under -enable-kvm what it prints under tcg`, async () => {
      const args = [...HEADLESS_DEBUG_EXIT, "-kernel", join(PROJECT, "tests", "guests", `${guest}.bin`)];
      const tcg = await qemu(undefined, args);
      assert.equal(tcg.code, 1, tcg.stderr);
      assert.deepEqual(await qemu(root, args), tcg);
    });
  }
}

// ---- through the KVM API ----

const MEM = 0x100000;
const PD = 0x10000, PT = 0x11000, GDT = 0x500, IDT = 0x600, CODE = 0x1000, HANDLER = 0x1800;
const P = 1, W = 2, A = 0x20, D = 0x40;

/**
 * The guest's mappings: its first 64 KiB identity-mapped; linear 0x400000 -> guest-physical
 * 0xd0000000 (no slot), 0x401000 -> 0x2000, 0x402000 not present.
 */
const CODE_BYTES = [
  0xa1,
  0x00,
  0x00,
  0x40,
  0x00, // mov eax, [0x400000]      MMIO read behind a guest mapping
  0xa3,
  0x00,
  0x10,
  0x40,
  0x00, // mov [0x401000], eax      first write: sets D
  0x8b,
  0x1d,
  0x00,
  0x20,
  0x40,
  0x00, // mov ebx, [0x402000] not present: #PF to the guest
  0xf4, // hlt (not reached)
];
const HANDLER_BYTES = [
  0x58, // pop eax                  the error code
  0x0f,
  0x20,
  0xd1, // mov ecx, cr2
  0x0f,
  0x20,
  0xda, // mov edx, cr3
  0xf4, // hlt
];

const PDPT = 0x13000, PAE_PD = 0x14000, PAE_PT0 = 0x15000, PAE_PT = 0x16000, BAD_PDPT = 0x17000;
const GP_HANDLER = 0x1900;
const GP_HANDLER_BYTES = [
  0x58, // pop eax                  the error code
  0x0f,
  0x20,
  0xda, // mov edx, cr3
  0xf4, // hlt
];

/**
 * The same mappings in PAE format (PDPT entry 0, 8-byte entries, PD entry 2 for 0x400000), and a
 * second PDPT whose entry 1 has reserved bit 1 set.
 */
function paeTables(dv: DataView): void {
  dv.setUint32(PDPT, PAE_PD | P, true);
  dv.setUint32(PAE_PD, PAE_PT0 | P | W, true);
  dv.setUint32(PAE_PD + 2 * 8, PAE_PT | P | W, true);
  for (let p = 0; p < 32; p++) dv.setUint32(PAE_PT0 + p * 8, (p << 12) | P | W, true);
  dv.setUint32(PAE_PT + 0, 0xd0000000 | P | W, true);
  dv.setUint32(PAE_PT + 8, 0x2000 | P | W, true);
  dv.setUint32(BAD_PDPT, PAE_PD | P, true);
  dv.setUint32(BAD_PDPT + 8, PAE_PD | P | 2, true);
}

/** A protected-mode vCPU with paging on through the page tables above (PAE ones with cr4 = 0x20). */
function pagingGuest(root: string, cr4 = 0n) {
  const kvm = Kvm.open({ root });
  const vm = kvm.createVm();
  const mem = new Uint8Array(MEM);
  const dv = new DataView(mem.buffer);
  dv.setBigUint64(GDT + 8, 0x00cf9a000000ffffn, true);
  dv.setBigUint64(GDT + 16, 0x00cf92000000ffffn, true);
  // IDT entry 14: 32-bit interrupt gate to HANDLER.
  dv.setUint32(IDT + 14 * 8, (0x08 << 16) | HANDLER, true);
  dv.setUint32(IDT + 14 * 8 + 4, 0x8e00, true);
  mem.set(CODE_BYTES, CODE);
  mem.set(HANDLER_BYTES, HANDLER);
  // IDT entry 13: 32-bit interrupt gate to GP_HANDLER.
  dv.setUint32(IDT + 13 * 8, (0x08 << 16) | GP_HANDLER, true);
  dv.setUint32(IDT + 13 * 8 + 4, 0x8e00, true);
  mem.set(GP_HANDLER_BYTES, GP_HANDLER);
  paeTables(dv);
  const PT0 = 0x12000;
  dv.setUint32(PD, PT0 | P | W, true);
  dv.setUint32(PD + 4, PT | P | W, true);
  for (let p = 0; p < 16; p++) dv.setUint32(PT0 + p * 4, (p << 12) | P | W, true);
  dv.setUint32(PT + 0, 0xd0000000 | P | W, true);
  dv.setUint32(PT + 4, 0x2000 | P | W, true);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guest_phys_addr: 0, memory_size: MEM, userspace_addr: mem });
  const vcpu = vm.createVcpu(0);
  vcpu.setCpuid2(kvm.getSupportedCpuid(256));
  const s = vcpu.getSregs();
  const flat = (type: number, selector: number): KvmSegment => ({
    ...s.cs,
    base: 0n,
    limit: 0xffffffff,
    selector,
    type,
    db: 1,
    g: 1,
  });
  const data = flat(3, 0x10);
  vcpu.setSregs({
    ...s,
    cs: flat(11, 0x08),
    ds: data,
    es: data,
    ss: data,
    fs: data,
    gs: data,
    gdt: { base: BigInt(GDT), limit: 23 },
    idt: { base: BigInt(IDT), limit: 256 * 8 - 1 },
    cr0: 0x80000011n,
    cr3: BigInt(cr4 ? PDPT : PD),
    cr4,
  });
  vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(CODE), rsp: 0x8000n, rflags: 2n });
  return {
    vcpu,
    mem,
    dv,
    [Symbol.dispose]() {
      vm.close();
      kvm.close();
    },
  };
}

for (
  const [name, root, cr4] of [
    ["ept=0", shadowRoot, 0n],
    ["ept=1", eptRoot, 0n],
    ["ept=0 PAE", shadowRoot, 0x20n],
    ["ept=1 PAE", eptRoot, 0x20n],
  ] as const
) {
  Deno.test(`${name}: guest paging through the KVM API: MMIO, A/D flags, a guest #PF with CR2 and its error code`, () => {
    using g = pagingGuest(root, cr4);
    const cr3 = cr4 ? PDPT : PD, pt = cr4 ? PAE_PT : PT;
    const run = g.vcpu.kvmRun;
    g.vcpu.run();
    assert.equal(run.exit_reason, KVM_EXIT.MMIO);
    assert.deepEqual([run.mmio.phys_addr, run.mmio.len, run.mmio.is_write], [0xd0000000n, 4, 0]);
    run.mmio.data.set([0x78, 0x56, 0x34, 0x12]);
    g.vcpu.run();
    assert.equal(run.exit_reason, KVM_EXIT.HLT);
    const r = g.vcpu.getRegs();
    assert.equal(r.rip, BigInt(HANDLER + HANDLER_BYTES.length), "the #PF reached the guest's handler");
    assert.equal(r.rax, 0n, "error code: supervisor read of a not-present page");
    assert.equal(r.rcx, 0x402000n, "CR2 as the guest reads it");
    assert.equal(r.rdx, BigInt(cr3), "CR3 as the guest reads it");
    const s = g.vcpu.getSregs();
    assert.deepEqual([s.cr2, s.cr3, s.cr0 & 0x80000001n, s.cr4], [0x402000n, BigInt(cr3), 0x80000001n, cr4]);
    assert.equal(g.dv.getUint32(0x2000, true), 0x12345678, "the write through the guest mapping");
    const size = cr4 ? 8 : 4;
    assert.equal(g.dv.getUint32(pt, true) & (A | D), A, "read: accessed, not dirty");
    assert.equal(g.dv.getUint32(pt + size, true) & (A | D), A | D, "written: accessed and dirty");
    const c = g.vcpu.stats.counters, vmc = g.vcpu.stats.vmCounters;
    if (name.startsWith("ept=0")) {
      assert.equal(c.pf_guest, 1);
      assert.ok(c.pf_fixed >= 4 && c.pf_taken === c.pf_fixed + c.pf_guest, JSON.stringify(c));
      assert.ok(vmc.mmu_cache_miss >= 2, JSON.stringify(vmc));
      assert.ok(g.vcpu.stats.exitReasons.EXCEPTION_NMI >= 5);
    } else {
      assert.deepEqual([c.pf_guest, vmc.mmu_cache_miss, g.vcpu.stats.exitReasons.EXCEPTION_NMI], [
        0,
        0,
        undefined,
      ]);
    }
  });
}

Deno.test("ept=0: a PAE guest's MOV to CR3 with a reserved PDPTE bit #GPs and keeps CR3; real mode fails the entry", () => {
  {
    using g = pagingGuest(shadowRoot, 0x20n);
    // mov eax, BAD_PDPT; mov cr3, eax; hlt
    g.mem.set([0xb8, ...new Uint8Array(new Uint32Array([BAD_PDPT]).buffer), 0x0f, 0x22, 0xd8, 0xf4], CODE);
    g.vcpu.run();
    assert.equal(g.vcpu.kvmRun.exit_reason, KVM_EXIT.HLT);
    const r = g.vcpu.getRegs();
    assert.equal(r.rip, BigInt(GP_HANDLER + GP_HANDLER_BYTES.length), "the #GP reached the guest's handler");
    assert.deepEqual([r.rax, r.rdx], [0n, BigInt(PDPT)], "error code 0, CR3 as it was");
    assert.equal(g.vcpu.getSregs().cr3, BigInt(PDPT));
  }
  using kvm = Kvm.open({ root: shadowRoot });
  using vm = kvm.createVm();
  const mem = new Uint8Array(0x10000);
  mem[0x1000] = 0xf4; // hlt
  vm.setUserMemoryRegion({
    slot: 0,
    flags: 0,
    guest_phys_addr: 0,
    memory_size: mem.length,
    userspace_addr: mem,
  });
  const vcpu = vm.createVcpu(0);
  const s = vcpu.getSregs();
  vcpu.setSregs({ ...s, cs: { ...s.cs, base: 0n, selector: 0 } });
  vcpu.setRegs({ ...vcpu.getRegs(), rip: 0x1000n, rflags: 2n });
  vcpu.run();
  assert.equal(vcpu.kvmRun.exit_reason, KVM_EXIT.FAIL_ENTRY);
  assert.equal(vcpu.kvmRun.fail_entry.hardware_entry_failure_reason, 0x80000021n);
});
