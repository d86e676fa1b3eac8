/**
 * The local APIC of the one CPU, memory-mapped at its base (0xFEE00000 after reset): ID, version,
 * TPR/PPR, EOI (with EOI broadcast to the IOAPIC for level-triggered vectors), ISR/IRR/TMR, SVR,
 * ESR, LDR/DFR, the ICR (self-IPIs, NMI), and the LVT entries: the timer (one-shot and periodic,
 * divide configuration, counting at 1 GHz / divisor as QEMU's APIC does), LINT0 (ExtINT from the
 * 8259) and LINT1 (NMI), error. It sits in front of the CPU's INTR pin: the machine makes it the
 * Bus's interruptController and points the PIC's output at `setLint0`. The APIC base MSR lives in
 * the CPU, which calls `setBaseMsr` on every write (relocation, global enable).
 */
import type { AccessSize, Bus, InterruptController, MmioDevice } from "./bus.ts";
import type { Timer, VirtualClock } from "./clock.ts";
import { type DeviceState, loadFields, saveFields, type Stateful } from "./state.ts";

const LAPIC_STATE = [
  "id",
  "baseMsr",
  "tpr",
  "ldr",
  "dfr",
  "svr",
  "esr",
  "icrLo",
  "icrHi",
  "lvt",
  "lvtCmci",
  "isr",
  "irr",
  "tmr",
  "divideConfig",
  "initialCount",
  "countShift",
  "loadTime",
  "lint0Level",
  "lint1Level",
] as const;

export const APIC_DEFAULT_BASE = 0xfee00000;
export const MSR_APICBASE_BSP = 1 << 8, MSR_APICBASE_ENABLE = 1 << 11;
/** Version 0x14 (integrated APIC), 6 LVT entries (max LVT index 5). */
const APIC_VERSION = 0x00050014;

const REG_ID = 0x02, REG_VERSION = 0x03, REG_TPR = 0x08, REG_APR = 0x09, REG_PPR = 0x0a, REG_EOI = 0x0b;
const REG_RRD = 0x0c, REG_LDR = 0x0d, REG_DFR = 0x0e, REG_SVR = 0x0f, REG_ISR = 0x10, REG_TMR = 0x18;
const REG_IRR = 0x20, REG_ESR = 0x28, REG_LVT_CMCI = 0x2f, REG_ICR_LO = 0x30, REG_ICR_HI = 0x31;
const REG_LVT_TIMER = 0x32,
  REG_LVT_ERROR = 0x37,
  REG_TIMER_INIT = 0x38,
  REG_TIMER_CUR = 0x39,
  REG_TIMER_DIV = 0x3e;

export const LVT_TIMER = 0, LVT_THERMAL = 1, LVT_PERF = 2, LVT_LINT0 = 3, LVT_LINT1 = 4, LVT_ERROR = 5;
const LVT_MASKED = 1 << 16;
const SVR_ENABLE = 1 << 8, SVR_SUPPRESS_EOI_BROADCAST = 1 << 12;
export const DM_FIXED = 0, DM_LOWPRI = 1, DM_SMI = 2, DM_NMI = 4, DM_INIT = 5, DM_SIPI = 6, DM_EXTINT = 7;
const TIMER_PERIODIC = 1 << 17;

/** Where EOIs of level-triggered vectors are broadcast (the IOAPIC). */
export interface EoiListener {
  eoi(vector: number): void;
  /** The CPU took vector for service (INTA), before any EOI. */
  acknowledged?(vector: number): void;
}

/**
 * QEMU's APIC region spans 1 MiB from the base, its registers repeating in every 4 KiB (only the
 * offset in the page selects one), so nothing in it is an unassigned access.
 */
const APIC_SPACE_SIZE = 0x100000;
/** The architectural register page (offsets 0x000-0x3F0). */
const REGISTER_PAGE_SIZE = 0x400;

export class LocalApic implements MmioDevice, InterruptController, Stateful {
  id: number;
  baseMsr: number;
  tpr = 0;
  ldr = 0;
  dfr = 0xffffffff;
  svr = 0xff;
  esr = 0;
  icrLo = 0;
  icrHi = 0;
  readonly lvt = new Uint32Array(6).fill(LVT_MASKED);
  lvtCmci = LVT_MASKED;
  readonly isr = new Uint32Array(8);
  readonly irr = new Uint32Array(8);
  readonly tmr = new Uint32Array(8);
  divideConfig = 0;
  initialCount = 0;
  private countShift = 1;
  private loadTime = 0;
  private readonly timer: Timer;
  /** Level of the 8259's INT output on LINT0. */
  private lint0Level = false;
  private lint1Level = false;
  private mappedAt = -1;
  eoiListener: EoiListener | undefined;
  /** The PIC behind LINT0, acknowledged for ExtINT. */
  pic: InterruptController | undefined;

