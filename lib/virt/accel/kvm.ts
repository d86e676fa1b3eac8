/**
 * The kvm accelerator: QEMU's accel/kvm and target/i386/kvm over the simulated /dev/kvm.
 *
 * - `openKvm()` is kvm_init's open: ENOENT without the modules, with QEMU's detail line.
 * - `KvmCpu` is the board's vCPU under kvm. It is a lib/cpu `Cpu` used only as the register file
 *   (QEMU's CPUX86State): loaders, reset, the monitors and `-d cpu_reset` read and write it as
 *   under tcg. Each `run(budget)` puts that state into the KVM vCPU (KVM_SET_REGS/SREGS/MSRS),
 *   loops on KVM_RUN serving the exits with the board's own Bus (port I/O, MMIO) and interrupt
 *   controller (KVM_INTERRUPT when kvm_run says the guest can take one, request_interrupt_window
 *   when not), and reads the state back. The budget becomes the simulated signal timer, so
 *   KVM_RUN returns (EINTR) when the board's next timer is due, as QEMU's vCPU thread is kicked.
 *
 * Interrupt controllers: with `kernel-irqchip=off` the PIC, IOAPIC and local APIC are the board's,
 * as under tcg (with the PIT and HPET always). With `kernel-irqchip=on` (QEMU's default, and ours)
 * they and the PIT are the kernel's (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2): the board's become user
 * space's copies (kvm_irqchip.ts), its IRQ lines go out as KVM_IRQ_LINE, and HLT waits in the kernel.
 *
 * Guest memory: the board's RAM and ROM pages (Bus.pageMap) become KVM memory slots over the
 * board's own buffer, re-registered whenever the board's map changes (PAM, PCI BARs), as QEMU's
 * memory listener does; ROM is a READONLY slot, so guest writes to it exit as MMIO and the board
 * drops them. Guest CPUID is built as kvm_arch_init_vcpu does: the -cpu model's leaves limited to
 * what KVM_GET_SUPPORTED_CPUID offers, the hypervisor bit, and KVM's leaves at 0x40000000.
 */
import { ErrnoError, LibError } from "../../errors.ts";
import { Cpu, type CpuModel, FEATURES, type StopReason, withFeatures } from "../../cpu/mod.ts";
import { type Bus, PAGE_SIZE } from "../../devices/bus.ts";
import {
  Kvm,
  KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
  KVM_EXIT,
  KVM_EXIT_IO_OUT,
  KVM_MEM_READONLY,
  KVM_MP_STATE,
  type KvmCpuidEntry2,
  type KvmRun,
  type KvmSegment,
  type KvmVcpu,
  type KvmVm,
} from "../kvm/mod.ts";
import { MTRR_FIXED, MTRR_VARIABLE } from "../kvm/msrs.ts";
import type { MachineConfig } from "../machine/config.ts";
import type { Timer, VirtualClock } from "../../devices/clock.ts";
import { type BoardIrqchips, KvmIrqchipLink } from "./kvm_irqchip.ts";
import { AccelInitError } from "./accel.ts";
import { cpuModelFor } from "./tcg.ts";
import type { Vcpu } from "./vcpu.ts";

/** open("/dev/kvm") for a machine; throws AccelInitError (QEMU's words) when it cannot. */
export function openKvm(options: { hostClock?: () => number } = {}): Kvm {
  try {
    return Kvm.open({ hostClock: options.hostClock });
  } catch (e) {
    if (!(e instanceof ErrnoError)) throw e;
    const code = e.code as ConstructorParameters<typeof ErrnoError>[0];
    throw new AccelInitError("kvm", code, `Could not access KVM kernel module: ${e.strerror}`);
  }
}

/** The guest stopped in a way QEMU reports and stops the VM for (entry failure, internal error). */
export class KvmGuestError extends LibError {}

