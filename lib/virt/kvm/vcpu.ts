/**
 * A vCPU fd (KVM_CREATE_VCPU): its mmap'd kvm_run, GET/SET_REGS, GET/SET_SREGS with Linux's
 * kvm_is_valid_sregs checks, GET/SET_MSRS honouring ignore_msrs, SET/GET_CPUID2, GET/SET_MP_STATE,
 * INTERRUPT, and KVM_RUN, which hands the vCPU to the vendor backend.
 */
import { ErrnoError } from "../../errors.ts";
import { KVM_INTERNAL_ERROR, KVM_MP_STATE, LIMITS } from "./constants.ts";
import { KvmRun } from "./kvm_run.ts";
import { MSR } from "./msrs.ts";
import { resetRdx } from "./cpuid.ts";
import { VcpuStats } from "./stats.ts";
import {
  cloneSregs,
  type KvmCpuidEntry2,
  type KvmMsrEntry,
  type KvmRegs,
  type KvmSregs,
  REG_NAMES,
  resetSregs,
  zeroRegs,
} from "./structs.ts";
import type { VcpuContext, VendorVcpu } from "./backend.ts";
import type { VmInternals } from "./vm_internals.ts";

const CR0_PE = 1n, CR0_NW = 1n << 29n, CR0_CD = 1n << 30n, CR0_PG = 1n << 31n;
const CR4_PAE = 1n << 5n, CR4_VMXE = 1n << 13n;
/** CR4 bits the simulated host CPU has (VME..OSXMMEXCPT); VMXE only for a nested-capable guest. */
const CR4_KNOWN = 0x7ffn;
const EFER_LME = 1n << 8n, EFER_LMA = 1n << 10n;
const APIC_BASE_RESERVED = 0x6ffn | ~0xfffffffffn;
const RFLAGS_FIXED = 2n;
const CPUID_1_ECX_VMX = 1 << 5;

/**
 * The EINTR that ends a KVM_RUN the signal timer interrupted: the ordinary end of a busy guest's
 * run, up to thousands of times a second, so one error serves them all (making an Error captures
 * a stack trace, which no one reads here).
 */
const SIGNAL_INTERRUPTED = new ErrnoError("EINTR");

export class KvmVcpu {
  /** The vCPU's mmap (KVM_GET_VCPU_MMAP_SIZE bytes): struct kvm_run, then the PIO page. */
  readonly kvmRun = new KvmRun();
  readonly stats = new VcpuStats();
  readonly #vm: VmInternals;
  readonly #ctx: VcpuContext;
  #ran = false;
  readonly #backend?: VendorVcpu;
  #closed = false;