  constructor(private readonly bus: Bus, private readonly clock: VirtualClock, apicId = 0) {
    this.id = apicId;
    this.baseMsr = APIC_DEFAULT_BASE | MSR_APICBASE_ENABLE | MSR_APICBASE_BSP;
    this.timer = clock.timer((now) => this.timerFired(now));
    this.map();
  }

  /** Makes the local APIC the CPU's interrupt controller, with the PIC behind LINT0. */
  install(pic: InterruptController & { onOutput: (level: boolean) => void }): void {
    this.pic = pic;
    pic.onOutput = (level) => this.setLint0(level);
    this.bus.interruptController = this;
    this.updateIntr();
  }

  reset(): void {
    this.baseMsr = APIC_DEFAULT_BASE | MSR_APICBASE_ENABLE | MSR_APICBASE_BSP;
    this.initState();
    this.map();
  }

  /** INIT: everything but the ID and base returns to its power-on value. */
  initState(): void {
    this.tpr = 0;
    this.ldr = 0;
    this.dfr = 0xffffffff;
    this.svr = 0xff;
    this.esr = 0;
    this.icrLo = this.icrHi = 0;
    this.lvt.fill(LVT_MASKED);
    this.lvtCmci = LVT_MASKED;
    this.isr.fill(0);
    this.irr.fill(0);
    this.tmr.fill(0);
    this.divideConfig = 0;
    this.countShift = 1;
    this.initialCount = 0;
    this.timer.del();
    this.updateIntr();
  }

  saveState(): DeviceState {
    return saveFields(this, LAPIC_STATE);
  }

  loadState(state: DeviceState): void {
    loadFields(this, LAPIC_STATE, state);
    this.map();
    this.timer.del();
    this.armTimer(this.clock.nowNs());
    this.updateIntr();
  }

  /** The CPU wrote IA32_APIC_BASE (low 32 bits: base address, enable, BSP). */
  setBaseMsr(value: number): void {
    const wasEnabled = (this.baseMsr & MSR_APICBASE_ENABLE) !== 0;
    this.baseMsr = (value & (0xfffff000 | MSR_APICBASE_ENABLE | MSR_APICBASE_BSP)) >>> 0;
    // A globally disabled APIC forgets its state; re-enabling starts from reset values.
    if (wasEnabled && !this.enabled) this.initState();
    this.map();
    this.updateIntr();
  }

  get enabled(): boolean {
    return (this.baseMsr & MSR_APICBASE_ENABLE) !== 0;
  }

  get softwareEnabled(): boolean {
    return this.enabled && (this.svr & SVR_ENABLE) !== 0;
  }

  get base(): number {
    return (this.baseMsr & 0xfffff000) >>> 0;
  }

  /** CR8 is TPR[7:4]. */
  get cr8(): number {
    return this.tpr >> 4;
  }
  set cr8(v: number) {
    this.tpr = (v & 0xf) << 4;
    this.updateIntr();
  }

  private map(): void {
    const at = this.enabled ? this.base : -1;
    if (at === this.mappedAt) return;
    if (this.mappedAt >= 0) this.bus.unmap(this.mappedAt, APIC_SPACE_SIZE);
    if (at >= 0) this.bus.mapMmio(at, APIC_SPACE_SIZE, this);
    this.mappedAt = at;
  }

  // ---- priorities ----

  private static highest(bits: Uint32Array): number {
    for (let i = 7; i >= 0; i--) if (bits[i]) return i * 32 + 31 - Math.clz32(bits[i]);
    return -1;
  }

  get ppr(): number {
    const isrv = LocalApic.highest(this.isr);
    const isrClass = isrv < 0 ? 0 : isrv & 0xf0;
    return (this.tpr & 0xf0) >= isrClass ? this.tpr & 0xff : isrClass;
  }