const SEGMENTS = ["es", "cs", "ss", "ds", "fs", "gs", "ldt", "tr"] as const;
const GPRS = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"] as const;
const MSR_APIC_BASE = 0x1b, SYSENTER = [0x174, 0x175, 0x176];
const MSR_PAT = 0x277, PAT_RESET = 0x0007040600070406n;
/**
 * The MTRRs kvm_put_msrs sends at KVM_PUT_RESET_STATE and kvm_get_msrs reads, when the guest's
 * CPUID has MTRR: IA32_MTRR_DEF_TYPE, the eleven fixed ranges, the eight variable pairs.
 */
const MTRRS = [0x2ff, ...MTRR_FIXED, ...MTRR_VARIABLE];
const CPUID_1_EDX_MTRR = 1 << 12, CPUID_1_EDX_PSE36 = 1 << 17;
const CPUID_1_ECX_HYPERVISOR = 1 << 31;
const IF_FLAG = 1 << 9;

/** The CPU's descriptor-rights word (high dword bits 8-23 in place) as a kvm_segment. */
function toKvmSegment(sel: number, base: number, limit: number, rights: number): KvmSegment {
  const present = (rights >> 15) & 1, s = (rights >> 12) & 1;
  return {
    base: BigInt(base >>> 0),
    limit: limit >>> 0,
    selector: sel & 0xffff,
    // A loaded code or data segment is marked accessed (the core, like TCG, may leave CS's clear).
    type: ((rights >> 8) & 15) | (present && s ? 1 : 0),
    present,
    dpl: (rights >> 13) & 3,
    db: (rights >> 22) & 1,
    s,
    l: (rights >> 21) & 1,
    g: (rights >> 23) & 1,
    avl: (rights >> 20) & 1,
    unusable: present ? 0 : 1,
  };
}

function fromKvmSegment(s: KvmSegment): number {
  if (s.unusable) return 0;
  return (s.type << 8) | (s.s << 12) | (s.dpl << 13) | (s.present << 15) | (s.avl << 20) | (s.l << 21) |
    (s.db << 22) | (s.g << 23);
}

/** The guest's CPUID table: the model within what KVM supports, plus what QEMU adds under KVM. */
export function guestCpuid(supported: readonly KvmCpuidEntry2[], model: CpuModel | "host"): KvmCpuidEntry2[] {
  if (model === "host") {
    return supported.map((e) =>
      e.function === 1 ? { ...e, ecx: (e.ecx | CPUID_1_ECX_HYPERVISOR) >>> 0 } : { ...e }
    );
  }
  const out: KvmCpuidEntry2[] = [];
  const host1 = supported.find((e) => e.function === 1);
  for (const [fn, [eax, ebx, ecx, edx]] of model.leaves) {
    const sub = model.subleaves.get(fn);
    if (sub) {
      sub.forEach(([a, b, c, d], index) =>
        out.push({
          function: fn,
          index,
          flags: KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
          eax: a,
          ebx: b,
          ecx: c,
          edx: d,
        })
      );
      continue;
    }
    let c = ecx, d = edx;
    if (fn === 1 && host1) {
      // Feature bits the host's KVM does not offer are dropped (QEMU warns; -cpu ...,enforce fails).
      c = (c & host1.ecx) | CPUID_1_ECX_HYPERVISOR;
      d &= host1.edx;
    }
    out.push({ function: fn, index: 0, flags: 0, eax, ebx, ecx: c >>> 0, edx: d >>> 0 });
  }
  for (const e of supported) {
    if (e.function >>> 0 >= 0x40000000 && e.function >>> 0 < 0x40000100) out.push({ ...e });
  }
  return out;
}

interface SlotSpec {
  gpa: number;
  size: number;
  offset: number;
  readOnly: boolean;
}

/** The board's memory map as slots: runs of pages contiguous in the buffer with one writability. */
function slotsOf(bus: Bus): SlotSpec[] {
  const out: SlotSpec[] = [];
  const map = bus.pageMap, ro = bus.pageReadOnly;
  let cur: SlotSpec | undefined;
  for (let p = 0; p < map.length; p++) {
    const host = map[p];
    if (host < 0) {
      cur = undefined;
      continue;
    }
    const readOnly = ro[p] === 1;
    if (cur && cur.readOnly === readOnly && cur.offset + cur.size === host * PAGE_SIZE) {
      cur.size += PAGE_SIZE;
    } else {
      out.push(cur = { gpa: p * PAGE_SIZE, size: PAGE_SIZE, offset: host * PAGE_SIZE, readOnly });
    }
  }
  return out;
}

