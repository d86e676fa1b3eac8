/** struct kvm_run: the fields sit at the offsets of <linux/kvm.h> and the ioctl numbers are the real ones. */
import assert from "node:assert/strict";
import { KVM, KVM_EXIT, KVM_RUN_OFFSET, KvmRun, SIZEOF, VCPU_MMAP_SIZE } from "../../lib/virt/kvm/mod.ts";

Deno.test("ioctl request numbers match <linux/kvm.h>", () => {
  // Values printed by gcc from this machine's /usr/include/linux/kvm.h (x86-64).
  const expected: Record<string, number> = {
    GET_API_VERSION: 0xae00,
    CREATE_VM: 0xae01,
    GET_MSR_INDEX_LIST: 0xc004ae02,
    CHECK_EXTENSION: 0xae03,
    GET_VCPU_MMAP_SIZE: 0xae04,
    GET_SUPPORTED_CPUID: 0xc008ae05,
    CREATE_VCPU: 0xae41,
    SET_USER_MEMORY_REGION: 0x4020ae46,
    SET_TSS_ADDR: 0xae47,
    CREATE_IRQCHIP: 0xae60,
    IRQ_LINE: 0x4008ae61,
    CREATE_PIT2: 0x4040ae77,
    RUN: 0xae80,
    GET_REGS: 0x8090ae81,
    SET_REGS: 0x4090ae82,
    GET_SREGS: 0x8138ae83,
    SET_SREGS: 0x4138ae84,
    INTERRUPT: 0x4004ae86,
    GET_MSRS: 0xc008ae88,
    SET_MSRS: 0x4008ae89,
    SET_CPUID2: 0x4008ae90,
    GET_CPUID2: 0xc008ae91,
    GET_MP_STATE: 0x8004ae98,
    SET_MP_STATE: 0x4004ae99,
  };
  for (const [name, value] of Object.entries(expected)) {
    assert.equal(KVM[name as keyof typeof KVM], value, name);
  }
  assert.equal(SIZEOF.kvm_sregs, 8 * SIZEOF.kvm_segment + 2 * SIZEOF.kvm_dtable + 7 * 8 + 4 * 8);
});

Deno.test("kvm_run: IO exit fields at their offsets, data at data_offset in the PIO page", () => {
  const run = new KvmRun();
  assert.equal(run.buffer.byteLength, VCPU_MMAP_SIZE);
  run.exitIo(1, 1, 0x3f8, 2, new Uint8Array([0x48, 0x69]));
  const v = new DataView(run.buffer);
  assert.equal(v.getUint32(8, true), KVM_EXIT.IO);
  assert.equal(v.getUint8(32), 1);
  assert.equal(v.getUint8(33), 1);
  assert.equal(v.getUint16(34, true), 0x3f8);
  assert.equal(v.getUint32(36, true), 2);
  assert.equal(v.getBigUint64(40, true), 4096n);
  assert.deepEqual([...run.bytes.subarray(4096, 4098)], [0x48, 0x69]);
  assert.deepEqual(run.io, { direction: 1, size: 1, port: 0x3f8, count: 2, data_offset: 4096 });
  assert.deepEqual([...run.ioData()], [0x48, 0x69]);
});

Deno.test("kvm_run: MMIO, FAIL_ENTRY, INTERNAL_ERROR and SYSTEM_EVENT unions", () => {
  const run = new KvmRun();
  const v = new DataView(run.buffer);
  run.exitMmio(0xfee00030n, 4, true, new Uint8Array([1, 2, 3, 4]));
  assert.equal(run.exit_reason, KVM_EXIT.MMIO);
  assert.equal(v.getBigUint64(32, true), 0xfee00030n);
  assert.deepEqual([...run.bytes.subarray(40, 44)], [1, 2, 3, 4]);
  assert.equal(v.getUint32(48, true), 4);
  assert.equal(v.getUint8(52), 1);
  assert.equal(run.mmio.len, 4);

  run.exitFailEntry(0x80000021n, 3);
  assert.equal(run.exit_reason, KVM_EXIT.FAIL_ENTRY);
  assert.equal(v.getBigUint64(32, true), 0x80000021n);
  assert.equal(v.getUint32(40, true), 3);
  assert.equal(v.getUint32(48, true), 0, "the union is cleared between exits");

  run.exitInternal(1, [7n, 9n]);
  assert.deepEqual(run.internal, { suberror: 1, ndata: 2, data: [7n, 9n] });
  assert.equal(v.getUint32(32, true), 1);
  assert.equal(v.getBigUint64(48, true), 9n);

  run.exitSystemEvent(2);
  assert.equal(run.exit_reason, KVM_EXIT.SYSTEM_EVENT);
  assert.equal(run.system_event.type, 2);

  run.immediate_exit = 1;
  assert.equal(run.bytes[KVM_RUN_OFFSET.immediate_exit], 1);
  run.setStatus(true, true, 0n, 0xfee00900n);
  assert.equal(v.getUint8(13), 1);
  assert.equal(v.getBigUint64(24, true), 0xfee00900n);
});