  /** A fixed interrupt that would be delivered now, or -1. */
  private pendingVector(): number {
    if (!this.softwareEnabled) return -1;
    const v = LocalApic.highest(this.irr);
    if (v < 0 || (v & 0xf0) <= (this.ppr & 0xf0)) return -1;
    return v;
  }

  /** Whether the 8259's INTR reaches the CPU (APIC disabled, or LINT0 unmasked), as QEMU decides. */
  private acceptsPic(): boolean {
    return !this.enabled || !(this.lvt[LVT_LINT0] & LVT_MASKED);
  }

  private updateIntr(): void {
    this.bus.setIntr(
      this.pendingVector() >= 0 || (this.lint0Level && this.acceptsPic() && this.pic !== undefined),
    );
  }

  acknowledge(): number {
    if (this.softwareEnabled) {
      const v = LocalApic.highest(this.irr);
      if (v >= 0) {
        if ((v & 0xf0) <= (this.ppr & 0xf0)) {
          // Masked by priority since INTR was raised: the spurious vector, no ISR bit.
          if (!(this.lint0Level && this.acceptsPic())) {
            this.updateIntr();
            return this.svr & 0xff;
          }
        } else {
          this.irr[v >> 5] &= ~(1 << (v & 31));
          this.isr[v >> 5] |= 1 << (v & 31);
          this.updateIntr();
          this.eoiListener?.acknowledged?.(v);
          return v;
        }
      }
    }
    if (this.pic && this.acceptsPic()) {
      const v = this.pic.acknowledge();
      this.updateIntr();
      return v;
    }
    this.updateIntr();
    return this.svr & 0xff;
  }

  // ---- inputs ----

  /** Whether vector is requested (its IRR bit set) and not yet taken by the CPU. */
  requested(vector: number): boolean {
    return (this.irr[vector >> 5] & (1 << (vector & 31))) !== 0;
  }

  /** Accepts an interrupt message (from the IOAPIC, an IPI or a local source). */
  deliver(vector: number, mode: number, levelTriggered: boolean): void {
    switch (mode) {
      case DM_FIXED:
      case DM_LOWPRI:
        if (!this.softwareEnabled) return;
        if (vector < 16) {
          this.esr |= 1 << 6; // received illegal vector
          return;
        }
        this.irr[vector >> 5] |= 1 << (vector & 31);
        if (levelTriggered) this.tmr[vector >> 5] |= 1 << (vector & 31);
        else this.tmr[vector >> 5] &= ~(1 << (vector & 31));
        break;
      case DM_NMI:
        this.bus.raiseNmi();
        return;
      case DM_EXTINT:
        break; // the PIC's INTR is already seen through LINT0 handling
      default:
        return; // SMI, INIT, SIPI: nothing to do for the single CPU
    }
    this.updateIntr();
  }

  /** Does a message with this destination reach this APIC? */
  matchesDestination(dest: number, logical: boolean): boolean {
    if (!logical) return dest === 0xff || dest === this.id;
    if (dest === 0xff) return true;
    const ldr = this.ldr >>> 24;
    // Flat model (DFR 0xF...) compares bitmasks; cluster model compares cluster and member bits.
    if ((this.dfr >>> 28) === 0xf) return (ldr & dest) !== 0;
    return (ldr >> 4) === (dest >> 4) && (ldr & dest & 0xf) !== 0;
  }

  private localInterrupt(index: number): void {
    const lvt = this.lvt[index];
    if (lvt & LVT_MASKED) return;
    const mode = lvt >> 8 & 7;
    this.deliver(
      lvt & 0xff,
      index === LVT_TIMER ? DM_FIXED : mode,
      (lvt & (1 << 15)) !== 0 && mode === DM_FIXED,
    );
  }

  /** The 8259's output, wired to LINT0. */
  setLint0(level: boolean): void {
    this.lint0Level = level;
    const lvt = this.lvt[LVT_LINT0];
    if (this.enabled && !(lvt & LVT_MASKED) && (lvt >> 8 & 7) === DM_NMI && level) this.bus.raiseNmi();
    this.updateIntr();
  }

  /** LINT1, NMI on a PC. */
  setLint1(level: boolean): void {
    const rising = level && !this.lint1Level;
    this.lint1Level = level;
    if (!rising) return;
    if (!this.enabled) {
      this.bus.raiseNmi();
      return;
    }
    this.localInterrupt(LVT_LINT1);
  }

  // ---- timer ----