export class KvmCpu extends Cpu implements Vcpu {
  readonly vm: KvmVm;
  readonly vcpu: KvmVcpu;
  readonly #board: Bus;
  #slots: SlotSpec[] = [];
  #slotsStale = true;
  /** The register file as the last #get left it: #put is skipped while nothing changed it. */
  #synced: Int32Array | undefined;

  /** The in-kernel irqchip's link to the board's PIC/IOAPIC/LAPIC (kernel-irqchip=on), if any. */
  readonly irqchip?: KvmIrqchipLink;
  /**
   * The board's chips are not in the kernel yet (first run, after a reset or loadvm). Not a #field:
   * Cpu's constructor calls reset() before this class's fields exist.
   */
  private irqchipStale = true;
  /** The kernel has the vCPU halted (mp_state HALTED at the last KVM_RUN). */
  #kernelHalted = false;
  /** Wakes the board's loop when the kernel's halted vCPU has a timer due (its hrtimer). */
  readonly #wake?: Timer;
  /**
   * The next put is at KVM_PUT_RESET_STATE level or above (first run, after a reset): the MTRRs go
   * into KVM. Not a #field, for the reason irqchipStale is not.
   */
  private resetStatePut = true;
  /** QEMU's has_msr_mtrr (the guest's CPUID.1:EDX.MTRR) and phys_bits (36 with PSE36, else 32). */
  readonly #mtrr: boolean;
  readonly #physMask: bigint;

