/**
 * struct kvm_run, the page user space mmaps from a vCPU fd, laid out in an ArrayBuffer at the real
 * offsets: callers read exit_reason and the exit union exactly as C code would, and the PIO data
 * lives at io.data_offset inside the same mapping.
 */
import { KVM_EXIT, KVM_EXIT_IO_OUT, KVM_PIO_PAGE_OFFSET, LIMITS, VCPU_MMAP_SIZE } from "./constants.ts";

/** Field offsets in struct kvm_run (x86). */
export const KVM_RUN_OFFSET = {
  request_interrupt_window: 0,
  immediate_exit: 1,
  exit_reason: 8,
  ready_for_interrupt_injection: 12,
  if_flag: 13,
  flags: 14,
  cr8: 16,
  apic_base: 24,
  /** The exit union. */
  union: 32,
  io_direction: 32,
  io_size: 33,
  io_port: 34,
  io_count: 36,
  io_data_offset: 40,
  mmio_phys_addr: 32,
  mmio_data: 40,
  mmio_len: 48,
  mmio_is_write: 52,
  fail_entry_hardware_entry_failure_reason: 32,
  fail_entry_cpu: 40,
  internal_suberror: 32,
  internal_ndata: 36,
  internal_data: 40,
  system_event_type: 32,
  system_event_ndata: 36,
  system_event_data: 40,
  kvm_valid_regs: 288,
  kvm_dirty_regs: 296,
  sync_regs: 304,
} as const;

const O = KVM_RUN_OFFSET;
const UNION_SIZE = 256;

/** The mmap of a vCPU fd, as a view with named accessors over the raw bytes. */
export class KvmRun {
  readonly buffer = new ArrayBuffer(VCPU_MMAP_SIZE);
  readonly bytes = new Uint8Array(this.buffer);
  readonly view = new DataView(this.buffer);

  get request_interrupt_window(): number {
    return this.bytes[O.request_interrupt_window];
  }
  set request_interrupt_window(v: number) {
    this.bytes[O.request_interrupt_window] = v;
  }
  get immediate_exit(): number {
    return this.bytes[O.immediate_exit];
  }
  set immediate_exit(v: number) {
    this.bytes[O.immediate_exit] = v;
  }
  get exit_reason(): number {
    return this.view.getUint32(O.exit_reason, true);
  }
  get ready_for_interrupt_injection(): number {
    return this.bytes[O.ready_for_interrupt_injection];
  }
  get if_flag(): number {
    return this.bytes[O.if_flag];
  }
  get cr8(): bigint {
    return this.view.getBigUint64(O.cr8, true);
  }
  get apic_base(): bigint {
    return this.view.getBigUint64(O.apic_base, true);
  }

  get io(): { direction: number; size: number; port: number; count: number; data_offset: number } {
    const v = this.view;
    return {
      direction: this.bytes[O.io_direction],
      size: this.bytes[O.io_size],
      port: v.getUint16(O.io_port, true),
      count: v.getUint32(O.io_count, true),
      data_offset: Number(v.getBigUint64(O.io_data_offset, true)),
    };
  }
  /** The bytes of an IO exit (size * count of them at data_offset). */
  ioData(): Uint8Array {
    const io = this.io;
    return this.bytes.subarray(io.data_offset, io.data_offset + io.size * io.count);
  }
  get mmio(): { phys_addr: bigint; data: Uint8Array; len: number; is_write: number } {
    return {
      phys_addr: this.view.getBigUint64(O.mmio_phys_addr, true),
      data: this.bytes.subarray(O.mmio_data, O.mmio_data + 8),
      len: this.view.getUint32(O.mmio_len, true),
      is_write: this.bytes[O.mmio_is_write],
    };
  }
  get fail_entry(): { hardware_entry_failure_reason: bigint; cpu: number } {
    return {
      hardware_entry_failure_reason: this.view.getBigUint64(O.fail_entry_hardware_entry_failure_reason, true),
      cpu: this.view.getUint32(O.fail_entry_cpu, true),
    };
  }
  get internal(): { suberror: number; ndata: number; data: bigint[] } {
    const ndata = Math.min(16, this.view.getUint32(O.internal_ndata, true));
    const data = Array.from(
      { length: ndata },
      (_, i) => this.view.getBigUint64(O.internal_data + 8 * i, true),
    );
    return { suberror: this.view.getUint32(O.internal_suberror, true), ndata, data };
  }
  get system_event(): { type: number; ndata: number; data: bigint[] } {
    const ndata = Math.min(16, this.view.getUint32(O.system_event_ndata, true));
    const data = Array.from(
      { length: ndata },
      (_, i) => this.view.getBigUint64(O.system_event_data + 8 * i, true),
    );
    return { type: this.view.getUint32(O.system_event_type, true), ndata, data };
  }