  currentCount(now = this.clock.nowNs()): number {
    if (this.initialCount === 0) return 0;
    const d = Math.floor((now - this.loadTime) / (1 << this.countShift));
    if (this.lvt[LVT_TIMER] & TIMER_PERIODIC) return this.initialCount - (d % (this.initialCount + 1));
    return d >= this.initialCount ? 0 : this.initialCount - d;
  }

  private armTimer(now: number): void {
    if (this.initialCount === 0) {
      this.timer.del();
      return;
    }
    const period = (this.initialCount + 1) * (1 << this.countShift);
    const elapsed = now - this.loadTime;
    if (this.lvt[LVT_TIMER] & TIMER_PERIODIC) {
      this.timer.mod(this.loadTime + (Math.floor(elapsed / period) + 1) * period);
    } else if (elapsed < period) {
      this.timer.mod(this.loadTime + period);
    } else {
      this.timer.del();
    }
  }

  private timerFired(now: number): void {
    this.localInterrupt(LVT_TIMER);
    if (this.lvt[LVT_TIMER] & TIMER_PERIODIC) this.armTimer(now);
  }

  // ---- registers ----

  private readReg(index: number): number {
    switch (index) {
      case REG_ID:
        return this.id << 24;
      case REG_VERSION:
        return APIC_VERSION;
      case REG_TPR:
        return this.tpr;
      case REG_APR:
        return 0;
      case REG_PPR:
        return this.ppr;
      case REG_EOI:
      case REG_RRD:
        return 0;
      case REG_LDR:
        return this.ldr;
      case REG_DFR:
        return this.dfr;
      case REG_SVR:
        return this.svr;
      case REG_ESR:
        return this.esr;
      case REG_LVT_CMCI:
        return this.lvtCmci;
      case REG_ICR_LO:
        return this.icrLo;
      case REG_ICR_HI:
        return this.icrHi;
      case REG_TIMER_INIT:
        return this.initialCount;
      case REG_TIMER_CUR:
        return this.currentCount();
      case REG_TIMER_DIV:
        return this.divideConfig;
    }
    if (index >= REG_ISR && index < REG_ISR + 8) return this.isr[index - REG_ISR];
    if (index >= REG_TMR && index < REG_TMR + 8) return this.tmr[index - REG_TMR];
    if (index >= REG_IRR && index < REG_IRR + 8) return this.irr[index - REG_IRR];
    if (index >= REG_LVT_TIMER && index <= REG_LVT_ERROR) return this.lvt[index - REG_LVT_TIMER];
    return 0;
  }

  private writeReg(index: number, value: number): void {
    value >>>= 0;
    switch (index) {
      case REG_ID:
        this.id = value >>> 24;
        return;
      case REG_TPR:
        this.tpr = value & 0xff;
        break;
      case REG_EOI:
        this.eoi();
        return;
      case REG_LDR:
        this.ldr = value & 0xff000000;
        return;
      case REG_DFR:
        this.dfr = (value | 0x0fffffff) >>> 0;
        return;
      case REG_SVR:
        this.svr = value & (0x1ff | SVR_SUPPRESS_EOI_BROADCAST);
        if (!(this.svr & SVR_ENABLE)) {
          for (let i = 0; i < 6; i++) this.lvt[i] |= LVT_MASKED;
        }
        break;
      case REG_ESR:
        this.esr = 0;
        return;
      case REG_LVT_CMCI:
        this.lvtCmci = value & 0x117ff;
        return;
      case REG_ICR_LO:
        this.icrLo = value & ~(1 << 12);
        this.sendIpi();
        return;
      case REG_ICR_HI:
        this.icrHi = value & 0xff000000;
        return;
      case REG_TIMER_INIT: {
        const now = this.clock.nowNs();
        this.initialCount = value;
        this.loadTime = now;
        this.armTimer(now);
        return;
      }
      case REG_TIMER_DIV:
        this.setDivideConfig(value);
        return;
      default:
        if (index >= REG_LVT_TIMER && index <= REG_LVT_ERROR) {
          const i = index - REG_LVT_TIMER;
          const masks = [0x700ff, 0x107ff, 0x107ff, 0x1a7ff, 0x1a7ff, 0x100ff];
          let v = value & masks[i];
          if (!(this.svr & SVR_ENABLE)) v |= LVT_MASKED;
          this.lvt[i] = v;
          if (i === LVT_TIMER) this.armTimer(this.clock.nowNs());
          break;
        }
        return;
    }
    this.updateIntr();
  }