  constructor(
    board: Bus,
    readonly kvm: Kvm,
    config: Pick<MachineConfig, "cpuModel" | "cpuFeatures">,
    kernelIrqchip?: { chips: BoardIrqchips; clock: VirtualClock },
  ) {
    super(board, { model: cpuModelFor(config.cpuModel) });
    this.#board = board;
    const known = config.cpuFeatures.filter((f) => f.name in FEATURES);
    if (known.length) {
      this.model = withFeatures(this.model, Object.fromEntries(known.map((f) => [f.name, f.enabled])));
    }
    this.vm = kvm.createVm();
    if (kernelIrqchip) this.vm.createIrqchip();
    this.vcpu = this.vm.createVcpu(0);
    if (kernelIrqchip) {
      this.irqchip = new KvmIrqchipLink(this.vm, this.vcpu, kernelIrqchip.chips);
      this.#wake = kernelIrqchip.clock.timer(() => {});
    }
    const supported = kvm.getSupportedCpuid(256);
    const cpuid = guestCpuid(supported, config.cpuModel === "host" ? "host" : this.model);
    this.vcpu.setCpuid2(cpuid);
    const edx1 = cpuid.find((e) => e.function === 1)?.edx ?? 0;
    this.#mtrr = (edx1 & CPUID_1_EDX_MTRR) !== 0;
    this.#physMask = (1n << (edx1 & CPUID_1_EDX_PSE36 ? 36n : 32n)) - 1n;
    board.onMapChange(() => this.#slotsStale = true);
    // DMA and loaders write the buffer behind the emulated CPU's decoded-code cache.
    board.onDmaWrite((phys, length) => this.vcpu.memoryWritten(phys, length));
  }

  /** Re-registers the memory slots when the board's map changed (QEMU's kvm memory listener). */
  #syncSlots(): void {
    this.#slotsStale = false;
    const want = slotsOf(this.#board);
    const same = want.length === this.#slots.length &&
      want.every((w, i) => JSON.stringify(w) === JSON.stringify(this.#slots[i]));
    if (same) return;
    this.#slots.forEach((_, i) =>
      this.vm.setUserMemoryRegion({ slot: i, flags: 0, guest_phys_addr: 0, memory_size: 0 })
    );
    const memory = this.#board.memory;
    want.forEach((s, i) =>
      this.vm.setUserMemoryRegion({
        slot: i,
        flags: s.readOnly ? KVM_MEM_READONLY : 0,
        guest_phys_addr: s.gpa,
        memory_size: s.size,
        userspace_addr: new Uint8Array(memory, s.offset, s.size),
      })
    );
    this.#slots = want;
  }

  /** What #put would send, as numbers, to see whether anything (reset, a loader, gdb) changed it. */
  #signature(): Int32Array {
    const out = new Int32Array(57);
    out.set(this.regs.subarray(0, 8), 0);
    out.set(this.segSel, 8);
    out.set(this.segBase, 16);
    out.set(this.segLimit, 24);
    out.set(this.segRights, 32);
    out.set(this.cr.subarray(0, 5), 40);
    out[45] = this.eip;
    out[46] = this.eflagsValue;
    out[47] = this.gdtBase;
    out[48] = this.gdtLimit;
    out[49] = this.idtBase;
    out[50] = this.idtLimit;
    [MSR_APIC_BASE, ...SYSENTER].forEach((m, i) =>
      out[51 + i] = Number((this.msrs.get(m) ?? 0n) & 0xffffffffn)
    );
    return out;
  }

  /** kvm_arch_put_registers: this register file into the KVM vCPU (when it changed since #get). */
  #put(): void {
    if (this.irqchip && this.irqchipStale) {
      this.irqchip.push();
      this.irqchipStale = false;
    }
    this.irqchip?.syncHpetLegacy();
    // A reset or a loader made the halted vCPU runnable (kvm_put_mp_state).
    if (this.#kernelHalted && !this.halted) {
      this.vcpu.setMpState(KVM_MP_STATE.RUNNABLE);
      this.#kernelHalted = false;
    }
    if (this.resetStatePut) {
      this.resetStatePut = false;
      this.#putResetMsrs();
    }
    const now = this.#signature(), last = this.#synced;
    if (last && now.every((v, i) => v === last[i])) return;
    const regs = this.vcpu.getRegs();
    GPRS.forEach((n, i) => regs[n] = BigInt(this.regs[i] >>> 0));
    regs.rip = BigInt(this.eip >>> 0);
    regs.rflags = BigInt(this.eflagsValue);
    this.vcpu.setRegs(regs);
    const s = this.vcpu.getSregs();
    SEGMENTS.forEach((k, i) =>
      s[k] = toKvmSegment(this.segSel[i], this.segBase[i], this.segLimit[i], this.segRights[i])
    );
    s.gdt = { base: BigInt(this.gdtBase >>> 0), limit: this.gdtLimit & 0xffff };
    s.idt = { base: BigInt(this.idtBase >>> 0), limit: this.idtLimit & 0xffff };
    s.cr0 = BigInt(this.cr[0] >>> 0);
    s.cr2 = BigInt(this.cr[2] >>> 0);
    s.cr3 = BigInt(this.cr[3] >>> 0);
    s.cr4 = BigInt(this.cr[4] >>> 0);
    s.apic_base = this.msrs.get(MSR_APIC_BASE) ?? 0xfee00900n;
    this.vcpu.setSregs(s);
    this.vcpu.setMsrs(SYSENTER.map((index) => ({ index, data: this.msrs.get(index) ?? 0n })));
  }