  constructor(vm: VmInternals, readonly id: number) {
    this.#vm = vm;
    const apicBase = vm.irqchip ? 0xfee00000n | 0x800n | (id === 0 ? 0x100n : 0n) : 0n;
    const regs = zeroRegs();
    regs.rip = 0xfff0n;
    regs.rflags = RFLAGS_FIXED;
    regs.rdx = resetRdx([]);
    const sregs = resetSregs(apicBase);
    this.#ctx = {
      id,
      regs,
      sregs,
      msrs: vm.msrTable.resetValues(),
      cpuid: [],
      memory: vm.memory,
      params: vm.params,
      stats: this.stats,
      irqchip: vm.irqchip,
      pendingInterrupt: -1,
      kernelIrqchip: id === 0 ? vm.kernelIrqchip : undefined,
      nmiPending: 0,
      // An AP waits for INIT/SIPI only when the kernel has the local APICs to deliver them.
      mpState: vm.irqchip && id !== 0 ? KVM_MP_STATE.UNINITIALIZED : KVM_MP_STATE.RUNNABLE,
      instructions: 0,
      signalAt: Infinity,
      signalAtMs: Infinity,
      hostNowNs: vm.hostNowNs,
      msrTable: vm.msrTable,
      ignoredMsr: (index, data, write) => this.#ignored(index, data, write),
    };
    this.#backend = vm.backend?.createVcpu(this.#ctx);
  }

  /** The backend's copy of the registers into the context, before the context is read. */
  #sync(): void {
    this.#backend?.saveToContext?.();
  }

  /** After the context changed: the backend reloads it at the next entry. */
  #changed(): void {
    this.#backend?.contextChanged?.();
  }

  #check(): void {
    if (this.#closed || this.#vm.closed) throw new ErrnoError("EBADF");
  }

  /** KVM_GET_REGS */
  getRegs(): KvmRegs {
    this.#check();
    this.#sync();
    return { ...this.#ctx.regs };
  }

  /** KVM_SET_REGS: RFLAGS bit 1 always reads as 1. */
  setRegs(regs: KvmRegs): void {
    this.#check();
    this.#sync();
    for (const n of REG_NAMES) this.#ctx.regs[n] = BigInt.asUintN(64, BigInt(regs[n]));
    this.#ctx.regs.rflags |= RFLAGS_FIXED;
    this.#changed();
  }

  /** KVM_GET_SREGS: the pending external interrupt shows in interrupt_bitmap. */
  getSregs(): KvmSregs {
    this.#check();
    this.#sync();
    const s = cloneSregs(this.#ctx.sregs);
    s.interrupt_bitmap = [0n, 0n, 0n, 0n];
    const v = this.#ctx.pendingInterrupt;
    if (v >= 0) s.interrupt_bitmap[v >> 6] = 1n << BigInt(v & 63);
    return s;
  }

  /** KVM_SET_SREGS: EINVAL for what kvm_is_valid_sregs and kvm_set_apic_base refuse. */
  setSregs(sregs: KvmSregs): void {
    this.#check();
    const cr0 = BigInt(sregs.cr0), cr4 = BigInt(sregs.cr4), efer = BigInt(sregs.efer);
    if ((efer & EFER_LME) && (cr0 & CR0_PG)) {
      if (!(cr4 & CR4_PAE) || !(efer & EFER_LMA)) {
        throw new ErrnoError("EINVAL", "long mode needs PAE and EFER.LMA");
      }
    } else if ((efer & EFER_LMA) || sregs.cs.l) {
      throw new ErrnoError("EINVAL", "EFER.LMA or CS.L outside long mode");
    }
    if (cr0 >> 32n || ((cr0 & CR0_NW) && !(cr0 & CR0_CD)) || ((cr0 & CR0_PG) && !(cr0 & CR0_PE))) {
      throw new ErrnoError("EINVAL", "invalid CR0");
    }
    if (cr4 & ~(CR4_KNOWN | (this.#vmxAllowed() ? CR4_VMXE : 0n))) {
      throw new ErrnoError("EINVAL", "invalid CR4");
    }
    if (BigInt(sregs.apic_base) & APIC_BASE_RESERVED) throw new ErrnoError("EINVAL", "invalid APIC base");
    this.#sync();
    const s = cloneSregs(sregs);
    for (const k of ["cr0", "cr2", "cr3", "cr4", "cr8", "efer", "apic_base"] as const) {
      s[k] = BigInt.asUintN(64, BigInt(s[k]));
    }
    const bitmap = sregs.interrupt_bitmap;
    let pending = -1;
    for (let i = 0; i < LIMITS.nrInterrupts && pending < 0; i++) {
      if ((BigInt(bitmap[i >> 6] ?? 0n) >> BigInt(i & 63)) & 1n) pending = i;
    }
    if (pending >= 0) this.#ctx.pendingInterrupt = pending;
    s.interrupt_bitmap = [0n, 0n, 0n, 0n];
    Object.assign(this.#ctx.sregs, s);
    this.#changed();
  }

  #vmxAllowed(): boolean {
    const leaf1 = this.#ctx.cpuid.find((e) => e.function === 1);
    return this.#vm.params.nested && !!leaf1 && (leaf1.ecx & CPUID_1_ECX_VMX) !== 0;
  }

  /** KVM_GET_MSRS: fills `entries[i].data` and returns how many were read (stops at the first unhandled). */
  getMsrs(entries: KvmMsrEntry[]): number {
    this.#check();
    this.#sync();
    if (entries.length >= LIMITS.maxIoMsrs) throw new ErrnoError("E2BIG");
    let paramsRead = false; // once an ioctl, at its first unknown MSR
    for (let i = 0; i < entries.length; i++) {
      const index = entries[i].index >>> 0;
      if (this.#vm.msrTable.has(index)) entries[i].data = this.#readMsr(index);
      else if (this.#ignored(index, 0n, false, !paramsRead && (paramsRead = true))) entries[i].data = 0n;
      else return i;
    }
    return entries.length;
  }

  /** KVM_SET_MSRS: returns how many were written (stops at the first refused). */
  setMsrs(entries: readonly KvmMsrEntry[]): number {
    this.#check();
    if (entries.length >= LIMITS.maxIoMsrs) throw new ErrnoError("E2BIG");
    this.#sync();
    let paramsRead = false; // once an ioctl, at its first unknown MSR
    try {
      for (let i = 0; i < entries.length; i++) {
        const index = entries[i].index >>> 0, data = BigInt.asUintN(64, BigInt(entries[i].data));
        if (!this.#vm.msrTable.has(index)) {
          if (this.#ignored(index, data, true, !paramsRead && (paramsRead = true))) continue;
          return i;
        }
        if (!this.#vm.msrTable.writable(index, data, this.#readMsr(index))) return i;
        this.#writeMsr(index, data);
      }
      return entries.length;
    } finally {
      this.#changed();
    }
  }

  #readMsr(index: number): bigint {
    if (index === MSR.EFER) return this.#ctx.sregs.efer;
    if (index === MSR.IA32_APICBASE) return this.#ctx.sregs.apic_base;
    return this.#ctx.msrs.get(index) ?? 0n;
  }

  #writeMsr(index: number, data: bigint): void {
    if (index === MSR.EFER) this.#ctx.sregs.efer = data;
    else if (index === MSR.IA32_APICBASE) this.#ctx.sregs.apic_base = data;
    else this.#ctx.msrs.set(index, data);
  }

  /**
   * kvm_msr_ignored_check: with ignore_msrs the access succeeds and may be reported in the kernel
   * log. `fromIoctl` on the first unknown MSR of a KVM_GET/SET_MSRS: parameters read afresh.
   */
  #ignored(index: number, data: bigint, write: boolean, fromIoctl = false): boolean {
    const p = this.#vm.params;
    if (fromIoctl) p.reread();
    if (!p.ignoreMsrs) return false;
    if (p.reportIgnoredMsrs) {
      const op = write ? "wrmsr" : "rdmsr";
      this.#vm.printkRatelimited(
        `kvm [${Deno.pid}]: ignored ${op}: 0x${index.toString(16)} data 0x${data.toString(16)}`,
      );
    }
    return true;
  }

  /** KVM_SET_CPUID2: E2BIG beyond 256 entries; after the first KVM_RUN only the same table is accepted. */
  setCpuid2(entries: readonly KvmCpuidEntry2[]): void {
    this.#check();
    if (entries.length > LIMITS.maxCpuidEntries) throw new ErrnoError("E2BIG");
    const copy = entries.map((e) => ({ ...e }));
    if (this.#ran && JSON.stringify(copy) !== JSON.stringify(this.#ctx.cpuid)) {
      throw new ErrnoError("EINVAL", "CPUID cannot change after KVM_RUN");
    }
    this.#ctx.cpuid = copy;
  }

  /** KVM_GET_CPUID2 with room for `nent` entries: E2BIG when the table does not fit. */
  getCpuid2(nent: number): KvmCpuidEntry2[] {
    this.#check();
    if (nent < this.#ctx.cpuid.length) throw new ErrnoError("E2BIG");
    return this.#ctx.cpuid.map((e) => ({ ...e }));
  }

  /** KVM_GET_MP_STATE */
  getMpState(): number {
    this.#check();
    return this.#ctx.mpState;
  }

  /** KVM_SET_MP_STATE: without an in-kernel local APIC only RUNNABLE is accepted. */
  setMpState(state: number): void {
    this.#check();
    if (state < 0 || state > KVM_MP_STATE.SIPI_RECEIVED) throw new ErrnoError("EINVAL");
    if (!this.#vm.irqchip && state !== KVM_MP_STATE.RUNNABLE) throw new ErrnoError("EINVAL");
    this.#ctx.mpState = state === KVM_MP_STATE.SIPI_RECEIVED ? KVM_MP_STATE.INIT_RECEIVED : state;
  }

  /** KVM_INTERRUPT: queue an external interrupt (user-space irqchip only). */
  interrupt(irq: number): void {
    this.#check();
    if (irq >>> 0 >= LIMITS.nrInterrupts) throw new ErrnoError("EINVAL");
    if (this.#vm.irqchip) throw new ErrnoError("ENXIO");
    if (this.#ctx.pendingInterrupt >= 0) throw new ErrnoError("EEXIST");
    this.#ctx.pendingInterrupt = irq;
  }

  /** KVM_NMI: queues an NMI for the next entry (kvm_inject_nmi). */
  nmi(): void {
    this.#check();
    this.#ctx.nmiPending++;
  }

  /** KVM_GET_LAPIC: the local APIC's 1 KiB register page (struct kvm_lapic_state); EINVAL without one. */
  getLapic(): Uint8Array {
    this.#check();
    if (!this.#ctx.kernelIrqchip) throw new ErrnoError("EINVAL", "no in-kernel local APIC");
    return this.#vm.kernelIrqchip!.getLapic();
  }

  /** KVM_SET_LAPIC */
  setLapic(regs: Uint8Array): void {
    this.#check();
    if (!this.#ctx.kernelIrqchip) throw new ErrnoError("EINVAL", "no in-kernel local APIC");
    this.#vm.kernelIrqchip!.setLapic(regs);
  }

  /**
   * KVM_RUN. EINTR at once with kvm_run.immediate_exit, or when the signal timer (setSignalTimer)
   * fires during the run (exit_reason KVM_EXIT_INTR). Without a vendor backend (kvm_amd: there is
   * no SVM in this CPU) a first instruction fetch outside every memory slot ends as Linux's does
   * (INTERNAL_ERROR, EMULATION) and anything else fails with ENOSYS.
   */
  run(): void {
    this.#check();
    const run = this.kvmRun;
    if (run.immediate_exit) throw new ErrnoError("EINTR");
    if (this.#ctx.mpState === KVM_MP_STATE.UNINITIALIZED) {
      // The AP blocks until INIT/SIPI; a simulated process has no signal to wake it, so report the wait.
      throw new ErrnoError("EINTR", "vCPU waits for INIT/SIPI");
    }
    this.#ran = true;
    let interrupted = false;
    if (!this.#backend) {
      const fetch = Number(BigInt.asUintN(32, this.#ctx.sregs.cs.base + this.#ctx.regs.rip));
      if (this.#vm.memory.find(fetch)) {
        throw new ErrnoError("ENOSYS", `KVM_RUN: no VMX backend for ${this.#vm.vendor} in this build`);
      }
      this.stats.count("insn_emulation_fail");
      run.exitInternal(KVM_INTERNAL_ERROR.EMULATION);
    } else {
      interrupted = this.#backend.run(run) === "eintr";
    }
    const status = this.#backend?.interruptStatus?.() ?? {
      ifFlag: (this.#ctx.regs.rflags & 0x200n) !== 0n,
      ready: this.#ctx.pendingInterrupt < 0,
    };
    const s = this.#ctx.sregs;
    run.setStatus(status.ifFlag, status.ready, s.cr8, s.apic_base);
    this.#vm.publishStats();
    if (interrupted) throw SIGNAL_INTERRUPTED;
  }

  /**
   * The simulation's stand-in for a signal (a POSIX timer aimed at the vCPU thread): after the
   * guest has retired `instructions` more instructions, KVM_RUN returns EINTR with exit_reason
   * KVM_EXIT_INTR, as a real signal interrupts KVM_RUN. A single-threaded user space (qemu-system
   * here) gets control back this way to run its timers. 0 or Infinity disarms it. `hostDeadlineMs`
   * also sends it by the host's clock (performance.now()), as QEMU's timer thread kicks the vCPU
   * when a timer expires; the CPU looks at it where instruction counts say least about time.
   */
  setSignalTimer(instructions: number, hostDeadlineMs = Infinity): void {
    this.#check();
    this.#ctx.signalAt = instructions > 0 && instructions !== Infinity
      ? this.#ctx.instructions + instructions
      : Infinity;
    this.#ctx.signalAtMs = this.#ctx.signalAt === Infinity ? Infinity : hostDeadlineMs;
  }

  /**
   * When a vCPU halted in the kernel (KVM_RUN ended EINTR in mp_state HALTED) wakes by itself: the
   * next in-kernel irqchip timer, in host ns (Infinity: only an IRQ line or a signal wakes it).
   * A real vCPU thread just blocks until then; single-threaded user space here sleeps until
   * this time instead (no KVM ioctl reports it).
   */
  get blockedUntilNs(): number {
    if (this.#ctx.mpState !== KVM_MP_STATE.HALTED) return Infinity;
    return this.#ctx.kernelIrqchip?.nextDeadlineNs() ?? Infinity;
  }

  /** Guest instructions retired by this vCPU (the emulated CPU counts them; no KVM ioctl reports this). */
  get instructions(): number {
    return this.#ctx.instructions;
  }

  /**
   * User space wrote guest memory (DMA, a loader) at [gpa, gpa+length). A real CPU snoops such
   * writes; the emulated one caches decoded code, and this is its snoop.
   */
  memoryWritten(gpa: number, length: number): void {
    this.#backend?.memoryWritten?.(gpa, length);
  }

  close(): void {
    this.#closed = true;
  }
}