  // The kernel side: what the vCPU writes before returning from KVM_RUN.

  /** Clears the union and sets exit_reason. */
  beginExit(reason: number): void {
    this.bytes.fill(0, O.union, O.union + UNION_SIZE);
    this.view.setUint32(O.exit_reason, reason, true);
  }
  /** An IO exit; OUT data is copied to the PIO page, IN data is for user space to fill there. */
  exitIo(direction: number, size: number, port: number, count: number, out?: Uint8Array): void {
    this.beginExit(KVM_EXIT.IO);
    const dataOffset = KVM_PIO_PAGE_OFFSET * LIMITS.pageSize;
    this.bytes[O.io_direction] = direction;
    this.bytes[O.io_size] = size;
    this.view.setUint16(O.io_port, port, true);
    this.view.setUint32(O.io_count, count, true);
    this.view.setBigUint64(O.io_data_offset, BigInt(dataOffset), true);
    if (direction === KVM_EXIT_IO_OUT && out) this.bytes.set(out.subarray(0, size * count), dataOffset);
  }
  exitMmio(physAddr: bigint, len: number, isWrite: boolean, data?: Uint8Array): void {
    this.beginExit(KVM_EXIT.MMIO);
    this.view.setBigUint64(O.mmio_phys_addr, physAddr, true);
    if (data) this.bytes.set(data.subarray(0, Math.min(8, len)), O.mmio_data);
    this.view.setUint32(O.mmio_len, len, true);
    this.bytes[O.mmio_is_write] = isWrite ? 1 : 0;
  }
  exitFailEntry(reason: bigint, cpu: number): void {
    this.beginExit(KVM_EXIT.FAIL_ENTRY);
    this.view.setBigUint64(O.fail_entry_hardware_entry_failure_reason, reason, true);
    this.view.setUint32(O.fail_entry_cpu, cpu, true);
  }
  exitInternal(suberror: number, data: readonly bigint[] = []): void {
    this.beginExit(KVM_EXIT.INTERNAL_ERROR);
    this.view.setUint32(O.internal_suberror, suberror, true);
    this.view.setUint32(O.internal_ndata, Math.min(16, data.length), true);
    data.slice(0, 16).forEach((d, i) => this.view.setBigUint64(O.internal_data + 8 * i, d, true));
  }
  exitSystemEvent(type: number, data: readonly bigint[] = []): void {
    this.beginExit(KVM_EXIT.SYSTEM_EVENT);
    this.view.setUint32(O.system_event_type, type, true);
    this.view.setUint32(O.system_event_ndata, Math.min(16, data.length), true);
    data.slice(0, 16).forEach((d, i) => this.view.setBigUint64(O.system_event_data + 8 * i, d, true));
  }
  /** The fields refreshed on every return from KVM_RUN. */
  setStatus(ifFlag: boolean, readyForInjection: boolean, cr8: bigint, apicBase: bigint): void {
    this.bytes[O.if_flag] = ifFlag ? 1 : 0;
    this.bytes[O.ready_for_interrupt_injection] = readyForInjection ? 1 : 0;
    this.view.setBigUint64(O.cr8, cr8, true);
    this.view.setBigUint64(O.apic_base, apicBase, true);
  }
}