  /**
   * kvm_put_msrs' KVM_PUT_RESET_STATE part for what KVM keeps across a machine reset: PAT and, when
   * the guest's CPUID has MTRR, the MTRRs (variable masks cut to the CPU's physical address bits,
   * which KVM would refuse beyond). After a reset the register file holds their reset values.
   */
  #putResetMsrs(): void {
    const value = (index: number) => this.msrs.get(index) ?? (index === MSR_PAT ? PAT_RESET : 0n);
    const entries = [{ index: MSR_PAT, data: value(MSR_PAT) }];
    if (this.#mtrr) {
      for (const index of MTRRS) {
        const mask = index >= 0x200 && index <= 0x20f && index % 2 === 1;
        entries.push({ index, data: mask ? value(index) & this.#physMask : value(index) });
      }
    }
    this.vcpu.setMsrs(entries);
  }

  /** kvm_arch_get_registers: the KVM vCPU back into this register file. */
  #get(): void {
    const regs = this.vcpu.getRegs();
    GPRS.forEach((n, i) => this.regs[i] = Number(regs[n] & 0xffffffffn) | 0);
    this.eip = Number(regs.rip & 0xffffffffn) | 0;
    const flags = Number(regs.rflags & 0xffffffffn);
    this.eflags = (flags & ~0x8d5) | 2;
    this.setArithFlags(flags & 0x8d5);
    const s = this.vcpu.getSregs();
    SEGMENTS.forEach((k, i) => {
      this.segSel[i] = s[k].selector;
      this.segBase[i] = Number(s[k].base & 0xffffffffn) | 0;
      this.segLimit[i] = s[k].limit | 0;
      this.segRights[i] = fromKvmSegment(s[k]);
    });
    this.gdtBase = Number(s.gdt.base) | 0;
    this.gdtLimit = s.gdt.limit;
    this.idtBase = Number(s.idt.base) | 0;
    this.idtLimit = s.idt.limit;
    this.cr[0] = Number(s.cr0) | 0;
    this.cr[2] = Number(s.cr2) | 0;
    this.cr[3] = Number(s.cr3) | 0;
    this.cr[4] = Number(s.cr4) | 0;
    this.msrs.set(MSR_APIC_BASE, s.apic_base);
    // kvm_get_msrs: PAT always, the MTRRs when the guest has them (savevm, the monitors see them).
    const msrs = [...SYSENTER, MSR_PAT, ...(this.#mtrr ? MTRRS : [])].map((index) => ({ index, data: 0n }));
    this.vcpu.getMsrs(msrs);
    for (const m of msrs) this.msrs.set(m.index, m.data);
    this.codeSegmentChanged();
    this.stack32 = (this.segRights[2] & (1 << 22)) !== 0;
    this.#synced = this.#signature();
  }

  override run(budget: number): StopReason {
    const bus = this.#board, run = this.vcpu.kvmRun, chip = this.irqchip;
    // With the irqchip in the kernel, a halted vCPU waits there: KVM_RUN itself says when it wakes.
    if (this.halted && !chip) {
      // A halted vCPU resumes only for an interrupt it can take (QEMU's cpu_has_work).
      if (!(bus.intr && bus.interruptController && (this.eflags & IF_FLAG))) return "hlt";
      this.halted = false;
    }
    if (this.#slotsStale) this.#syncSlots();
    this.#put();
    const start = this.vcpu.instructions;
    this.vcpu.setSignalTimer(budget, bus.sliceEndMs);
    let reason: StopReason = "budget";
    try {
      for (;;) {
        if (bus.stopRequested) {
          reason = "stop";
          break;
        }
        if (this.#slotsStale) this.#syncSlots();
        // kvm_arch_pre_run: inject the PIC/APIC's interrupt when the guest can take it, else ask
        // for an exit as soon as it can.
        run.request_interrupt_window = 0;
        // With the chips in user space the board's NMI (local APIC NMI delivery, LINT1) goes in with
        // KVM_NMI, as QEMU's kvm_arch_pre_run does for CPU_INTERRUPT_NMI.
        if (!chip && bus.nmi) {
          bus.nmi = false;
          this.vcpu.nmi();
        }
        if (!chip && bus.intr && bus.interruptController) {
          if (run.ready_for_interrupt_injection) {
            this.vcpu.interrupt(bus.interruptController.acknowledge() & 0xff);
          } else run.request_interrupt_window = 1;
        }
        try {
          this.vcpu.run();
        } catch (e) {
          if (!(e instanceof ErrnoError && e.code === "EINTR")) throw e;
          if (chip && this.vcpu.getMpState() === KVM_MP_STATE.HALTED) {
            // Blocked in the kernel's HLT: the board sleeps until the vCPU's own timer, or an IRQ.
            reason = "hlt";
            const until = this.vcpu.blockedUntilNs;
            if (until < Infinity) this.#wake!.mod(until);
            else this.#wake!.del();
          }
          break;
        }
        const stop = this.#exit(run);
        if (stop) {
          reason = stop;
          break;
        }
      }
    } finally {
      this.vcpu.setSignalTimer(0);
      this.#get();
      if (chip) this.halted = this.#kernelHalted = reason === "hlt";
      const done = this.vcpu.instructions - start;
      this.instructions += done;
      this.lastRun = done;
    }
    return reason;
  }

  /** Serves one exit with the board; returns why run() must return, or undefined to go on. */
  #exit(run: KvmRun): StopReason | undefined {
    const bus = this.#board;
    switch (run.exit_reason) {
      case KVM_EXIT.IO: {
        const io = run.io, data = run.ioData();
        const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
        const size = io.size as 1 | 2 | 4;
        for (let k = 0; k < io.count; k++) {
          const at = k * size;
          if (io.direction === KVM_EXIT_IO_OUT) {
            bus.out(
              io.port,
              size,
              size === 1 ? data[at] : size === 2 ? view.getUint16(at, true) : view.getUint32(at, true),
            );
          } else {
            const v = bus.in(io.port, size);
            if (size === 1) data[at] = v;
            else if (size === 2) view.setUint16(at, v, true);
            else view.setUint32(at, v, true);
          }
        }
        return undefined;
      }
      case KVM_EXIT.MMIO: {
        const m = run.mmio, addr = Number(m.phys_addr);
        const view = new DataView(m.data.buffer, m.data.byteOffset, 8);
        for (let at = 0; at < m.len; at += 4) {
          const size = Math.min(4, m.len - at) as 1 | 2 | 4;
          if (m.is_write) {
            const v = size === 1
              ? m.data[at]
              : size === 2
              ? view.getUint16(at, true)
              : view.getUint32(at, true);
            if (size === 4) bus.write32(addr + at, v);
            else if (size === 2) bus.write16(addr + at, v);
            else bus.write8(addr + at, v);
          } else {
            const v = size === 4
              ? bus.read32(addr + at)
              : size === 2
              ? bus.read16(addr + at)
              : bus.read8(addr + at);
            if (size === 1) m.data[at] = v;
            else if (size === 2) view.setUint16(at, v, true);
            else view.setUint32(at, v, true);
          }
        }
        return undefined;
      }
      case KVM_EXIT.HLT:
        this.halted = true;
        return "hlt";
      case KVM_EXIT.IRQ_WINDOW_OPEN:
      case KVM_EXIT.INTR:
        return undefined;
      case KVM_EXIT.SHUTDOWN:
        // A triple fault: QEMU's kvm_cpu_exec asks for a system reset.
        bus.requestReset();
        return "shutdown";
      case KVM_EXIT.FAIL_ENTRY:
        throw new KvmGuestError(
          `KVM: entry failed, hardware error 0x${run.fail_entry.hardware_entry_failure_reason.toString(16)}`,
        );
      case KVM_EXIT.INTERNAL_ERROR:
        throw new KvmGuestError(`KVM internal error. Suberror: ${run.internal.suberror}`);
      default:
        throw new KvmGuestError(`KVM: unhandled exit ${run.exit_reason}`);
    }
  }

  override reset(): void {
    super.reset();
    // The board resets its chips next; they go to the kernel before the vCPU runs again.
    this.irqchipStale = true;
    this.resetStatePut = true;
  }

  override restore(state: Parameters<Cpu["restore"]>[0]): void {
    super.restore(state);
    // loadvm restored the board's chips too; its put is at full-state level (MTRRs included).
    this.irqchipStale = true;
    this.resetStatePut = true;
  }

  close(): void {
    this.vm.close();
  }
}