  /** Divide configuration: bits 0, 1 and 3 give the shift (0b111 is divide by 1). */
  private setDivideConfig(value: number): void {
    this.divideConfig = value & 0xb;
    const v = (value & 3) | ((value >> 1) & 4);
    this.countShift = (v + 1) & 7;
  }

  private eoi(): void {
    const v = LocalApic.highest(this.isr);
    if (v < 0) return;
    this.isr[v >> 5] &= ~(1 << (v & 31));
    const level = (this.tmr[v >> 5] & (1 << (v & 31))) !== 0;
    this.updateIntr();
    if (level && !(this.svr & SVR_SUPPRESS_EOI_BROADCAST)) this.eoiListener?.eoi(v);
  }

  private sendIpi(): void {
    const lo = this.icrLo;
    const vector = lo & 0xff, mode = lo >> 8 & 7, logical = (lo & (1 << 11)) !== 0;
    const shorthand = lo >> 18 & 3;
    const level = (lo & (1 << 15)) !== 0;
    let self: boolean;
    if (shorthand === 1 || shorthand === 2) self = true;
    else if (shorthand === 3) self = false;
    else self = this.matchesDestination(this.icrHi >>> 24, logical);
    if (self) this.deliver(vector, mode, level && mode === DM_FIXED);
  }

  /**
   * The register page as software sees it (64 registers, 16 bytes apart, 1 KiB): what KVM_GET_LAPIC
   * hands user space for an in-kernel local APIC (struct kvm_lapic_state).
   */
  registerPage(): Uint8Array {
    const page = new Uint8Array(REGISTER_PAGE_SIZE);
    const view = new DataView(page.buffer);
    for (let index = 0; index < REGISTER_PAGE_SIZE >> 4; index++) {
      view.setUint32(index << 4, this.readReg(index), true);
    }
    return page;
  }

  /**
   * Loads a register page (KVM_SET_LAPIC, kvm_apic_set_state): every register takes the page's value
   * without the side effects of a guest write (no EOI, no IPI), and the timer restarts from its
   * initial count now, as Linux restarts it.
   */
  loadRegisterPage(page: Uint8Array): void {
    const view = new DataView(page.buffer, page.byteOffset, REGISTER_PAGE_SIZE);
    const reg = (index: number) => view.getUint32(index << 4, true);
    this.id = reg(REG_ID) >>> 24;
    this.tpr = reg(REG_TPR) & 0xff;
    this.ldr = reg(REG_LDR) & 0xff000000;
    this.dfr = (reg(REG_DFR) | 0x0fffffff) >>> 0;
    this.svr = reg(REG_SVR) & (0x1ff | SVR_SUPPRESS_EOI_BROADCAST);
    this.esr = reg(REG_ESR);
    this.icrLo = reg(REG_ICR_LO) & ~(1 << 12);
    this.icrHi = reg(REG_ICR_HI) & 0xff000000;
    this.lvtCmci = reg(REG_LVT_CMCI) & 0x117ff;
    for (let i = 0; i < 8; i++) {
      this.isr[i] = reg(REG_ISR + i);
      this.tmr[i] = reg(REG_TMR + i);
      this.irr[i] = reg(REG_IRR + i);
    }
    for (let i = 0; i <= LVT_ERROR; i++) this.lvt[i] = reg(REG_LVT_TIMER + i);
    this.setDivideConfig(reg(REG_TIMER_DIV));
    this.initialCount = reg(REG_TIMER_INIT);
    this.loadTime = this.clock.nowNs();
    this.armTimer(this.loadTime);
    this.updateIntr();
  }

  mmioRead(addr: number, size: AccessSize): number {
    const off = addr & 0xfff;
    const v = this.readReg(off >> 4);
    const shift = 8 * (off & 3);
    const r = v >>> shift;
    return size === 4 ? r >>> 0 : r & ((1 << (8 * size)) - 1);
  }

  mmioWrite(addr: number, size: AccessSize, value: number): void {
    const off = addr & 0xfff;
    // Registers are 32-bit; narrower writes are not defined by the SDM and are taken as written.
    const v = size === 4 ? value : (value << (8 * (off & 3))) >>> 0;
    this.writeReg(off >> 4, v);
  }
}
